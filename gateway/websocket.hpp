// The WebSocket half of the request model: a connection an app accepted as a WebSocket
// (RFC 6455), carrying whole messages. The HTTP/1 session implements it over Boost.Beast; the
// ASGI bridge consumes it. Like Exchange, every method may be called from any thread and every
// handler runs on the connection's I/O thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/system/error_code.hpp>
#include <cstdint>
#include <functional>
#include <string>

#include "gateway/exchange.hpp"

namespace junction::gateway {

struct WebSocketMessage {
  bool text = false;  // a text message (valid UTF-8, RFC 6455 §5.6) rather than binary
  std::string data;
};

// What the server adds to its 101 answer (RFC 6455 §4.2.2).
struct WebSocketAccept {
  std::string subprotocol;  // Sec-WebSocket-Protocol; empty: none
  Headers headers;          // extra response fields (Set-Cookie, ...)
};

// Close codes the server itself uses (RFC 6455 §7.4.1).
inline constexpr std::uint16_t kCloseNormal = 1000;
inline constexpr std::uint16_t kCloseGoingAway = 1001;      // server shutdown
inline constexpr std::uint16_t kCloseNoStatus = 1005;       // a close frame without a code
inline constexpr std::uint16_t kCloseAbnormal = 1006;       // no close frame: the TCP link broke
inline constexpr std::uint16_t kCloseTooBig = 1009;         // past --ws-max-message-size
inline constexpr std::uint16_t kCloseInternalError = 1011;  // the app failed

class WebSocket {
 public:
  using Handler = std::function<void(error_code)>;
  using ReceiveHandler = std::function<void(error_code, WebSocketMessage)>;

  virtual ~WebSocket() = default;

  virtual boost::asio::any_io_executor executor() const = 0;

  // Reads the next whole message; one receive at a time. Pings are answered and pongs dropped
  // underneath. Once the connection is over, fails with errc::websocket_closed and close_code()
  // / close_reason() tell how: the peer's close frame, kCloseTooBig when a message outgrew the
  // limit (the server then closed with that code), kCloseAbnormal when the link broke.
  virtual void async_receive(ReceiveHandler handler) = 0;

  // Queues a message; sends go out in call order. The handler runs once it is written (that is
  // the backpressure). Fails with errc::websocket_closed once the connection is closing.
  virtual void async_send(WebSocketMessage message, Handler handler) = 0;

  // Starts the closing handshake with `code` and `reason` (at most 123 bytes, RFC 6455 §5.5)
  // after the queued sends; the handler runs when our close frame is written. Later sends fail.
  virtual void async_close(std::uint16_t code, std::string reason, Handler handler) = 0;

  // How the connection ended; meaningful once async_receive failed with websocket_closed.
  virtual std::uint16_t close_code() const = 0;
  virtual std::string close_reason() const = 0;
};

}  // namespace junction::gateway
