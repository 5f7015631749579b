// One HTTP/1.1 connection: the class. Its members are defined by job in connection_loop.hpp
// (the request loop, WebSockets, h2c, closing, timeouts), connection_read.hpp (the request body
// and the read buffer), connection_sink.hpp (the response sink and its framing),
// connection_output.hpp (the output queue and sendfile) and exchange.hpp (the Exchange apps
// hold); instances.cpp instantiates it for the plain and the TLS stream, and the server reaches
// it only through http1.hpp.
//
// The coroutine reads and parses requests one at a time; pipelined requests wait in the read
// buffer and are answered in order, so the pipeline depth is bounded by the buffer. Body bytes
// are read from the socket only while the app has a read outstanding (backpressure). Responses
// are written by a callback chain with one write in flight; output queued past a high-water mark
// holds back the app's write handlers. A large body piece is queued as the app handed it over
// and leaves in one gathered write (writev(2)) with the bytes around it, never copied into the
// output string; a file piece of a body (async_send_file) takes its place in that output queue
// and leaves by sendfile(2), straight from the page cache to the socket.
// Timeouts come from one watchdog timer per connection whose deadline moves as the connection
// changes phase, so a request costs no timer operations.
//
// Stream is a connected socket (or an in-memory stream in tests) on an io_context executor.
#pragma once

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/socket_base.hpp>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/connection.hpp"
#include "gateway/errors.hpp"
#include "gateway/exchange.hpp"
#include "gateway/exchange_state.hpp"
#include "gateway/min_rate.hpp"
#include "gateway/transport.hpp"
#include "gateway/watchdog.hpp"
#include "gateway/websocket.hpp"
#include "http1/http1.hpp"
#include "http1/parser.hpp"
#include "http1/response.hpp"
#include "http1/websocket_session.hpp"

namespace junction::http1 {

namespace asio = boost::asio;

template <class Stream>
class Connection final : public gateway::Closable,
                         public gateway::ConnectionTypes,
                         public std::enable_shared_from_this<Connection<Stream>> {
 public:
  // Bytes of request we hold at once: the head is copied out as it is parsed, so this bounds
  // only body pieces in flight and pipelined requests read ahead.
  static constexpr std::size_t kReadBufferSize = 32 * 1024;
  // Queued response bytes past which an app's write waits for the socket.
  static constexpr std::size_t kOutputHighWater = 64 * 1024;
  // Past the high-water mark, output a connection may hold from --response-buffer-total so
  // that its app's writes complete: one slow reader must not take the whole budget.
  static constexpr std::size_t kBufferedOutputMax = 4 << 20;
  // After the response, unread request body up to this size is read and dropped to keep the
  // connection; a larger rest closes it instead.
  static constexpr std::uint64_t kMaxDrainBytes = 256 * 1024;
  // Lingering close (RFC 9112 §9.6): how long and how much we read after shutting down our
  // side, so that a client still sending does not turn our last response into a TCP reset.
  static constexpr std::chrono::seconds kLingerTime{2};
  // A graceful shutdown still serves the next request of an idle connection (and the first of
  // one accepted just before) if it arrives within this (on_shutdown).
  static constexpr std::chrono::seconds kShutdownIdle{1};
  static constexpr std::size_t kMaxLingerBytes = 1 << 20;
  // File bytes one turn of the I/O thread hands to sendfile(2) before it lets the other
  // connections run: a fast client on loopback would otherwise never make it return EAGAIN.
  static constexpr std::uint64_t kFileTurnBytes = 1 << 20;
  // A body piece this large is queued as it came and written with the bytes around it in one
  // gathered write; a smaller one is copied into the output string, which costs less than a
  // queue entry and a buffer of its own.
  static constexpr std::size_t kGatherMin = 16 * 1024;
  // Only a plain socket can take a file with sendfile(2): it has a file descriptor (a TLS
  // stream's native handle is an SSL*) and waits for writability.
  static constexpr bool kCanSendFile = requires(Stream & stream, gateway::error_code& ec) {
    { stream.native_handle() } -> std::convertible_to<int>;
    stream.native_non_blocking(true, ec);
    stream.async_wait(asio::socket_base::wait_write, [](gateway::error_code) {});
  };
  // The most one write_some may take. Asio's transfer_all says 64 KiB, so a 1 MiB response took
  // 16 sendmsg(2) calls, each waking the reader (on loopback, each ran the receiver's TCP path
  // too). A plain socket takes what fits in its buffer in one call; a TLS stream writes its
  // first buffer in records, so it keeps asio's bound on the memory SSL_write encrypts at once.
  static constexpr std::size_t kWriteSomeMax = kCanSendFile ? kFileTurnBytes : 64 * 1024;
  // A stream Beast can carry a WebSocket over (websocket_session.hpp).
  static constexpr bool kCanWebSocket = supports_websocket_v<Stream>;

  Connection(Stream stream, const gateway::ConnectionContext& context, gateway::Address client,
             gateway::Address server, Switches switches = {})
      : stream_(std::move(stream)),
        context_(context),
        switches_(switches),
        parser_(context.limits),
        read_buffer_(new char[kReadBufferSize]),
        watchdog_(stream_.get_executor(), shortest_timeout(context.timeouts)),
        wake_(stream_.get_executor()),
        forwarded_(gateway::forwarded_for_peer(context.forwarded, client)),
        client_(std::move(client)),
        server_(std::move(server)),
        detecting_preface_(switches.prior_knowledge),
        output_share_(context.response_budget) {}

  // The connection came over TLS: its requests are https and carry what the handshake settled.
  // Before async_run().
  void set_tls(std::shared_ptr<const gateway::TlsInfo> tls) noexcept { tls_ = std::move(tls); }

  executor_type get_executor() { return stream_.get_executor(); }

  // The connection coroutine (connection_loop.hpp). Returns false once the connection is
  // closed, true once it belongs to HTTP/2 (it opened with the preface, or an h2c upgrade was
  // accepted): release_stream() and handover() then say what goes on.
  awaitable<bool> async_run();
  Stream release_stream() noexcept { return std::move(stream_); }
  Http2Handover& handover() noexcept { return handover_; }

  // Graceful shutdown: the request in flight finishes with Connection: close; idle, it closes.
  void on_shutdown() override;
  // The grace period is over: close now.
  void terminate() override;
  std::optional<clock::time_point> idle_since() const noexcept override {
    if (closed_ || !waiting_idle_ || requests_ == 0 || output_queued()) return std::nullopt;
    return idle_since_;
  }

 private:
  class ExchangeImpl;
  enum class Outcome { next, close, abort, http2 };
  enum class Deadline { none, idle, header, body, send, closing };

  // The request loop, WebSockets, h2c, closing, timeouts (connection_loop.hpp).
  awaitable<Outcome> async_serve_one();
  void complete_head(gateway::RequestHead& head) const;
  void begin_exchange(gateway::RequestHead head);
  void end_exchange();
  awaitable<bool> async_drain_body();
  awaitable<Outcome> async_serve_websocket();
  awaitable<std::optional<Outcome>> async_upgrade_h2c(gateway::RequestHead& head,
                                                      const std::string& settings);

  awaitable<void> async_close(bool graceful);
  void close_now();
  awaitable<void> async_wait_event();
  void notify() { wake_.cancel(); }
  static clock::duration to_duration(gateway::seconds_d s) {
    return std::chrono::duration_cast<clock::duration>(s);
  }
  static clock::duration shortest_timeout(const gateway::Timeouts& t) {
    return to_duration(
        std::min({t.keep_alive, t.request_header, t.request_body, t.send, t.min_rate_grace}));
  }
  const gateway::Timeouts& timeouts() const noexcept { return context_.timeouts; }
  void set_deadline(clock::time_point when, Deadline kind);
  void release_deadline();

 public:
  // The watchdog's wake-up (gateway/watchdog.hpp): a deadline of kind `passed` is over.
  bool on_watchdog(clock::time_point now, int passed);

 private:
  void cancel_reads();
  void log_access(bool completed);
  void count_received(std::size_t n) {
    if (n > 0 && context_.metrics) context_.metrics.add(gateway::counter::bytes_received, n);
  }

  // Reading the request (connection_read.hpp).
  bool has_buffered() const noexcept { return read_begin_ < read_end_; }
  std::string_view buffered() const noexcept {
    return {read_buffer_.get() + read_begin_, read_end_ - read_begin_};
  }
  void consume(std::size_t n) noexcept;
  void compact() noexcept;
  awaitable<gateway::error_code> async_fill();
  void start_watch_read();
  bool serve_body_from_buffer();
  void complete_read(gateway::error_code ec, std::size_t n);
  void fail_body(gateway::errc error, int status, const std::string& reason);
  void send_continue();

  // The response sink the exchange calls, and its framing (connection_sink.hpp).
  bool current(const ExchangeImpl* exchange) const noexcept;
  void do_read_body(const ExchangeImpl* exchange, std::span<char> into,
                    gateway::Exchange::ReadHandler handler);
  void do_start(const ExchangeImpl* exchange, gateway::ResponseHead head);
  void do_write(const ExchangeImpl* exchange, gateway::BodyPiece chunk, bool last,
                gateway::Exchange::Handler handler);
  void do_send_file(const ExchangeImpl* exchange, int fd, std::uint64_t offset, std::uint64_t count,
                    bool last, gateway::Exchange::Handler handler);
  void do_finish(const ExchangeImpl* exchange, gateway::Headers trailers,
                 gateway::Exchange::Handler handler);
  void do_abort(const ExchangeImpl* exchange);
  void do_accept_websocket(const ExchangeImpl* exchange, gateway::WebSocketAccept accept,
                           gateway::Exchange::AcceptHandler handler);
  void do_on_client_gone(ExchangeImpl* exchange, std::function<void()> callback);
  gateway::error_code check_writable(const ExchangeImpl* exchange) const noexcept;
  gateway::error_code send_head(std::optional<std::uint64_t> known_length);
  std::uint64_t frame_body(std::uint64_t size, gateway::error_code& ec);
  gateway::error_code append_body(gateway::BodyPiece&& chunk);
  void end_body(const gateway::Headers& trailers);
  void complete_write(gateway::error_code ec, gateway::Exchange::Handler handler);
  void queue_error(int status, std::string_view detail);
  void lose_client();

  // The output queue and sendfile(2) (connection_output.hpp).
  std::uint64_t pending_output() const noexcept;
  bool output_queued() const noexcept;
  void flush();
  void write_gathered();
  template <class Buffers>
  void start_write(const Buffers& buffers);
  void on_written(gateway::error_code ec);
  void send_file();
  void on_file_writable(gateway::error_code ec);
  static bool file_error(gateway::error_code ec) noexcept;
  void file_sent();
  void cut_file(gateway::error_code ec);
  std::uint64_t drop_pieces(gateway::error_code ec);
  void watch_send();
  void release_write_waiters(gateway::error_code ec);
  // --response-buffer-total: whether the output queued now may stay queued without the app
  // waiting (under the high-water mark, or past it within the budget), and giving back what
  // drained.
  bool output_within_bounds();
  void settle_output_budget() noexcept;
  // The kernel took `n` more bytes of our output: progress for --timeout-send.
  void note_sent(std::size_t n);
  // --min-response-rate, looked at each watchdog wake-up.
  bool sending_too_slowly(clock::time_point now);
  // Bytes the kernel holds that the client has not acknowledged (SIOCOUTQ); 0 without a
  // socket (the in-memory test stream).
  std::uint64_t unacknowledged() noexcept;
  // Closes with a reset (SO_LINGER 0): what the kernel still holds for a client that does not
  // take it is dropped at once, and the client sees the cut.
  void cut_now();

  Stream stream_;
  const gateway::ConnectionContext& context_;
  Switches switches_;
  RequestParser parser_;
  std::unique_ptr<char[]> read_buffer_;
  std::size_t read_begin_ = 0;
  std::size_t read_end_ = 0;

  // It sleeps at most the shortest configured timeout, so every deadline a request sets lies
  // at or after its wake-up and moving one never touches the timer.
  gateway::Watchdog watchdog_;
  asio::basic_waitable_timer<clock, asio::wait_traits<clock>, executor_type> wake_;
  asio::cancellation_signal run_cancel_;    // the coroutine's socket read (async_fill)
  asio::cancellation_signal watch_cancel_;  // the watch read (start_watch_read)
  Deadline timed_out_ = Deadline::none;

  // --forwarded-allow-ips: what this connection's peer may say about its requests' client,
  // scheme and host; null when the peer is not trusted.
  const gateway::ForwardedPolicy* forwarded_;
  gateway::Address client_;
  std::shared_ptr<const gateway::TlsInfo> tls_;
  gateway::Address server_;
  std::uint64_t requests_ = 0;
  bool detecting_preface_ = false;  // the first bytes may still be the HTTP/2 preface
  Http2Handover handover_;
  bool shutting_down_ = false;
  bool waiting_idle_ = false;
  clock::time_point idle_since_;  // the last exchange ended (idle_since())
  bool closed_ = false;
  bool peer_closed_ = false;
  gateway::error_code peer_error_;
  bool watch_in_flight_ = false;
  gateway::error_code watch_error_;

  // The exchange in flight: its response state and waiters (shared with HTTP/2), and what
  // HTTP/1.1 adds to them.
  std::shared_ptr<ExchangeImpl> exchange_;
  gateway::ExchangeState state_;
  std::size_t route_ = 0;         // the router's index for it (/metrics)
  bool recorded_ = false;         // counted and logged (log_access)
  gateway::GaugeHold in_flight_;  // requests in flight, until it is over
  bool keep_alive_ = false;
  bool is_head_request_ = false;
  std::string_view body_pending_;
  gateway::RateMeter body_rate_;  // --min-request-body-rate
  bool continue_sent_ = false;
  bool body_read_started_ = false;
  bool client_gone_ = false;  // the connection's client is gone (before or after a response)
  Framing framing_;

  // A WebSocket the app accepted: the answer still to send, then the session while it lasts.
  gateway::WebSocketAccept websocket_accept_;
  gateway::Exchange::AcceptHandler accept_handler_;
  std::weak_ptr<WebSocketSession<Stream>> websocket_;
  bool websocket_over_ = false;

  // A body piece in the output queue, after `before` (the output queued ahead of it): either
  // bytes the app handed over (`data`, at least kGatherMin), or a file's bytes for sendfile(2)
  // (`data` empty), whose fd is the app's, open until the handler runs (and may be a bad one:
  // sendfile(2) says so).
  struct Piece {
    std::string before;
    gateway::BodyPiece data;
    int fd = -1;
    std::uint64_t offset = 0;
    std::uint64_t left = 0;
    std::uint64_t exchange = 0;  // requests_ when it was queued: whose body it is
    bool last = false;           // ends the body once sent
    gateway::error_code result;  // what the handler hears once the bytes are sent
    gateway::Exchange::Handler handler;
    bool is_file() const noexcept { return data.empty(); }
  };
  // A gathered write in flight: the bytes it sends, in order, and their buffers.
  struct Gathered {
    std::vector<gateway::BodyPiece> parts;
    std::vector<asio::const_buffer> buffers;
    std::uint64_t bytes = 0;
  };

  // Output: `out_` collects, `writing_` (or `gathered_`) is on the wire; pieces queued before
  // `out_`, in order, each after its `before` bytes.
  std::string out_;
  std::string writing_;
  // Allocated by the first gathered write; an idle connection that never had one holds none.
  std::unique_ptr<Gathered> gathered_;
  // A list, not a deque: an empty std::deque allocates (a map and a 512-byte node), and every
  // idle connection holds this queue empty (docs/benchmarks.md, memory per idle connection).
  std::list<Piece> pieces_;
  bool write_in_flight_ = false;
  clock::time_point write_started_;  // the write in flight began or last made progress
  std::size_t write_progress_ = 0;   // bytes of the write in flight the kernel has taken
  std::uint64_t sent_total_ = 0;     // bytes the kernel has taken, over the connection's life
  // --min-response-rate, over the connection's life: bytes the client acknowledged, and the
  // time it had bytes of ours waiting, as sampled at the watchdog's wake-ups.
  gateway::RateMeter send_rate_;
  std::uint64_t acknowledged_ = 0;
  clock::time_point send_sampled_;
  bool send_waiting_ = false;          // bytes were waiting for the client at the last sample
  std::uint64_t waited_for_ = 0;       // sent_total_ at the last sample
  bool writing_at_look_ = false;       // a write was in flight at the last sample
  gateway::BudgetShare output_share_;  // output past the high-water mark, from the budget
  bool write_failed_ = false;
};

}  // namespace junction::http1
