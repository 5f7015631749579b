#include "gateway/access_log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace junction::gateway {

AccessLog::AccessLog() : logger_(spdlog::stdout_logger_mt("access")) {
  logger_->set_pattern("%v");
  logger_->set_level(spdlog::level::info);
}

void AccessLog::write(const RequestHead& request, int status, std::uint64_t body_bytes,
                      std::chrono::steady_clock::duration duration) {
  double ms = std::chrono::duration<double, std::milli>(duration).count();
  if (request.client.port != 0) {
    logger_->info("{}:{} - \"{} {} HTTP/{}.{}\" {} {} {:.3f}ms", request.client.host,
                  request.client.port, request.method, request.target, request.version.major,
                  request.version.minor, status, body_bytes, ms);
  } else {
    logger_->info("{} - \"{} {} HTTP/{}.{}\" {} {} {:.3f}ms",
                  request.client.host.empty() ? "unix" : request.client.host, request.method,
                  request.target, request.version.major, request.version.minor, status, body_bytes,
                  ms);
  }
}

}  // namespace junction::gateway
