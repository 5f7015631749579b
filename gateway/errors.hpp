// Error codes of the data plane: what a body read or a response write can end with.
#pragma once

#include <boost/system/error_code.hpp>

namespace junction::gateway {

enum class errc {
  end_of_body = 1,   // the request body is complete: not a failure
  client_gone,       // the peer closed or reset the connection (or the stream)
  body_too_large,    // the body grew past --max-body-size
  body_timeout,      // the client stalled longer than --timeout-request-body
  bad_body,          // malformed body framing (chunk syntax)
  invalid_response,  // the app's response head cannot be sent (bad status or header)
  response_state,    // the sink was used out of order (write after finish, start twice, ...)
  length_mismatch,   // the app wrote more than its own Content-Length
  unsupported,       // the transport cannot do this (sendfile over TLS or HTTP/2)
  websocket_closed,  // the WebSocket connection is closed or closing (WebSocket::close_code)
};

const boost::system::error_category& gateway_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), gateway_category()};
}

}  // namespace junction::gateway

template <>
struct boost::system::is_error_code_enum<junction::gateway::errc> : std::true_type {};
