#include "gateway/errors.hpp"

#include <string>

#include "gateway/exchange.hpp"
#include "gateway/websocket.hpp"

namespace junction::gateway {
namespace {

class category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "junction"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::end_of_body:
        return "end of request body";
      case errc::client_gone:
        return "client went away";
      case errc::body_too_large:
        return "request body too large";
      case errc::body_timeout:
        return "request body read timed out";
      case errc::bad_body:
        return "malformed request body";
      case errc::invalid_response:
        return "invalid response head";
      case errc::response_state:
        return "response sink used out of order";
      case errc::length_mismatch:
        return "response body longer than its Content-Length";
      case errc::unsupported:
        return "not supported by this transport";
      case errc::websocket_closed:
        return "WebSocket connection closed";
    }
    return "unknown junction error";
  }
};

}  // namespace

const boost::system::error_category& gateway_category() noexcept {
  static const category instance;
  return instance;
}

error_code Exchange::unsupported_error() noexcept {
  return errc::unsupported;
}

void Exchange::async_accept_websocket(WebSocketAccept accept, AcceptHandler handler) {
  (void)accept;
  boost::asio::post(executor(), [h = std::move(handler)] { h(errc::unsupported, nullptr); });
}

}  // namespace junction::gateway
