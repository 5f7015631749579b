#include "gateway/access_log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <iterator>

namespace junction::gateway {

AccessLog::AccessLog() : logger_(spdlog::stdout_logger_mt("access")) {
  logger_->set_pattern("%v");
  logger_->set_level(spdlog::level::info);
}

void AccessLog::write(const RequestHead& request, int status, std::uint64_t body_bytes,
                      std::chrono::steady_clock::duration duration) {
  double ms = std::chrono::duration<double, std::milli>(duration).count();
  // The client as a URL's authority writes it, so an IPv6 address and its port stay apart; a
  // client with no port (a unix peer, one a proxy named without it) is its host alone.
  fmt::memory_buffer client;
  const auto& [host, port] = request.client;
  if (port == 0)
    fmt::format_to(std::back_inserter(client), "{}", host.empty() ? "unix" : host);
  else if (host.find(':') != std::string::npos)
    fmt::format_to(std::back_inserter(client), "[{}]:{}", host, port);
  else
    fmt::format_to(std::back_inserter(client), "{}:{}", host, port);
  logger_->info("{} - \"{} {} HTTP/{}.{}\" {} {} {:.3f}ms",
                fmt::string_view(client.data(), client.size()), request.method, request.target,
                request.version.major, request.version.minor, status, body_bytes, ms);
}

}  // namespace junction::gateway
