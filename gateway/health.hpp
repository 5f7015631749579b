// The built-in health endpoint (--health-path): answered by the gateway itself, without
// Python, through the same Exchange seam the bridges use. With --diagnostics it also echoes
// request bodies (?echo) and delays its answer (?sleep=S), which lets the front end's streaming,
// backpressure, 100-continue and graceful shutdown be tested before any Python app exists.
//
// With a probe (--health-check-app), GET also round-trips through the Python side (the WSGI
// pool, the ASGI loop) and answers 503 when a part does not answer within kProbeTimeout: a
// liveness probe that notices a wedged interpreter, not only a live I/O thread.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "gateway/exchange.hpp"

namespace junction::gateway {

class HealthApp final : public App {
 public:
  static constexpr std::chrono::seconds kProbeTimeout{1};
  // From an I/O thread: sends a no-op through each part, calls `answered(part, problem)` (any
  // thread) as each comes back (`problem` empty when it answered), and returns the parts.
  using ProbeAnswer = std::function<void(const std::string& part, const std::string& problem)>;
  using Probe =
      std::function<std::vector<std::string>(const boost::asio::any_io_executor&, ProbeAnswer)>;

  explicit HealthApp(bool diagnostics, Probe probe = {})
      : diagnostics_(diagnostics), probe_(std::move(probe)) {}
  void handle(std::shared_ptr<Exchange> exchange) override;

 private:
  bool diagnostics_;
  Probe probe_;
};

}  // namespace junction::gateway
