// The answer to a request that finds its app's bound full (the WSGI backlog, the ASGI
// concurrency limit): 503 with Retry-After at once, rather than queueing without bound
// (docs/architecture.md, "Backpressure and bounds"), and one warning a second in the log at most.
#pragma once

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdint>

#include "gateway/exchange.hpp"

namespace junction::bridge {

class OverloadAnswer {
 public:
  // `warning()` makes the log line; it is called only when a line is due. Any thread.
  template <class Warning>
  void answer(gateway::Exchange& exchange, Warning&& warning) {
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
                   .count();
    auto last = last_warning_.load(std::memory_order_relaxed);
    if (now != last && last_warning_.compare_exchange_strong(last, now))
      spdlog::warn("{}", warning());
    exchange.start({503, {{"Retry-After", "1"}, {"Content-Type", "text/plain; charset=utf-8"}}});
    exchange.async_write("503 Service Unavailable: the server is overloaded, retry shortly\n", true,
                         nullptr);
  }

 private:
  std::atomic<std::int64_t> last_warning_{0};
};

}  // namespace junction::bridge
