#include "gateway/server/recycle.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace junction::gateway {

RecyclePolicy::RecyclePolicy(RecycleLimits limits, Clock::time_point started,
                             std::function<std::uint64_t()> rss)
    : limits_(limits), started_(started), rss_(std::move(rss)), next_rss_sample_(started) {}

RecycleLimits RecyclePolicy::draw(std::uint64_t max_requests, std::uint64_t jitter,
                                  std::uint64_t max_rss_mib, double lifetime_seconds,
                                  std::mt19937_64& random) {
  RecycleLimits limits;
  if (max_requests > 0)
    limits.max_requests =
        max_requests + std::uniform_int_distribution<std::uint64_t>(0, jitter)(random);
  limits.max_rss_bytes = max_rss_mib << 20;
  if (lifetime_seconds > 0) {
    double drawn =
        std::uniform_real_distribution<double>(lifetime_seconds, lifetime_seconds * 1.1)(random);
    limits.lifetime =
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(drawn));
  }
  return limits;
}

bool RecyclePolicy::enabled() const noexcept {
  return limits_.max_requests > 0 || limits_.max_rss_bytes > 0 || limits_.lifetime.count() > 0;
}

std::string RecyclePolicy::check(Clock::time_point now, const WorkerFigures& figures) {
  if (limits_.max_requests > 0 && figures.dispatched >= limits_.max_requests)
    return fmt::format("served {} requests (--max-requests, this worker's limit {}): recycling",
                       figures.dispatched, limits_.max_requests);
  if (limits_.lifetime.count() > 0 && now - started_ >= limits_.lifetime)
    return fmt::format(
        "running for {:.0f}s (--worker-lifetime, this worker's limit {:.0f}s): recycling",
        std::chrono::duration<double>(now - started_).count(),
        std::chrono::duration<double>(limits_.lifetime).count());
  if (figures.wsgi_threads > 0 && figures.overdue_threads >= figures.wsgi_threads)
    return fmt::format(
        "every WSGI thread ({}) is overdue (--request-timeout): recycling, the stuck requests "
        "get the grace period to finish",
        figures.wsgi_threads);
  if (limits_.max_rss_bytes > 0 && now >= next_rss_sample_) {
    next_rss_sample_ = now + kRssInterval;
    auto rss = rss_();
    rss_over_ = rss > limits_.max_rss_bytes ? rss_over_ + 1 : 0;
    if (rss_over_ >= kRssSamples)
      return fmt::format(
          "resident memory {} MiB is over --max-rss {} MiB ({} samples in a "
          "row): recycling",
          rss >> 20, limits_.max_rss_bytes >> 20, rss_over_);
  }
  return {};
}

std::uint64_t resident_set_bytes() {
  std::FILE* statm = std::fopen("/proc/self/statm", "r");
  if (statm == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  int got = std::fscanf(statm, "%lu %lu", &size, &resident);
  std::fclose(statm);
  if (got != 2) return 0;
  return static_cast<std::uint64_t>(resident) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace junction::gateway
