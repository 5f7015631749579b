// When a worker should recycle itself: --max-requests, --max-rss, --worker-lifetime, and a WSGI
// pool whose every thread is overdue (--request-timeout). The worker checks it periodically;
// a reason means it drains as on SIGTERM, and the master starts its replacement at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <string>

namespace junction::gateway {

struct RecycleLimits {
  std::uint64_t max_requests = 0;   // this worker's own limit (jitter drawn); 0: none
  std::uint64_t max_rss_bytes = 0;  // 0: none
  std::chrono::steady_clock::duration lifetime{};  // this worker's own; zero: none
};

// What a worker looks at, each check.
struct WorkerFigures {
  std::uint64_t dispatched = 0;     // requests dispatched so far
  std::size_t overdue_threads = 0;  // WSGI threads still running a request that timed out
  unsigned wsgi_threads = 0;        // 0: no WSGI pool
};

class RecyclePolicy {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr auto kRssInterval = std::chrono::seconds(1);
  static constexpr int kRssSamples = 2;  // consecutive samples over the limit before recycling

  // `rss` reads the resident set size in bytes (resident_set_bytes() in a real worker).
  RecyclePolicy(RecycleLimits limits, Clock::time_point started,
                std::function<std::uint64_t()> rss);

  // Draws this worker's limits from the configured ones: max_requests in [N, N+J] (gunicorn's
  // jitter) and the lifetime in [S, S + S/10], so workers started together do not all
  // recycle at once.
  static RecycleLimits draw(std::uint64_t max_requests, std::uint64_t jitter,
                            std::uint64_t max_rss_mib, double lifetime_seconds,
                            std::mt19937_64& random);

  // Empty, or why the worker should recycle now (one line for the log).
  std::string check(Clock::time_point now, const WorkerFigures& figures);

  bool enabled() const noexcept;

 private:
  RecycleLimits limits_;
  Clock::time_point started_;
  std::function<std::uint64_t()> rss_;
  Clock::time_point next_rss_sample_;
  int rss_over_ = 0;
};

// This process's resident set size in bytes (/proc/self/statm); 0 when it cannot be read.
std::uint64_t resident_set_bytes();

}  // namespace junction::gateway
