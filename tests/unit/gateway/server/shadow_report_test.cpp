// The shadow routes' report (gateway/server/shadow_report.hpp) and what /migration makes of it
// (migration_report.hpp): counters per route, the last 100 mismatches newest first, shared
// with forked processes; quantiles from the duration histogram.
#include "gateway/server/shadow_report.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

#include "gateway/server/migration_report.hpp"

namespace junction::gateway {
namespace {

TEST_CASE("ShadowReport: counters and the last mismatches, per route", "[shadow]") {
  ShadowReport report(2, false);
  report.add(1, ShadowReport::compared);
  report.add(1, ShadowReport::compared);
  report.add(1, ShadowReport::matched);
  CHECK(report.count(1, ShadowReport::compared) == 2);
  CHECK(report.count(1, ShadowReport::matched) == 1);
  CHECK(report.count(0, ShadowReport::compared) == 0);
  CHECK(report.count(7, ShadowReport::compared) == 0);  // no such route: nothing, no crash

  for (int i = 0; i < 150; ++i) report.record(0, "{\"n\":" + std::to_string(i) + "}");
  auto kept = report.mismatches(0);
  REQUIRE(kept.size() == ShadowReport::kMismatches);
  CHECK(kept.front() == "{\"n\":149}");  // newest first
  CHECK(kept.back() == "{\"n\":50}");
  CHECK(report.mismatches(1).empty());

  report.record(1, "{\"long\":\"" + std::string(ShadowReport::kRecordBytes, 'x') + "\"}");
  CHECK(report.mismatches(1).front() == "{\"truncated\":true}");
}

TEST_CASE("ShadowReport: a forked worker's figures are the parent's", "[shadow]") {
  ShadowReport report(1, true);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    report.add(0, ShadowReport::failed);
    report.record(0, "{\"from\":\"child\"}");
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK(report.count(0, ShadowReport::failed) == 1);
  CHECK(report.mismatches(0) == std::vector<std::string>{"{\"from\":\"child\"}"});
}

TEST_CASE("histogram_quantile: interpolated within the bucket", "[shadow]") {
  std::uint64_t buckets[kHistogramBuckets] = {};
  CHECK_FALSE(histogram_quantile(buckets, 0.5));
  buckets[0] = 10;  // 10 under 1 ms
  buckets[3] = 10;  // 10 between 5 and 10 ms
  CHECK(*histogram_quantile(buckets, 0.5) == Approx(0.001));
  CHECK(*histogram_quantile(buckets, 0.99) == Approx(0.005 + 0.005 * 0.98));
  buckets[kHistogramBuckets - 1] = 1000;  // most over 10 s: the last finite bound
  CHECK(*histogram_quantile(buckets, 0.99) == Approx(10.0));
}

}  // namespace
}  // namespace junction::gateway
