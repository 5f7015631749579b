// One WebSocket connection (RFC 6455) that an app accepted, over the stream of the HTTP/1
// connection that carried the opening handshake. Boost.Beast does the framing, masking checks,
// UTF-8 validation of incoming text, ping answers and the closing handshake; this class turns
// it into the request model's WebSocket: whole messages, one receive and one send at a time
// from the app's point of view, every handler on the connection's I/O thread.
//
// The HTTP/1 connection keeps owning the socket: the Beast stream's next layer is a
// PrefixedStream that refers to it, with the bytes the connection had already read past the
// handshake request put back in front (a client may send frames right behind its request).
// The session holds its owner (the connection) alive, so the socket outlives every operation.
//
// Reading runs one message ahead of the app: while no received message waits for the app, a
// read is in flight, so pings are answered and a close or a broken link is seen promptly; a
// message the app has not asked for yet stops the reading (backpressure, one message deep).
#pragma once

#include <algorithm>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "gateway/connection.hpp"
#include "gateway/errors.hpp"
#include "gateway/exchange.hpp"
#include "gateway/fields.hpp"
#include "gateway/http_date.hpp"
#include "gateway/options.hpp"
#include "gateway/text.hpp"
#include "gateway/websocket.hpp"

namespace junction::tls {
template <class Socket>
class TlsStream;
}  // namespace junction::tls

namespace junction::http1 {

namespace asio = boost::asio;
namespace beast = boost::beast;

// Streams Beast can tear down and time out (it closes the lowest layer): plain sockets, TCP
// or Unix. Other streams (the in-memory test stream) refuse WebSockets with errc::unsupported.
template <class Stream>
struct supports_websocket : std::false_type {};
template <class Protocol, class Executor>
struct supports_websocket<asio::basic_stream_socket<Protocol, Executor>> : std::true_type {};
// wss: Beast runs over a TlsStream as over a socket (tls/teardown.hpp ends it).
template <class Socket>
struct supports_websocket<tls::TlsStream<Socket>> : std::true_type {};
template <class Stream>
inline constexpr bool supports_websocket_v = supports_websocket<Stream>::value;

// A stream by reference, with `prefix` (bytes already read from it) served to reads first.
template <class Stream>
class PrefixedStream {
 public:
  using executor_type = typename Stream::executor_type;
  using next_layer_type = Stream;

  PrefixedStream(Stream& stream, std::string prefix)
      : stream_(stream), prefix_(std::move(prefix)) {}

  executor_type get_executor() noexcept { return stream_.get_executor(); }
  Stream& next_layer() noexcept { return stream_; }
  const Stream& next_layer() const noexcept { return stream_; }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(gateway::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& into) {
          if (prefix_.empty()) return stream_.async_read_some(into, std::move(handler));
          auto n = asio::buffer_copy(into, asio::buffer(prefix_));
          prefix_.erase(0, n);
          // Never complete inside the initiating call: post, as a socket read would.
          auto executor = asio::get_associated_executor(handler, stream_.get_executor());
          asio::post(executor,
                     beast::bind_front_handler(std::move(handler), gateway::error_code{}, n));
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return stream_.async_write_some(buffers, std::forward<Token>(token));
  }

 private:
  Stream& stream_;
  std::string prefix_;
};

// Beast ends a WebSocket by tearing down its next layer (RFC 6455 §7.1.1: the server closes
// TCP first); found by argument-dependent lookup, these hand that to the socket's own.
template <class Stream>
void teardown(beast::role_type role, PrefixedStream<Stream>& stream, gateway::error_code& ec) {
  using beast::websocket::teardown;
  teardown(role, stream.next_layer(), ec);
}

template <class Stream, class Handler>
void async_teardown(beast::role_type role, PrefixedStream<Stream>& stream, Handler&& handler) {
  using beast::websocket::async_teardown;
  async_teardown(role, stream.next_layer(), std::forward<Handler>(handler));
}

template <class Stream>
class WebSocketSession final : public gateway::WebSocket,
                               public std::enable_shared_from_this<WebSocketSession<Stream>> {
 public:
  // RFC 6455 §5.5: a control frame's payload is at most 125 bytes, 2 of them the code.
  static constexpr std::size_t kMaxCloseReason = 123;
  // A read buffer that grew past this for a large message is given back after it.
  static constexpr std::size_t kKeptBufferBytes = 64 * 1024;

  // `owner` owns `stream` and is kept alive as long as the session; `leftover` are bytes read
  // from the stream after the handshake request (frames the client sent without waiting).
  WebSocketSession(Stream& stream, std::string leftover, const gateway::Limits& limits,
                   std::shared_ptr<void> owner, gateway::ProcessMetrics metrics = {})
      : owner_(std::move(owner)),
        executor_(stream.get_executor()),
        ws_(stream, std::move(leftover)),
        metrics_(metrics),
        open_(metrics, gateway::gauge::websockets_open) {
    if (metrics_) metrics_.add(gateway::counter::websocket_sessions);
    ws_.read_message_max(static_cast<std::size_t>(std::min<std::uint64_t>(
        limits.ws_max_message_size, std::numeric_limits<std::size_t>::max())));
    // Whole messages leave as one frame: no copy into fragments, and the peer reassembles
    // nothing (RFC 6455 §5.4 allows either).
    ws_.auto_fragment(false);
    // Handshake and closing handshake bounded (30 s); an idle peer is pinged, and cut when it
    // does not answer (300 s). Beast closes the lowest layer: the socket, here.
    ws_.set_option(beast::websocket::stream_base::timeout::suggested(beast::role_type::server));
  }

  WebSocketSession(const WebSocketSession&) = delete;
  WebSocketSession& operator=(const WebSocketSession&) = delete;

  ~WebSocketSession() override {
    // An app that dropped the session before it ended: the connection must not wait on.
    if (!over_ && on_over_) asio::post(executor_, std::move(on_over_));
  }

  // --- For the connection (on its thread) ----------------------------------------------------

  // Sends the 101 answer to `head` (already checked by the parser: RFC 6455 §4.2.1), with
  // the subprotocol and extra fields of `accept` (§4.2.2). Completes with void(error_code).
  template <class Token>
  auto async_accept(const gateway::RequestHead& head, gateway::WebSocketAccept accept,
                    Token&& token) {
    namespace http = beast::http;
    // Kept in the session: the operation may start only when a lazy token (an awaitable) is
    // awaited.
    request_.emplace(http::verb::get, head.target, 11);
    for (const auto& [name, value] : head.headers) request_->insert(name, value);
    ws_.set_option(beast::websocket::stream_base::decorator(
        [accept = std::move(accept)](beast::websocket::response_type& response) {
          if (!accept.subprotocol.empty())
            response.set(http::field::sec_websocket_protocol, accept.subprotocol);
          for (const auto& [name, value] : accept.headers) {
            // The handshake's own fields are Beast's; no extension was negotiated.
            if (gateway::is_hop_by_hop(name) || gateway::iequals(name, "content-length") ||
                gateway::iequals(name, "sec-websocket-accept") ||
                gateway::iequals(name, "sec-websocket-extensions"))
              continue;
            response.insert(name, value);
          }
          if (response.count(http::field::date) == 0)
            response.set(http::field::date, gateway::http_date_now());
          if (response.count(http::field::server) == 0)
            response.set(http::field::server, "junction");
        }));
    return ws_.async_accept(*request_, std::forward<Token>(token));
  }

  // The handshake is done: start reading. `on_over` runs once (posted) when the connection is
  // over: the closing handshake done, or the link broken, or the session dropped.
  void start(std::function<void()> on_over) {
    request_.reset();
    on_over_ = std::move(on_over);
    started_ = true;
    maybe_read();
    pump();
    check_over();
  }

  // Server shutdown: close with 1001 (RFC 6455 §7.4.1) unless a close is already under way.
  void going_away() {
    if (closing_ || over_) return;
    do_close(gateway::kCloseGoingAway, {}, nullptr);
  }

  bool over() const noexcept { return over_; }

  // --- WebSocket -----------------------------------------------------------------------------

  asio::any_io_executor executor() const override { return executor_; }

  void async_receive(ReceiveHandler handler) override {
    run([h = std::move(handler)](WebSocketSession& s) mutable { s.do_receive(std::move(h)); });
  }

  void async_send(gateway::WebSocketMessage message, Handler handler) override {
    run([m = std::move(message), h = std::move(handler)](WebSocketSession& s) mutable {
      s.do_send(std::move(m), std::move(h));
    });
  }

  void async_close(std::uint16_t code, std::string reason, Handler handler) override {
    run([code, r = std::move(reason), h = std::move(handler)](WebSocketSession& s) mutable {
      s.do_close(code, std::move(r), std::move(h));
    });
  }

  std::uint16_t close_code() const override {
    std::lock_guard lock(end_mutex_);
    return close_code_;
  }

  std::string close_reason() const override {
    std::lock_guard lock(end_mutex_);
    return close_reason_;
  }

 private:
  using executor_type = typename Stream::executor_type;
  using ws_stream = beast::websocket::stream<PrefixedStream<Stream>>;

  // A send or the close, in call order.
  struct Outgoing {
    gateway::WebSocketMessage message;
    std::optional<beast::websocket::close_reason> close;
    Handler handler;
  };

  // Runs `f` on the I/O thread: inline when already there, dispatched otherwise. The session
  // stays alive until it has run.
  template <class F>
  void run(F&& f) {
    if (executor_.running_in_this_thread()) return f(*this);
    asio::dispatch(executor_, [self = this->shared_from_this(), f = std::forward<F>(f)]() mutable {
      f(*self);
    });
  }

  template <class H, class... Args>
  void complete(H handler, Args&&... args) {
    if (handler)
      asio::post(executor_,
                 beast::bind_front_handler(std::move(handler), std::forward<Args>(args)...));
  }

  // --- Receiving -------------------------------------------------------------------------------

  void do_receive(ReceiveHandler handler) {
    if (receive_handler_)
      return complete(std::move(handler), gateway::errc::response_state,
                      gateway::WebSocketMessage{});
    if (held_) {
      complete(std::move(handler), gateway::error_code{}, std::move(*held_));
      held_.reset();
      return maybe_read();
    }
    if (over_ || (read_ended_ && !reading_)) {
      return complete(std::move(handler), gateway::errc::websocket_closed,
                      gateway::WebSocketMessage{});
    }
    receive_handler_ = std::move(handler);
    maybe_read();
  }

  void maybe_read() {
    if (!started_ || reading_ || read_ended_ || close_done_ || held_ || over_) return;
    reading_ = true;
    ws_.async_read(buffer_, [self = this->shared_from_this()](gateway::error_code ec, std::size_t) {
      self->on_read(ec);
    });
  }

  void on_read(gateway::error_code ec) {
    reading_ = false;
    if (ec) {
      read_ended_ = true;
      record_end(ec);
      if (receive_handler_)
        complete(std::exchange(receive_handler_, nullptr), gateway::errc::websocket_closed,
                 gateway::WebSocketMessage{});
      return check_over();
    }
    gateway::WebSocketMessage message{ws_.got_text(), beast::buffers_to_string(buffer_.data())};
    if (metrics_) metrics_.add(gateway::counter::websocket_messages_received);
    buffer_.consume(buffer_.size());
    if (buffer_.capacity() > kKeptBufferBytes) buffer_.shrink_to_fit();
    if (receive_handler_) {
      complete(std::exchange(receive_handler_, nullptr), gateway::error_code{}, std::move(message));
    } else {
      held_ = std::move(message);
    }
    maybe_read();
  }

  // --- Sending and closing ---------------------------------------------------------------------

  void do_send(gateway::WebSocketMessage message, Handler handler) {
    if (closing_ || over_ || read_ended_)
      return complete(std::move(handler), gateway::errc::websocket_closed);
    queue_.push_back({std::move(message), std::nullopt, std::move(handler)});
    if (metrics_) metrics_.add(gateway::counter::websocket_messages_sent);
    pump();
  }

  void do_close(std::uint16_t code, std::string reason, Handler handler) {
    if (closing_ || over_ || read_ended_)
      return complete(std::move(handler), gateway::errc::websocket_closed);
    closing_ = true;
    // RFC 6455 §5.5: the reason fits a control frame; cut at a UTF-8 character boundary, as
    // it must stay valid UTF-8 (§5.5.1).
    if (reason.size() > kMaxCloseReason) {
      std::size_t n = kMaxCloseReason;
      while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;
      reason.resize(n);
    }
    beast::websocket::close_reason frame;
    // §7.4.1: 1005 means "no code", sent as a close frame without one; codes an endpoint may
    // not send (§7.4.2: below 1000, 1004-1006, 1015, unassigned) become 1011, the app's error.
    if (code != gateway::kCloseNoStatus && code != 0) {
      frame.code = sendable_close_code(code) ? code : gateway::kCloseInternalError;
      frame.reason.assign(reason.data(), reason.size());
    }
    queue_.push_back({{}, std::move(frame), std::move(handler)});
    pump();
  }

  static bool sendable_close_code(std::uint16_t code) noexcept {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
  }

  // Starts the next queued write; one at a time.
  void pump() {
    if (!started_ || writing_ || queue_.empty()) return;
    auto& next = queue_.front();
    writing_ = true;
    auto self = this->shared_from_this();
    if (next.close) {
      // Beast writes our close frame, then reads until the peer's (alongside a read in flight),
      // then tears the connection down (RFC 6455 §7.1.2-§7.1.4).
      ws_.async_close(*next.close, [self](gateway::error_code ec) { self->on_closed(ec); });
    } else {
      ws_.text(next.message.text);
      ws_.async_write(asio::buffer(next.message.data),
                      [self](gateway::error_code ec, std::size_t) { self->on_written(ec); });
    }
  }

  void on_written(gateway::error_code ec) {
    writing_ = false;
    auto done = std::move(queue_.front());
    queue_.pop_front();
    complete(std::move(done.handler),
             ec ? gateway::error_code(gateway::errc::websocket_closed) : gateway::error_code{});
    if (ec) {
      // The link is gone: nothing more will be written.
      write_failed_ = true;
      closing_ = true;
      record_end(ec);
      fail_queue();
    }
    pump();
    check_over();
  }

  void on_closed(gateway::error_code ec) {
    writing_ = false;
    close_done_ = true;
    auto done = std::move(queue_.front());
    queue_.pop_front();
    complete(std::move(done.handler),
             ec ? gateway::error_code(gateway::errc::websocket_closed) : gateway::error_code{});
    // Done: the peer's close frame was read (its code is the connection's), else the link broke.
    record_end(ec ? ec : gateway::error_code(beast::websocket::error::closed));
    fail_queue();
    check_over();
  }

  void fail_queue() {
    // The front is in flight while writing_; everything behind it will never go.
    auto first = writing_ ? 1 : 0;
    while (queue_.size() > static_cast<std::size_t>(first)) {
      complete(std::move(queue_.back().handler), gateway::errc::websocket_closed);
      queue_.pop_back();
    }
  }

  // --- The end -----------------------------------------------------------------------------

  // How the connection ended, from the first operation that saw it end (websocket.hpp).
  void record_end(gateway::error_code ec) {
    namespace ws = beast::websocket;
    std::lock_guard lock(end_mutex_);
    if (end_recorded_) return;
    end_recorded_ = true;
    if (ec == ws::error::closed) {
      const auto& reason = ws_.reason();
      close_code_ = reason.code == ws::close_code::none ? gateway::kCloseNoStatus : reason.code;
      close_reason_.assign(reason.reason.data(), reason.reason.size());
    } else if (ec == ws::error::message_too_big) {
      close_code_ = gateway::kCloseTooBig;  // Beast closed with 1009 (§7.4.1)
    } else if (ec == ws::error::bad_frame_payload) {
      close_code_ = 1007;  // invalid UTF-8 in a text message: Beast closed with 1007 (§8.1)
    } else if (ec == ws::condition::protocol_violation) {
      close_code_ = 1002;  // Beast closed with 1002 (§7.4.1)
    } else {
      close_code_ = gateway::kCloseAbnormal;  // no close frame: the link broke or was cut (§7.1.5)
    }
  }

  // Over once nothing is in flight and reading has ended (a close frame, an error) or our
  // closing handshake is done or a write found the link broken.
  void check_over() {
    if (over_ || !started_ || reading_ || writing_) return;
    if (!read_ended_ && !close_done_ && !write_failed_) return;
    over_ = true;
    closing_ = true;
    fail_queue();
    if (receive_handler_ && !held_)
      complete(std::exchange(receive_handler_, nullptr), gateway::errc::websocket_closed,
               gateway::WebSocketMessage{});
    if (on_over_) asio::post(executor_, std::exchange(on_over_, nullptr));
  }

  std::shared_ptr<void> owner_;  // first: destroyed last, after the stream that refers to it
  executor_type executor_;
  ws_stream ws_;
  std::optional<beast::http::request<beast::http::empty_body>> request_;
  std::function<void()> on_over_;
  bool started_ = false;
  bool over_ = false;

  beast::flat_buffer buffer_;
  bool reading_ = false;
  bool read_ended_ = false;
  std::optional<gateway::WebSocketMessage> held_;  // read ahead, not yet asked for
  ReceiveHandler receive_handler_;

  std::deque<Outgoing> queue_;  // bounded by the app: each send waits for its handler
  bool writing_ = false;
  bool closing_ = false;  // our close is queued or sent, or the link broke: sends fail
  bool close_done_ = false;
  bool write_failed_ = false;

  mutable std::mutex end_mutex_;  // close_code() and close_reason() may be read from any thread
  bool end_recorded_ = false;
  std::uint16_t close_code_ = gateway::kCloseAbnormal;
  std::string close_reason_;
  gateway::ProcessMetrics metrics_;
  gateway::GaugeHold open_;  // WebSockets open now: until the session is destroyed
};

}  // namespace junction::http1
