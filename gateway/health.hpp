// The built-in health endpoint (--health-path): answered by the gateway itself, without
// Python, through the same Exchange seam the bridges use. With --diagnostics it also echoes
// request bodies (?echo) and delays its answer (?sleep=S), which lets the front end's streaming,
// backpressure, 100-continue and graceful shutdown be tested before any Python app exists.
#pragma once

#include "gateway/exchange.hpp"

namespace junction::gateway {

class HealthApp final : public App {
 public:
  explicit HealthApp(bool diagnostics) : diagnostics_(diagnostics) {}
  void handle(std::shared_ptr<Exchange> exchange) override;

 private:
  bool diagnostics_;
};

}  // namespace junction::gateway
