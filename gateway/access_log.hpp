// The access log: one line per completed request on stdout, in the shape uvicorn users know:
//   127.0.0.1:54321 - "GET /path?q HTTP/1.1" 200 1234 0.412ms
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "gateway/exchange.hpp"

namespace spdlog {
class logger;
}

namespace junction::gateway {

class AccessLog {
 public:
  AccessLog();
  void write(const RequestHead& request, int status, std::uint64_t body_bytes,
             std::chrono::steady_clock::duration duration);

 private:
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace junction::gateway
