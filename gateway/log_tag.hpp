// How the server log names a request: "GET /path?query", followed by its ID in brackets when
// request IDs are on ("GET /path [4bf92f35c1a0e6d7]"), so that a traceback or a 504 warning can
// be matched to the access-log line and to the X-Request-ID the client saw.
#pragma once

#include <fmt/format.h>

#include "gateway/exchange.hpp"

namespace junction::gateway {

struct LogTag {
  const RequestHead& request;
};

}  // namespace junction::gateway

template <>
struct fmt::formatter<junction::gateway::LogTag> {
  constexpr auto parse(fmt::format_parse_context& context) { return context.begin(); }

  auto format(const junction::gateway::LogTag& tag, fmt::format_context& context) const {
    const auto& request = tag.request;
    if (request.request_id.empty())
      return fmt::format_to(context.out(), "{} {}", request.method, request.target);
    return fmt::format_to(context.out(), "{} {} [{}]", request.method, request.target,
                          request.request_id);
  }
};
