// One HTTP/1.1 connection: the connection coroutine, and the Exchange it hands to apps.
//
// The coroutine reads and parses requests one at a time; pipelined requests wait in the read
// buffer and are answered in order, so the pipeline depth is bounded by the buffer. Body bytes
// are read from the socket only while the app has a read outstanding (backpressure). Responses
// are written by a callback chain with one write in flight; output queued past a high-water mark
// holds back the app's write handlers. A file piece of a body (async_send_file) takes its place
// in that output queue and leaves by sendfile(2), straight from the page cache to the socket.
// Timeouts come from one watchdog timer per connection whose deadline moves as the connection
// changes phase, so a request costs no timer operations.
//
// Stream is a connected socket (or an in-memory stream in tests) on an io_context executor.
#pragma once

#include <sys/sendfile.h>
#include <sys/types.h>

#include <algorithm>
#include <any>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <concepts>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "gateway/access_log.hpp"
#include "gateway/config.hpp"
#include "gateway/errors.hpp"
#include "gateway/exchange.hpp"
#include "gateway/http1_parser.hpp"
#include "gateway/http1_response.hpp"
#include "gateway/router.hpp"
#include "gateway/text.hpp"
#include "gateway/websocket.hpp"
#include "gateway/websocket_session.hpp"

namespace junction::gateway {

namespace asio = boost::asio;

// RFC 7540 §3.2: what an HTTP/1.1 connection hands over when a request upgrades to h2c.
struct H2cUpgrade {
  RequestHead head;      // the request, to be answered on stream 1
  std::string settings;  // the HTTP2-Settings payload, base64url-decoded (§3.2.1)
  std::string buffered;  // bytes read after the head: the client preface, frames
};

// Takes an h2c upgrade: answers 101 and runs HTTP/2 on `stream` (moved out), true; or refuses
// it (nghttp2 rejects the settings), false, with `stream` and `upgrade` untouched. The http2
// layer installs it (gateway/ does not know HTTP/2); a connection uses the hook for its own
// Stream type only.
template <class Stream>
using H2cUpgradeHook = std::function<bool(Stream& stream, H2cUpgrade& upgrade)>;

// What every connection of a server shares; outlives them all.
struct ConnectionContext {
  const Limits& limits;
  const Timeouts& timeouts;
  const Router& router;
  AccessLog* access_log = nullptr;  // null: off
  std::any h2c_upgrade;             // an H2cUpgradeHook<Stream>; empty: HTTP/1.1 only
};

// The face a connection shows the server, for graceful shutdown.
class Connection {
 public:
  virtual ~Connection() = default;
  // Finish the request in flight (if any) with Connection: close; close an idle connection now.
  virtual void on_shutdown() = 0;
  // The grace period is over: close now.
  virtual void terminate() = 0;
};

template <class Stream>
class Http1Connection final : public Connection,
                              public std::enable_shared_from_this<Http1Connection<Stream>> {
 public:
  using executor_type = asio::io_context::executor_type;
  using clock = std::chrono::steady_clock;
  // Coroutines typed on the io_context's executor, not the type-erased any_io_executor: every
  // resumption is a direct call into the io_context (measured: fewer user-space cycles/request).
  template <class T>
  using awaitable = asio::awaitable<T, executor_type>;
  static constexpr auto use_awaitable = asio::as_tuple(asio::use_awaitable_t<executor_type>{});

  // Bytes of request we hold at once: the head is copied out as it is parsed, so this bounds
  // only body pieces in flight and pipelined requests read ahead.
  static constexpr std::size_t kReadBufferSize = 32 * 1024;
  // Queued response bytes past which an app's write waits for the socket.
  static constexpr std::size_t kOutputHighWater = 64 * 1024;
  // After the response, unread request body up to this size is read and dropped to keep the
  // connection; a larger rest closes it instead.
  static constexpr std::uint64_t kMaxDrainBytes = 256 * 1024;
  // Lingering close (RFC 9112 §9.6): how long and how much we read after shutting down our
  // side, so that a client still sending does not turn our last response into a TCP reset.
  static constexpr std::chrono::seconds kLingerTime{2};
  static constexpr std::size_t kMaxLingerBytes = 1 << 20;
  // File bytes one turn of the I/O thread hands to sendfile(2) before it lets the other
  // connections run: a fast client on loopback would otherwise never make it return EAGAIN.
  static constexpr std::uint64_t kFileTurnBytes = 1 << 20;
  // Only a plain socket can take a file with sendfile(2): it has a file descriptor (a TLS
  // stream's native handle is an SSL*) and waits for writability.
  static constexpr bool kCanSendFile = requires(Stream & stream, error_code& ec) {
    { stream.native_handle() } -> std::convertible_to<int>;
    stream.native_non_blocking(true, ec);
    stream.async_wait(asio::socket_base::wait_write, [](error_code) {});
  };
  // A stream Beast can carry a WebSocket over (websocket_session.hpp).
  static constexpr bool kCanWebSocket = supports_websocket_v<Stream>;

  Http1Connection(Stream stream, const ConnectionContext& context, Address client, Address server)
      : stream_(std::move(stream)),
        context_(context),
        parser_(context.limits),
        read_buffer_(new char[kReadBufferSize]),
        watchdog_(stream_.get_executor()),
        wake_(stream_.get_executor()),
        client_(std::move(client)),
        server_(std::move(server)) {}

  // Bytes the server already read from the stream (to tell HTTP/1.1 from the HTTP/2 preface),
  // parsed as if this connection had read them. Before async_run(); at most kReadBufferSize.
  void prefill(std::string_view bytes) noexcept {
    auto n = std::min(bytes.size(), kReadBufferSize);
    std::memcpy(read_buffer_.get(), bytes.data(), n);
    read_begin_ = 0;
    read_end_ = n;
  }

  // The connection came over TLS: its requests are https and carry what the handshake settled.
  // Before async_run().
  void set_tls(std::shared_ptr<const TlsInfo> tls) noexcept { tls_ = std::move(tls); }

  executor_type get_executor() { return stream_.get_executor(); }

  // The connection coroutine. Returns once the connection is closed.
  awaitable<void> async_run() {
    // The frame owns the connection until its last step: every operation it awaits is bound to
    // state of this object (run_cancel_, the timers, the buffers), never the other way round.
    auto self = this->shared_from_this();
    arm_watchdog();
    bool graceful = true;
    while (!closed_) {
      auto outcome = co_await async_serve_one();
      if (outcome == Outcome::next) continue;
      if (outcome == Outcome::upgraded) {
        // The socket went to HTTP/2: nothing of it is ours to close.
        closed_ = true;
        watchdog_.cancel();
        wake_.cancel();
        co_return;
      }
      graceful = outcome == Outcome::close;
      break;
    }
    co_await async_close(graceful);
  }

  void on_shutdown() override {
    shutting_down_ = true;
    keep_alive_ = false;
    if (waiting_idle_) cancel_reads();
    // An upgraded connection says goodbye in its own protocol (RFC 6455 §7.4.1: 1001).
    if constexpr (kCanWebSocket) {
      if (auto session = websocket_.lock()) session->going_away();
    }
  }

  void terminate() override {
    shutting_down_ = true;
    keep_alive_ = false;
    close_now();
  }

 private:
  class ExchangeImpl;
  enum class Outcome { next, close, abort, upgraded };
  enum class Deadline { none, idle, header, body, send, closing };

  // ---------------------------------------------------------------------------------------
  // The request loop

  awaitable<Outcome> async_serve_one() {
    // 1. The head. Bytes may already be buffered (pipelining) or still to come.
    std::optional<clock::time_point> head_deadline;
    for (;;) {
      if (has_buffered()) {
        auto result = parser_.parse(buffered());
        consume(result.consumed);
        if (result.event == RequestParser::Event::head) break;
        // The end of a bodyless message comes after its head: parse on.
        if (result.event == RequestParser::Event::end) continue;
        if (result.event == RequestParser::Event::error) {
          queue_error(parser_.status(), parser_.reason());
          co_return Outcome::close;
        }
      }
      bool begun = parser_.in_message();
      if (shutting_down_ && !begun) co_return Outcome::close;
      if (begun && !head_deadline)
        head_deadline = clock::now() + to_duration(timeouts().request_header);
      if (head_deadline) {
        set_deadline(*head_deadline, Deadline::header);
      } else {
        auto idle = requests_ == 0 ? timeouts().request_header : timeouts().keep_alive;
        set_deadline(clock::now() + to_duration(idle), Deadline::idle);
      }
      waiting_idle_ = !begun;
      auto ec = co_await async_fill();
      waiting_idle_ = false;
      if (ec) {
        if (timed_out_ == Deadline::header)
          queue_error(408, "request head not received in time");
        else if (peer_closed_ && !parser_.finish())
          queue_error(parser_.status(), parser_.reason());
        co_return Outcome::close;
      }
    }
    release_deadline();

    // 2. Hand the exchange to its app, or the connection to HTTP/2 (RFC 7540 §3.2).
    auto head = parser_.take_head();
    if (const auto* settings = parser_.h2c_settings()) {
      H2cUpgrade upgrade{std::move(head), *settings, {}};
      if (auto outcome = co_await async_upgrade_h2c(upgrade)) co_return *outcome;
      head = std::move(upgrade.head);
    }
    begin_exchange(std::move(head));
    context_.router.resolve(exchange_->request()).handle(exchange_);

    // 3. Serve body reads until the response is complete.
    for (;;) {
      if (read_handler_) {
        if (serve_body_from_buffer()) continue;
        if (client_gone_) {
          complete_read(errc::client_gone, 0);
          continue;
        }
        send_continue();
        set_deadline(clock::now() + to_duration(timeouts().request_body), Deadline::body);
        auto ec = co_await async_fill();
        auto timed_out = timed_out_;
        release_deadline();
        if (ec) {
          if (timed_out == Deadline::body) {
            fail_body(errc::body_timeout, 408, "request body not received in time");
          } else {
            lose_client();
          }
        }
        continue;
      }
      if (response_done_ || client_gone_ || aborted_) break;
      // The app is working. Watch the socket meanwhile, so that a client that leaves is noticed.
      if (body_done_) start_watch_read();
      co_await async_wait_event();
      if (peer_closed_ && !response_done_) lose_client();
    }

    // 4. Close or go on.
    if constexpr (kCanWebSocket) {
      if (accept_handler_) co_return co_await async_serve_websocket();
    }
    if (response_done_) log_access();
    auto aborted = aborted_ || client_gone_;
    end_exchange();
    if (aborted) co_return Outcome::abort;
    if (!keep_alive_) co_return Outcome::close;
    if (!body_done_ && !co_await async_drain_body()) co_return Outcome::close;
    co_return Outcome::next;
  }

  void begin_exchange(RequestHead head) {
    ++requests_;
    head.client = client_;
    head.server = server_;
    if (tls_) {
      head.scheme = "https";
      head.tls = tls_;
    }
    head.received_at = clock::now();
    keep_alive_ = parser_.keep_alive() && !shutting_down_;
    is_head_request_ = head.method == "HEAD";
    body_done_ = !head.has_body;
    body_pending_ = {};
    body_error_ = {};
    continue_sent_ = false;
    body_read_started_ = false;
    response_ = {};
    head_started_ = head_sent_ = response_done_ = aborted_ = body_ending_ = false;
    body_bytes_sent_ = 0;
    framing_ = {};
    status_ = 0;
    exchange_ = std::make_shared<ExchangeImpl>(this->shared_from_this(), std::move(head));
  }

  void end_exchange() {
    if (read_handler_) complete_read(errc::client_gone, 0);
    gone_callback_ = nullptr;
    exchange_.reset();
    // The next request's errors (408, 431, ...) are answered on their own.
    head_started_ = head_sent_ = false;
  }

  // Reads and drops the rest of a request body the app did not want, so the connection can
  // carry the next request. False when the rest is too large or does not come.
  awaitable<bool> async_drain_body() {
    std::uint64_t dropped = body_pending_.size();
    body_pending_ = {};
    consume(0);
    for (;;) {
      // Parse even with nothing buffered: the end may follow the last piece without a byte.
      for (bool more = true; more;) {
        auto result = parser_.parse(buffered());
        consume(result.consumed);
        switch (result.event) {
          case RequestParser::Event::body:
            dropped += result.body.size();
            if (dropped > kMaxDrainBytes) co_return false;
            break;
          case RequestParser::Event::end:
            body_done_ = true;
            co_return true;
          case RequestParser::Event::error:
            co_return false;
          default:
            more = false;
            break;
        }
      }
      set_deadline(clock::now() + to_duration(timeouts().request_body), Deadline::body);
      auto ec = co_await async_fill();
      release_deadline();
      if (ec) co_return false;
    }
  }

  // ---------------------------------------------------------------------------------------
  // WebSocket (RFC 6455): the app accepted the opening handshake

  // Sends the 101 answer, hands the connection to the app as a WebSocket and waits until that
  // is over; then the connection closes. No HTTP deadline runs meanwhile: the session has its
  // own (websocket_session.hpp).
  awaitable<Outcome> async_serve_websocket() {
    auto handler = std::exchange(accept_handler_, nullptr);
    auto fail = [&] {
      asio::post(get_executor(), [h = std::move(handler)] { h(errc::client_gone, nullptr); });
      end_exchange();
      return Outcome::abort;
    };
    // The watch read may be filling the buffer: what it brings are the client's first frames.
    watch_cancel_.emit(asio::cancellation_type::terminal);
    while (watch_in_flight_) co_await async_wait_event();
    release_deadline();
    if (closed_ || client_gone_ || peer_closed_) co_return fail();

    auto self = this->shared_from_this();
    auto session = std::make_shared<WebSocketSession<Stream>>(stream_, std::string(buffered()),
                                                              context_.limits, self);
    read_begin_ = read_end_ = 0;
    websocket_ = session;
    auto [ec] = co_await session->async_accept(exchange_->request(), std::move(websocket_accept_),
                                               use_awaitable);
    if (ec || closed_) co_return fail();

    status_ = 101;
    log_access();
    asio::post(get_executor(), [h = std::move(handler), session] { h({}, session); });
    end_exchange();
    session->start([self] {
      self->websocket_over_ = true;
      self->notify();
    });
    if (shutting_down_) session->going_away();
    // Only the app holds the session from here: one it drops ends the connection too.
    session.reset();
    while (!websocket_over_ && !closed_) co_await async_wait_event();
    co_return Outcome::abort;
  }

  // ---------------------------------------------------------------------------------------
  // h2c (RFC 7540 §3.2): a bodiless request asked to switch to HTTP/2

  // Hands the socket to HTTP/2 when this server speaks it (the hook is there) and nghttp2 takes
  // the settings: our earlier responses leave first, then the HTTP/2 connection answers 101
  // and the request on stream 1. nullopt: serve `upgrade.head` as HTTP/1.1 (§3.2 lets a server
  // ignore Upgrade), with `upgrade.head` untouched.
  awaitable<std::optional<Outcome>> async_upgrade_h2c(H2cUpgrade& upgrade) {
    const auto* hook = std::any_cast<H2cUpgradeHook<Stream>>(&context_.h2c_upgrade);
    if (!hook || !*hook || shutting_down_) co_return std::nullopt;
    // The watch read may be filling the buffer: what it brings is the client's preface.
    watch_cancel_.emit(asio::cancellation_type::terminal);
    while (watch_in_flight_) co_await async_wait_event();
    while (!closed_ && !write_failed_ && output_queued()) {
      flush();
      co_await async_wait_event();
    }
    if (closed_ || write_failed_ || peer_closed_) co_return Outcome::abort;
    upgrade.head.client = client_;
    upgrade.head.server = server_;
    upgrade.head.received_at = clock::now();
    upgrade.buffered.assign(buffered());
    if (!(*hook)(stream_, upgrade)) {
      upgrade.buffered.clear();
      co_return std::nullopt;
    }
    read_begin_ = read_end_ = 0;
    co_return Outcome::upgraded;
  }

  // ---------------------------------------------------------------------------------------
  // Reading

  bool has_buffered() const noexcept { return read_begin_ < read_end_; }
  std::string_view buffered() const noexcept {
    return {read_buffer_.get() + read_begin_, read_end_ - read_begin_};
  }
  void consume(std::size_t n) noexcept {
    read_begin_ += n;
    // Reset to the front when everything is used, unless a watch read is filling the buffer.
    if (read_begin_ == read_end_ && body_pending_.empty() && !watch_in_flight_)
      read_begin_ = read_end_ = 0;
  }

  // Moves unparsed bytes to the front. Not while a body piece points into the buffer, nor
  // while a watch read fills it.
  void compact() noexcept {
    if (read_begin_ == 0 || !body_pending_.empty() || watch_in_flight_) return;
    std::memmove(read_buffer_.get(), read_buffer_.get() + read_begin_, read_end_ - read_begin_);
    read_end_ -= read_begin_;
    read_begin_ = 0;
  }

  // Reads more bytes into the buffer. Errors: EOF or reset from the peer, operation_aborted
  // when a timeout or shutdown cancelled the read (timed_out_ says which).
  awaitable<error_code> async_fill() {
    if (watch_in_flight_) {
      // A watch read is filling the buffer: its bytes (or its end) are this fill's result.
      while (watch_in_flight_) co_await async_wait_event();
      if (peer_closed_) co_return peer_error_;
      if (timed_out_ != Deadline::none || watch_error_) co_return asio::error::operation_aborted;
      co_return error_code{};
    }
    if (peer_closed_) co_return peer_error_;
    if (timed_out_ != Deadline::none) co_return asio::error::operation_aborted;
    compact();
    if (read_end_ == kReadBufferSize) co_return asio::error::no_buffer_space;
    // run_cancel_ is bound to this read only, not to the coroutine: the read ends before the
    // frame (which holds the connection) does, so the signal outlives what it is bound to.
    auto [ec, n] = co_await stream_.async_read_some(
        asio::buffer(read_buffer_.get() + read_end_, kReadBufferSize - read_end_),
        asio::bind_cancellation_slot(run_cancel_.slot(), use_awaitable));
    read_end_ += n;
    if (ec && ec != asio::error::operation_aborted) {
      peer_closed_ = true;
      peer_error_ = ec;
    }
    co_return ec;
  }

  // While the app works on a request whose body is in, one read stays outstanding to notice
  // a client that goes away; whatever it reads (a pipelined request) is kept.
  void start_watch_read() {
    if (watch_in_flight_ || peer_closed_ || closed_) return;
    compact();
    if (read_end_ == kReadBufferSize) return;  // full: stop reading, the client must wait
    watch_in_flight_ = true;
    stream_.async_read_some(
        asio::buffer(read_buffer_.get() + read_end_, kReadBufferSize - read_end_),
        asio::bind_cancellation_slot(
            watch_cancel_.slot(), [self = this->shared_from_this()](error_code ec, std::size_t n) {
              self->watch_in_flight_ = false;
              self->watch_error_ = ec;
              self->read_end_ += n;
              if (ec && ec != asio::error::operation_aborted) {
                self->peer_closed_ = true;
                self->peer_error_ = ec;
              }
              self->notify();
            }));
  }

  // Delivers buffered body bytes (or the end, or an error) to the app's outstanding read.
  // False when the socket must be read first.
  bool serve_body_from_buffer() {
    if (body_error_) {
      complete_read(body_error_, 0);
      return true;
    }
    // Parse even with nothing buffered: the end of a message may follow its last body piece
    // without another byte.
    if (body_pending_.empty() && !body_done_) {
      auto result = parser_.parse(buffered());
      consume(result.consumed);
      switch (result.event) {
        case RequestParser::Event::body:
          body_pending_ = result.body;
          break;
        case RequestParser::Event::end:
          body_done_ = true;
          break;
        case RequestParser::Event::error:
          fail_body(parser_.status() == 413 ? errc::body_too_large : errc::bad_body,
                    parser_.status(), parser_.reason());
          return true;
        default:
          break;
      }
    }
    if (!body_pending_.empty()) {
      auto n = std::min(body_pending_.size(), read_into_.size());
      std::memcpy(read_into_.data(), body_pending_.data(), n);
      body_pending_.remove_prefix(n);
      if (body_pending_.empty()) consume(0);
      complete_read({}, n);
      return true;
    }
    if (body_done_) {
      complete_read(errc::end_of_body, 0);
      return true;
    }
    return false;
  }

  void complete_read(error_code ec, std::size_t n) {
    auto handler = std::move(read_handler_);
    read_handler_ = nullptr;
    read_into_ = {};
    if (handler) asio::post(get_executor(), [h = std::move(handler), ec, n] { h(ec, n); });
  }

  // The request body cannot be read on: tell the app, and answer for it if it has not begun
  // its response (413 for a body that grew too large, 408 for a stall, 400 for bad framing).
  void fail_body(errc error, int status, const std::string& reason) {
    body_error_ = error;
    keep_alive_ = false;
    if (!head_sent_) {
      queue_error(status, reason);
      response_done_ = true;
      status_ = status;
    } else {
      aborted_ = true;
    }
    complete_read(error, 0);
  }

  // RFC 9110 §10.1.1: 100 Continue goes out when the app first asks for the body, and never
  // once a final response has begun.
  void send_continue() {
    if (continue_sent_ || !exchange_ || !exchange_->request().expect_continue || head_sent_) return;
    continue_sent_ = true;
    out_.append("HTTP/1.1 100 Continue\r\n\r\n");
    flush();
  }

  // ---------------------------------------------------------------------------------------
  // The response sink (called through ExchangeImpl, on this connection's thread)

  bool current(const ExchangeImpl* exchange) const noexcept {
    return exchange_.get() == exchange && !closed_;
  }

  void do_read_body(const ExchangeImpl* exchange, std::span<char> into,
                    Exchange::ReadHandler handler) {
    auto fail = [&](error_code ec) {
      asio::post(get_executor(), [h = std::move(handler), ec] { h(ec, 0); });
    };
    if (!current(exchange) || client_gone_) return fail(errc::client_gone);
    if (read_handler_) return fail(errc::response_state);
    read_into_ = into;
    read_handler_ = std::move(handler);
    body_read_started_ = true;
    notify();
  }

  void do_start(const ExchangeImpl* exchange, ResponseHead head) {
    if (!current(exchange) || head_sent_ || response_done_) return;
    response_ = std::move(head);
    head_started_ = true;
  }

  void do_write(const ExchangeImpl* exchange, std::string chunk, bool last,
                Exchange::Handler handler) {
    error_code ec = check_writable(exchange);
    if (!ec && !head_sent_) ec = send_head(last ? std::optional(chunk.size()) : std::nullopt);
    if (!ec) ec = append_body(chunk);
    if (!ec && last) end_body({});
    complete_write(ec, std::move(handler));
  }

  // A file piece of the body: framed like a write (chunk-size line, CRLF; nothing for HEAD or a
  // bodiless status; never past the declared length), its bytes queued as a FilePiece that
  // flush() hands to sendfile(2) in turn. The handler runs once they are with the kernel, and
  // a `last` piece ends the body then: a file that turns out short can still cut the response.
  void do_send_file(const ExchangeImpl* exchange, int fd, std::uint64_t offset, std::uint64_t count,
                    bool last, Exchange::Handler handler) {
    if constexpr (!kCanSendFile) {
      // Before anything else, so the app can fall back to async_write on the same response.
      (void)exchange, (void)fd, (void)offset, (void)count, (void)last;
      if (handler) asio::post(get_executor(), [h = std::move(handler)] { h(errc::unsupported); });
    } else {
      error_code ec = check_writable(exchange);
      if (!ec && !head_sent_) ec = send_head(last ? std::optional(count) : std::nullopt);
      std::uint64_t size = 0;
      if (!ec) size = frame_body(count, ec);
      if (size == 0) {
        if (!ec && last) end_body({});
        return complete_write(ec, std::move(handler));
      }
      if (framing_.kind == Framing::Kind::chunked) append_chunk_size(out_, size);
      files_.push_back({std::exchange(out_, {}), fd, offset, size, requests_, last && !ec, ec,
                        std::move(handler)});
      if (framing_.kind == Framing::Kind::chunked) out_.append("\r\n");
      // Nothing may follow a last piece: the body ends once its bytes have gone.
      if (last && !ec) body_ending_ = true;
      flush();
    }
  }

  void do_finish(const ExchangeImpl* exchange, Headers trailers, Exchange::Handler handler) {
    error_code ec = check_writable(exchange);
    if (!ec && !head_sent_) ec = send_head(std::uint64_t{0});
    if (!ec) end_body(std::move(trailers));
    complete_write(ec, std::move(handler));
  }

  void do_abort(const ExchangeImpl* exchange) {
    if (!current(exchange) || response_done_) return;
    if (!head_sent_) {
      queue_error(500, {});
      status_ = 500;
    }
    aborted_ = head_sent_;
    keep_alive_ = false;
    response_done_ = true;
    notify();
  }

  // Takes the exchange over as a WebSocket; the coroutine answers 101 (async_serve_websocket).
  void do_accept_websocket(const ExchangeImpl* exchange, WebSocketAccept accept,
                           Exchange::AcceptHandler handler) {
    auto fail = [&](error_code ec) {
      asio::post(get_executor(), [h = std::move(handler), ec] { h(ec, nullptr); });
    };
    if (!current(exchange) || client_gone_) return fail(errc::client_gone);
    if constexpr (!kCanWebSocket) {
      (void)accept;
      return fail(errc::unsupported);
    } else {
      if (!exchange->request().websocket) return fail(errc::unsupported);
      if (head_started_ || head_sent_ || response_done_ || accept_handler_)
        return fail(errc::response_state);
      // RFC 6455 §4.2.2: the subprotocol is a token; extra fields must be sendable.
      bool valid = accept.subprotocol.empty() || valid_field_name(accept.subprotocol);
      for (const auto& [name, value] : accept.headers)
        valid = valid && valid_field_name(name) && valid_response_field_value(value);
      if (!valid) return fail(errc::invalid_response);
      websocket_accept_ = std::move(accept);
      accept_handler_ = std::move(handler);
      // The exchange is answered (by the 101 to come): nothing else may be written, and the
      // connection carries no further HTTP request.
      response_done_ = true;
      keep_alive_ = false;
      gone_callback_ = nullptr;
      notify();
    }
  }

  void do_on_client_gone(ExchangeImpl* exchange, std::function<void()> callback) {
    if (exchange->lost_) {
      asio::post(get_executor(), std::move(callback));
    } else if (current(exchange) && !response_done_) {
      gone_callback_ = std::move(callback);
    }
  }

  error_code check_writable(const ExchangeImpl* exchange) const noexcept {
    if (!current(exchange) || client_gone_) return errc::client_gone;
    if (response_done_ || !head_started_ || body_ending_) return errc::response_state;
    return {};
  }

  // Serialises the head. `known_length` is the whole body's size when the first write is also
  // the last, so a one-piece body gets Content-Length instead of chunked framing.
  error_code send_head(std::optional<std::uint64_t> known_length) {
    const auto& request = exchange_->request();
    int status = response_.status;
    if (status < 200 || status > 999) return errc::invalid_response;
    std::optional<std::uint64_t> declared;
    for (const auto& [name, value] : response_.headers) {
      if (!valid_field_name(name) || !valid_response_field_value(value))
        return errc::invalid_response;
      if (iequals(name, "content-length")) {
        std::uint64_t length = 0;
        auto text = trim(value);
        auto [end, parse_ec] = std::from_chars(text.data(), text.data() + text.size(), length);
        if (parse_ec != std::errc() || end != text.data() + text.size() || text.empty() ||
            (declared && *declared != length))
          return errc::invalid_response;
        declared = length;
      } else if (iequals(name, "connection")) {
        for_each_list_element(value, [&](std::string_view token) {
          if (iequals(token, "close")) keep_alive_ = false;
        });
      }
    }
    bool bodiless = status == 204 || status == 304;
    if (bodiless) {
      framing_ = {Framing::Kind::none, 0};
    } else if (declared) {
      framing_ = {Framing::Kind::content_length, *declared};
    } else if (known_length) {
      framing_ = {Framing::Kind::content_length, *known_length};
    } else if (request.version.minor >= 1) {
      framing_ = {Framing::Kind::chunked, 0};
    } else {
      framing_ = {Framing::Kind::until_close, 0};
      keep_alive_ = false;
    }
    // RFC 9110 §15.5: answering before the body is read, say whether the connection stays.
    // It cannot when the client waits for 100 Continue (it may never send the body), nor when
    // an app that has not read the body leaves more of it than we would drain. An app that
    // reads the body while it answers (an echo, a proxy) keeps the connection.
    if (!body_done_) {
      bool waiting_for_continue = request.expect_continue && !continue_sent_;
      bool too_much_to_drain = !request.content_length ||
                               *request.content_length - parser_.body_received() > kMaxDrainBytes;
      if (waiting_for_continue || (!body_read_started_ && too_much_to_drain)) keep_alive_ = false;
    }
    auto wire = framing_;
    if (is_head_request_ && wire.kind == Framing::Kind::chunked) wire.kind = Framing::Kind::none;
    append_response_head(out_, request.version, status, response_.headers, wire, keep_alive_);
    head_sent_ = true;
    status_ = status;
    return {};
  }

  // Applies the framing to a body piece of `size` bytes: counts them as sent and returns how
  // many go on the wire (none for HEAD or a bodiless status). Never more than the app declared:
  // the rest is an app error, errc::length_mismatch in `ec`.
  std::uint64_t frame_body(std::uint64_t size, error_code& ec) {
    if (framing_.kind == Framing::Kind::none) {
      size = 0;
    } else if (framing_.kind == Framing::Kind::content_length &&
               size > framing_.length - body_bytes_sent_) {
      size = framing_.length - body_bytes_sent_;
      ec = errc::length_mismatch;
    }
    body_bytes_sent_ += size;
    return is_head_request_ ? 0 : size;
  }

  error_code append_body(std::string_view chunk) {
    error_code ec;
    chunk = chunk.substr(0, frame_body(chunk.size(), ec));
    if (chunk.empty()) return ec;
    if (framing_.kind == Framing::Kind::chunked) {
      append_chunk(out_, chunk);
    } else {
      out_.append(chunk);
    }
    return ec;
  }

  void end_body(const Headers& trailers) {
    if (framing_.kind == Framing::Kind::chunked && !is_head_request_) {
      append_last_chunk(out_, trailers);
    } else if (framing_.kind == Framing::Kind::content_length && !is_head_request_ &&
               body_bytes_sent_ < framing_.length) {
      // The app sent less than its Content-Length: the client must see a cut response.
      aborted_ = true;
    } else if (framing_.kind == Framing::Kind::until_close) {
      keep_alive_ = false;
    }
    response_done_ = true;
    notify();
  }

  // Sends what was queued and completes the app's handler: at once while the output stays
  // under the high-water mark, else when the socket has taken enough.
  void complete_write(error_code ec, Exchange::Handler handler) {
    flush();
    if (!handler) return;
    if (ec || pending_output() <= kOutputHighWater) {
      asio::post(get_executor(), [h = std::move(handler), ec] { h(ec); });
    } else {
      write_waiters_.push_back(std::move(handler));
    }
  }

  // ---------------------------------------------------------------------------------------
  // Writing

  // Output queued and not yet with the kernel, file pieces included.
  std::uint64_t pending_output() const noexcept {
    std::uint64_t n = out_.size() + writing_.size();
    for (const auto& file : files_) n += file.before.size() + file.left;
    return n;
  }
  bool output_queued() const noexcept {
    return write_in_flight_ || !out_.empty() || !files_.empty();
  }

  static void append_chunk_size(std::string& out, std::uint64_t size) {
    char digits[16];
    auto end = std::to_chars(digits, digits + sizeof digits, size, 16).ptr;
    out.append(digits, end);
    out.append("\r\n");
  }

  void queue_error(int status, std::string_view detail) {
    keep_alive_ = false;
    if (!head_sent_) {
      auto at = out_.size();
      append_error_response(out_, status, detail);
      // RFC 6455 §4.4: a WebSocket version we do not speak is answered with the one we do;
      // RFC 9110 §15.5.22: a 426 names the protocol to upgrade to.
      if (status == 426)
        out_.insert(out_.find("\r\n", at) + 2,
                    "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
    }
    head_sent_ = true;
    flush();
  }

  // Starts the next write: the bytes ahead of the first file piece, that piece, or `out_`.
  void flush() {
    if (write_in_flight_ || closed_) return;
    if (!files_.empty() && files_.front().before.empty()) {
      write_in_flight_ = true;
      write_started_ = clock::now();
      send_file();
      watch_send();
      return;
    }
    auto& next = files_.empty() ? out_ : files_.front().before;
    if (next.empty()) return;
    writing_.swap(next);
    next.clear();
    write_in_flight_ = true;
    asio::async_write(
        stream_, asio::buffer(writing_),
        [self = this->shared_from_this()](error_code ec, std::size_t) { self->on_written(ec); });
    write_started_ = clock::now();
    watch_send();
  }

  void on_written(error_code ec) {
    write_in_flight_ = false;
    writing_.clear();
    if (ec) {
      write_failed_ = true;
      out_.clear();
      drop_files(errc::client_gone);
      lose_client();
      release_write_waiters(errc::client_gone);
      notify();
      return;
    }
    if (pending_output() <= kOutputHighWater) release_write_waiters({});
    flush();
    watch_send();
    notify();
  }

  // Hands the first file piece to the kernel, with write_in_flight_ held: on EAGAIN it waits
  // for the socket, past kFileTurnBytes it yields to the other connections of the thread. Each
  // step forward restarts the send timeout. Errors of the socket end like a failed write.
  // sendfile(2) has no MSG_NOSIGNAL: a reset peer gives EPIPE only because main() ignores SIGPIPE.
  void send_file() {
    if constexpr (kCanSendFile) {
      auto& file = files_.front();
      error_code ec;
      if (!stream_.native_non_blocking()) stream_.native_non_blocking(true, ec);
      if (ec) return on_written(ec);
      for (std::uint64_t budget = kFileTurnBytes; file.left > 0;) {
        if (budget == 0) {
          asio::post(get_executor(),
                     [self = this->shared_from_this()] { self->on_file_writable({}); });
          return watch_send();
        }
        auto offset = static_cast<off_t>(file.offset);
        auto sent = ::sendfile(stream_.native_handle(), file.fd, &offset,
                               static_cast<std::size_t>(std::min(file.left, budget)));
        if (sent > 0) {
          auto n = static_cast<std::uint64_t>(sent);
          file.offset += n;
          file.left -= n;
          budget -= n;
          write_started_ = clock::now();
        } else if (sent == 0) {
          return cut_file(errc::length_mismatch);  // the file ends before `count`
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
          stream_.async_wait(asio::socket_base::wait_write,
                             [self = this->shared_from_this()](error_code wait_ec) {
                               self->on_file_writable(wait_ec);
                             });
          return watch_send();
        } else if (errno != EINTR) {
          ec.assign(errno, boost::system::system_category());
          return file_error(ec) ? cut_file(ec) : on_written(ec);
        }
      }
      file_sent();
    }
  }

  void on_file_writable(error_code ec) {
    if (!ec && closed_) ec = asio::error::operation_aborted;
    if (ec) return on_written(ec);
    send_file();
  }

  // sendfile(2) errors that come from the file, not the client.
  static bool file_error(error_code ec) noexcept {
    switch (ec.value()) {
      case EBADF:
      case EINVAL:
      case EIO:
      case ENOMEM:
      case ENXIO:
      case EOVERFLOW:
      case ESPIPE:
        return true;
      default:
        return false;
    }
  }

  // The first file piece is with the kernel: its handler runs first (within the output bound),
  // then writes queued behind it; a last piece ends the body.
  void file_sent() {
    write_in_flight_ = false;
    auto file = std::move(files_.front());
    files_.pop_front();
    if (file.last && exchange_ && requests_ == file.exchange && !response_done_) end_body({});
    bool drained = pending_output() <= kOutputHighWater;
    if (file.handler) {
      if (file.result || drained) {
        asio::post(get_executor(), [h = std::move(file.handler), ec = file.result] { h(ec); });
      } else {
        write_waiters_.insert(write_waiters_.begin(), std::move(file.handler));
      }
    }
    if (drained) release_write_waiters({});
    flush();
    watch_send();
    notify();
  }

  // The file could not give its bytes (shorter than promised, or unreadable): the client holds
  // a broken response and must see it cut, never completed or followed by more. Still the
  // exchange's: it ends aborted, and the coroutine closes. Already complete on our side (the
  // app did not wait for this piece): close now.
  void cut_file(error_code ec) {
    write_in_flight_ = false;
    auto file = std::move(files_.front());
    files_.pop_front();
    out_.clear();
    auto unsent = file.left + drop_files(ec);
    if (file.handler) asio::post(get_executor(), [h = std::move(file.handler), ec] { h(ec); });
    if (exchange_ && requests_ == file.exchange && !response_done_) {
      body_bytes_sent_ -= std::min(unsent, body_bytes_sent_);
      aborted_ = true;
      keep_alive_ = false;
      response_done_ = true;
      release_write_waiters(ec);
      watch_send();
    } else {
      close_now();
    }
    notify();
  }

  // Fails every queued file piece; returns the file bytes they would have sent.
  std::uint64_t drop_files(error_code ec) {
    auto files = std::move(files_);
    files_.clear();
    std::uint64_t unsent = 0;
    for (auto& file : files) {
      unsent += file.left;
      if (file.handler) asio::post(get_executor(), [h = std::move(file.handler), ec] { h(ec); });
    }
    return unsent;
  }

  // The coroutine stops timing a read; a write in flight is timed again.
  void release_deadline() {
    set_deadline(clock::time_point::max(), Deadline::none);
    watch_send();
  }

  // A write in flight must make progress within --timeout-send, unless a read deadline is
  // running (the coroutine owns the deadline then, and re-arms this when it lets go of it).
  void watch_send() {
    if (write_in_flight_ && (deadline_kind_ == Deadline::none || deadline_kind_ == Deadline::send))
      set_deadline(clock::now() + to_duration(timeouts().send), Deadline::send);
    else if (!write_in_flight_ && deadline_kind_ == Deadline::send)
      set_deadline(clock::time_point::max(), Deadline::none);
  }

  void release_write_waiters(error_code ec) {
    auto waiters = std::move(write_waiters_);
    write_waiters_.clear();
    for (auto& handler : waiters)
      asio::post(get_executor(), [h = std::move(handler), ec] { h(ec); });
  }

  // The client is gone: the app hears it once, its reads and writes fail from now on.
  void lose_client() {
    if (client_gone_) return;
    client_gone_ = true;
    keep_alive_ = false;
    if (exchange_ && !response_done_) exchange_->lost_ = true;
    if (gone_callback_ && !response_done_) asio::post(get_executor(), std::move(gone_callback_));
    gone_callback_ = nullptr;
    release_write_waiters(errc::client_gone);
    notify();
  }

  // ---------------------------------------------------------------------------------------
  // Closing: the one way a connection ends.

  awaitable<void> async_close(bool graceful) {
    // Let queued output reach the client (bounded by the linger time).
    set_deadline(clock::now() + kLingerTime, Deadline::closing);
    while (!closed_ && !write_failed_ && output_queued()) {
      flush();
      co_await async_wait_event();
      if (timed_out_ != Deadline::none) break;
    }
    bool unread_input = !parser_.body_complete() || has_buffered() || !body_done_;
    if (!closed_ && graceful && !write_failed_ && timed_out_ == Deadline::none && !peer_closed_ &&
        unread_input) {
      error_code ignored;
      stream_.shutdown(asio::socket_base::shutdown_send, ignored);
      while (watch_in_flight_) co_await async_wait_event();
      body_pending_ = {};
      read_begin_ = read_end_ = 0;
      std::size_t drained = 0;
      while (drained < kMaxLingerBytes) {
        auto ec = co_await async_fill();
        if (ec) break;
        drained += read_end_;
        read_begin_ = read_end_ = 0;
      }
    }
    close_now();
  }

  void close_now() {
    if (closed_) return;
    closed_ = true;
    lose_client();
    error_code ignored;
    stream_.shutdown(asio::socket_base::shutdown_both, ignored);
    stream_.close(ignored);
    watchdog_.cancel();
    wake_.cancel();
  }

  // ---------------------------------------------------------------------------------------
  // Waiting and timeouts

  // Suspends until notify() (or a cancellation); callers re-check their state after.
  awaitable<void> async_wait_event() {
    wake_.expires_at(clock::time_point::max());
    co_await wake_.async_wait(use_awaitable);
  }

  void notify() { wake_.cancel(); }

  static clock::duration to_duration(seconds_d s) {
    return std::chrono::duration_cast<clock::duration>(s);
  }
  const Timeouts& timeouts() const noexcept { return context_.timeouts; }

  // Moving the deadline later costs nothing: the watchdog re-arms when it fires early. Only
  // an earlier deadline moves the timer.
  void set_deadline(clock::time_point when, Deadline kind) {
    deadline_ = when;
    deadline_kind_ = kind;
    timed_out_ = Deadline::none;
    if (when < watchdog_.expiry()) watchdog_.expires_at(when);
  }

  // The watchdog sleeps at most the shortest configured timeout, so every deadline a request
  // sets lies at or after its expiry and set_deadline() never has to move the timer.
  void arm_watchdog() {
    auto& t = timeouts();
    auto shortest = to_duration(std::min({t.keep_alive, t.request_header, t.request_body, t.send}));
    watchdog_.expires_at(std::min(deadline_, clock::now() + shortest));
    watchdog_.async_wait([self = this->shared_from_this()](error_code) { self->on_watchdog(); });
  }

  void on_watchdog() {
    if (closed_) return;
    if (auto now = clock::now(); deadline_ <= now) {
      timed_out_ = deadline_kind_;
      deadline_ = clock::time_point::max();
      deadline_kind_ = Deadline::none;
      bool stuck = write_in_flight_ && now - write_started_ >= to_duration(timeouts().send);
      if (timed_out_ == Deadline::send || (timed_out_ == Deadline::idle && stuck)) {
        // The client has not taken any of our response for --timeout-send: nothing we could
        // still say would reach it.
        close_now();
        notify();
        return;
      }
      if (timed_out_ == Deadline::idle && write_in_flight_) {
        // Not idle while its last response is still leaving: the keep-alive clock restarts,
        // and the write is held to --timeout-send.
        timed_out_ = Deadline::none;
        deadline_kind_ = Deadline::idle;
        deadline_ = std::min(now + to_duration(timeouts().keep_alive),
                             write_started_ + to_duration(timeouts().send));
        arm_watchdog();
        return;
      }
      cancel_reads();
      notify();
    }
    arm_watchdog();
  }

  // Cancels the reads in flight (never the write: a response being written is not cut by a
  // read timeout).
  void cancel_reads() {
    watch_cancel_.emit(asio::cancellation_type::terminal);
    run_cancel_.emit(asio::cancellation_type::terminal);
  }

  void log_access() {
    if (!context_.access_log || !exchange_) return;
    const auto& request = exchange_->request();
    context_.access_log->write(request, status_, body_bytes_sent_,
                               clock::now() - request.received_at);
  }

  Stream stream_;
  const ConnectionContext& context_;
  RequestParser parser_;
  std::unique_ptr<char[]> read_buffer_;
  std::size_t read_begin_ = 0;
  std::size_t read_end_ = 0;

  asio::basic_waitable_timer<clock, asio::wait_traits<clock>, executor_type> watchdog_;
  asio::basic_waitable_timer<clock, asio::wait_traits<clock>, executor_type> wake_;
  asio::cancellation_signal run_cancel_;    // the coroutine's socket read (async_fill)
  asio::cancellation_signal watch_cancel_;  // the watch read (start_watch_read)
  clock::time_point deadline_ = clock::time_point::max();
  Deadline deadline_kind_ = Deadline::none;
  Deadline timed_out_ = Deadline::none;

  Address client_;
  std::shared_ptr<const TlsInfo> tls_;
  Address server_;
  std::uint64_t requests_ = 0;
  bool shutting_down_ = false;
  bool waiting_idle_ = false;
  bool closed_ = false;
  bool peer_closed_ = false;
  error_code peer_error_;
  bool watch_in_flight_ = false;
  error_code watch_error_;

  // The exchange in flight.
  std::shared_ptr<ExchangeImpl> exchange_;
  bool keep_alive_ = false;
  bool is_head_request_ = false;
  bool body_done_ = true;
  std::string_view body_pending_;
  error_code body_error_;
  bool continue_sent_ = false;
  bool body_read_started_ = false;
  std::span<char> read_into_;
  Exchange::ReadHandler read_handler_;
  std::function<void()> gone_callback_;
  bool client_gone_ = false;
  ResponseHead response_;
  bool head_started_ = false;
  bool head_sent_ = false;
  bool response_done_ = false;
  bool aborted_ = false;
  bool body_ending_ = false;  // a last file piece is queued: the body ends once it is sent
  Framing framing_;
  std::uint64_t body_bytes_sent_ = 0;
  int status_ = 0;

  // A WebSocket the app accepted: the answer still to send, then the session while it lasts.
  WebSocketAccept websocket_accept_;
  Exchange::AcceptHandler accept_handler_;
  std::weak_ptr<WebSocketSession<Stream>> websocket_;
  bool websocket_over_ = false;

  // A body piece read from a file by sendfile(2), in the output queue: `before` (the output
  // queued ahead of it) goes first. The fd is the app's, open until the handler runs.
  struct FilePiece {
    std::string before;
    int fd = -1;
    std::uint64_t offset = 0;
    std::uint64_t left = 0;
    std::uint64_t exchange = 0;  // requests_ when it was queued: whose body it is
    bool last = false;           // ends the body once sent
    error_code result;           // what the handler hears once the bytes are sent
    Exchange::Handler handler;
  };

  // Output: `out_` collects, `writing_` is on the wire; file pieces queued before `out_`, in
  // order, each after its `before` bytes.
  std::string out_;
  std::string writing_;
  std::deque<FilePiece> files_;
  bool write_in_flight_ = false;
  clock::time_point write_started_;
  bool write_failed_ = false;
  std::vector<Exchange::Handler> write_waiters_;
};

// The Exchange an app holds. Every call hops onto the connection's thread; once the exchange
// is over (or the connection gone), calls fail with errc::client_gone.
template <class Stream>
class Http1Connection<Stream>::ExchangeImpl final
    : public Exchange,
      public std::enable_shared_from_this<ExchangeImpl> {
 public:
  ExchangeImpl(std::shared_ptr<Http1Connection> connection, RequestHead head)
      : connection_(std::move(connection)), head_(std::move(head)) {}

  const RequestHead& request() const noexcept override { return head_; }
  asio::any_io_executor executor() const override { return connection_->get_executor(); }

  void async_read_body(std::span<char> into, ReadHandler handler) override {
    run([into, h = std::move(handler)](Http1Connection& c, ExchangeImpl* self) mutable {
      c.do_read_body(self, into, std::move(h));
    });
  }
  void start(ResponseHead head) override {
    run([head = std::move(head)](Http1Connection& c, ExchangeImpl* self) mutable {
      c.do_start(self, std::move(head));
    });
  }
  void async_write(std::string chunk, bool last, Handler handler) override {
    run([chunk = std::move(chunk), last, h = std::move(handler)](Http1Connection& c,
                                                                 ExchangeImpl* self) mutable {
      c.do_write(self, std::move(chunk), last, std::move(h));
    });
  }
  void async_send_file(int fd, std::uint64_t offset, std::uint64_t count, bool last,
                       Handler handler) override {
    run([fd, offset, count, last, h = std::move(handler)](Http1Connection& c,
                                                          ExchangeImpl* self) mutable {
      c.do_send_file(self, fd, offset, count, last, std::move(h));
    });
  }
  void async_finish(Headers trailers, Handler handler) override {
    run([t = std::move(trailers), h = std::move(handler)](Http1Connection& c,
                                                          ExchangeImpl* self) mutable {
      c.do_finish(self, std::move(t), std::move(h));
    });
  }
  void abort() override {
    run([](Http1Connection& c, ExchangeImpl* self) { c.do_abort(self); });
  }
  void async_accept_websocket(WebSocketAccept accept, AcceptHandler handler) override {
    run([a = std::move(accept), h = std::move(handler)](Http1Connection& c,
                                                        ExchangeImpl* self) mutable {
      c.do_accept_websocket(self, std::move(a), std::move(h));
    });
  }
  void on_client_gone(std::function<void()> callback) override {
    run([cb = std::move(callback)](Http1Connection& c, ExchangeImpl* self) mutable {
      c.do_on_client_gone(self, std::move(cb));
    });
  }

 private:
  // Runs `f` on the connection's thread: inline when already there (an app answering from
  // handle()), posted otherwise. The exchange stays alive until it has run.
  template <class F>
  void run(F&& f) {
    if (connection_->get_executor().running_in_this_thread()) {
      f(*connection_, this);  // the caller holds the exchange, so it outlives the call
      return;
    }
    asio::dispatch(connection_->get_executor(),
                   [self = this->shared_from_this(), f = std::forward<F>(f)]() mutable {
                     f(*self->connection_, self.get());
                   });
  }

  friend class Http1Connection;
  std::shared_ptr<Http1Connection> connection_;
  RequestHead head_;
  bool lost_ = false;  // the client left before this exchange's response was complete
};

}  // namespace junction::gateway
