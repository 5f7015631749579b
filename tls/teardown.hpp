// Ending a WebSocket over TLS (wss): Beast runs its framing over a TlsStream as over a socket
// and finds these by argument-dependent lookup. Its timeouts close the lowest layer (the
// socket); its teardown (RFC 6455 §7.1.1) sends our close_notify first (RFC 8446 §6.1), then
// ends TCP as on a plain socket.
#pragma once

#include <boost/beast/websocket/teardown.hpp>
#include <boost/system/error_code.hpp>
#include <utility>

#include "tls/stream.hpp"

namespace junction::tls {

template <class Socket>
void teardown(boost::beast::role_type role, TlsStream<Socket>& stream, error_code& ec) {
  stream.send_close_notify();
  using boost::beast::websocket::teardown;
  teardown(role, stream.next_layer(), ec);
}

template <class Socket, class Handler>
void async_teardown(boost::beast::role_type role, TlsStream<Socket>& stream, Handler&& handler) {
  stream.send_close_notify();
  using boost::beast::websocket::async_teardown;
  async_teardown(role, stream.next_layer(), std::forward<Handler>(handler));
}

}  // namespace junction::tls
