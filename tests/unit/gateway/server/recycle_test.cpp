#include "gateway/server/recycle.hpp"

#include <catch2/catch.hpp>

using namespace junction::gateway;
using namespace std::chrono_literals;

namespace {

RecycleLimits limits(std::uint64_t requests, std::uint64_t rss_mib = 0,
                     std::chrono::steady_clock::duration lifetime = {}) {
  return {requests, rss_mib << 20, lifetime};
}

}  // namespace

TEST_CASE("RecyclePolicy: nothing configured never recycles", "[recycle]") {
  auto t0 = std::chrono::steady_clock::time_point{} + 1000s;
  RecyclePolicy policy(limits(0), t0, [] { return std::uint64_t{1} << 40; });
  CHECK_FALSE(policy.enabled());
  CHECK(policy.check(t0 + 100000s, {1'000'000, 0, 8}).empty());
}

TEST_CASE("RecyclePolicy: --max-requests", "[recycle]") {
  auto t0 = std::chrono::steady_clock::time_point{} + 1000s;
  RecyclePolicy policy(limits(200), t0, [] { return std::uint64_t{0}; });
  CHECK(policy.check(t0, {199, 0, 8}).empty());
  auto why = policy.check(t0, {200, 0, 8});
  CHECK(why.find("served 200 requests") != std::string::npos);
  CHECK(why.find("limit 200") != std::string::npos);
}

TEST_CASE("RecyclePolicy: --max-rss needs two samples in a row over the limit", "[recycle]") {
  auto t0 = std::chrono::steady_clock::time_point{} + 1000s;
  std::uint64_t rss = 300ull << 20;
  int samples = 0;
  RecyclePolicy policy(limits(0, 256), t0, [&] {
    ++samples;
    return rss;
  });
  CHECK(policy.check(t0, {}).empty());  // the first sample is over: one is not enough
  CHECK(samples == 1);
  CHECK(policy.check(t0 + 500ms, {}).empty());  // not sampled again within the interval
  CHECK(samples == 1);
  rss = 100ull << 20;
  CHECK(policy.check(t0 + 1s, {}).empty());  // back under: the count starts again
  rss = 300ull << 20;
  CHECK(policy.check(t0 + 2s, {}).empty());
  auto why = policy.check(t0 + 3s, {});
  CHECK(why.find("resident memory 300 MiB is over --max-rss 256 MiB") != std::string::npos);
  CHECK(samples == 4);
}

TEST_CASE("RecyclePolicy: --worker-lifetime", "[recycle]") {
  auto t0 = std::chrono::steady_clock::time_point{} + 1000s;
  RecyclePolicy policy(limits(0, 0, 60s), t0, [] { return std::uint64_t{0}; });
  CHECK(policy.check(t0 + 59s, {}).empty());
  CHECK(policy.check(t0 + 60s, {}).find("running for 60s (--worker-lifetime") != std::string::npos);
}

TEST_CASE("RecyclePolicy: every WSGI thread overdue", "[recycle]") {
  auto t0 = std::chrono::steady_clock::time_point{} + 1000s;
  RecyclePolicy policy(limits(0), t0, [] { return std::uint64_t{0}; });
  CHECK(policy.check(t0, {0, 7, 8}).empty());
  CHECK(policy.check(t0, {0, 8, 8}).find("every WSGI thread (8) is overdue") != std::string::npos);
  CHECK(policy.check(t0, {0, 0, 0}).empty());  // no WSGI pool
}

TEST_CASE("RecyclePolicy::draw: limits within their jitter", "[recycle]") {
  std::mt19937_64 random(42);
  bool varied = false;
  std::uint64_t first = 0;
  for (int i = 0; i < 200; ++i) {
    auto drawn = RecyclePolicy::draw(1000, 50, 64, 100.0, random);
    CHECK(drawn.max_requests >= 1000);
    CHECK(drawn.max_requests <= 1050);
    CHECK(drawn.max_rss_bytes == 64ull << 20);
    CHECK(drawn.lifetime >= 100s);
    CHECK(drawn.lifetime <= 110s);
    if (i == 0) first = drawn.max_requests;
    varied |= drawn.max_requests != first;
  }
  CHECK(varied);
  auto none = RecyclePolicy::draw(0, 0, 0, 0, random);
  CHECK(none.max_requests == 0);
  CHECK(none.lifetime.count() == 0);
}

TEST_CASE("resident_set_bytes reads this process", "[recycle]") {
  CHECK(resident_set_bytes() > (1u << 20));
}
