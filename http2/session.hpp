// One HTTP/2 server session (RFC 9113) over nghttp2 in memory mode, without I/O: the
// connection hands it what it read (receive) and sends what it produces (produce). Each request
// stream becomes a gateway::Exchange (stream.hpp) handed to the router once its head is in.
//
// Request bodies use app-driven flow control: WINDOW_UPDATEs go out only as the app reads
// (NGHTTP2_OPT_NO_AUTO_WINDOW_UPDATE + nghttp2_session_consume), so a slow app makes us buffer
// at most a stream window per stream and the connection window in all. Response bodies queue
// per stream up to kStreamHighWater before the app's write handler waits; a data provider
// defers while nothing is queued.
//
// nghttp2 callbacks never do I/O, never throw and never call into apps: they record what
// happened, and receive() hands new streams and body bytes to apps once nghttp2 returns.
#pragma once

#include <nghttp2/nghttp2.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/access_log.hpp"
#include "gateway/connection.hpp"
#include "gateway/errors.hpp"
#include "gateway/exchange.hpp"
#include "gateway/exchange_state.hpp"
#include "gateway/forwarded.hpp"
#include "gateway/min_rate.hpp"
#include "gateway/options.hpp"
#include "gateway/router.hpp"
#include "http2/options.hpp"

namespace junction::http2 {

namespace asio = boost::asio;
using gateway::error_code;

// What a session needs from the connection that carries it.
class SessionHost {
 public:
  virtual ~SessionHost() = default;
  // The session has frames to send (an app wrote, a window opened): flush when not busy.
  virtual void on_session_output() = 0;
};

// A fixed one-second window counter: the flood defences count events per second.
struct RateCounter {
  std::chrono::steady_clock::time_point window_start;
  std::uint32_t count = 0;
  // Counts one event; true when more than `limit` fell in the current second.
  bool exceeded(std::uint32_t limit, std::chrono::steady_clock::time_point now) noexcept {
    if (now - window_start >= std::chrono::seconds(1)) {
      window_start = now;
      count = 0;
    }
    return ++count > limit;
  }
};

// What the session refers to; outlives it (the server's, or a test's).
struct SessionContext {
  const gateway::Limits& limits;
  const gateway::Timeouts& timeouts;
  const gateway::Router& router;
  gateway::AccessLog* access_log = nullptr;
  const Options& options;
  const gateway::ForwardedPolicy* forwarded = nullptr;  // ConnectionContext::forwarded
  std::string_view hsts;                                // ConnectionContext::hsts
  gateway::ProcessMetrics metrics;                      // ConnectionContext::metrics
  std::string_view request_id_header;                   // ConnectionContext::request_id_header
  gateway::ByteBudget* response_budget = nullptr;       // ConnectionContext::response_budget
};

class StreamExchange;

class Session : public std::enable_shared_from_this<Session> {
 public:
  using executor_type = asio::io_context::executor_type;
  using clock = std::chrono::steady_clock;

  // Response bytes one stream may queue before the app's write handler waits for the client.
  static constexpr std::size_t kStreamHighWater = 64 * 1024;
  // Past the high-water mark, bytes a stream may hold from --response-buffer-total so that its
  // app's writes complete without waiting for a slow reader (as HTTP/1.1's kBufferedOutputMax).
  static constexpr std::size_t kStreamBufferedMax = 4 << 20;
  // Flood defences (per connection, per second): past these the client gets GOAWAY
  // ENHANCE_YOUR_CALM and the connection closes.
  static constexpr std::uint32_t kMaxResetsPerSecond = 200;         // CVE-2023-44487
  static constexpr std::uint32_t kMaxEmptyDataPerSecond = 100;      // DATA, no payload, no END
  static constexpr std::uint32_t kMaxControlFramesPerSecond = 200;  // SETTINGS and PING
  static constexpr std::size_t kMaxContinuations = 8;               // CVE-2024-28182
  static constexpr std::size_t kMaxOutboundAcks = 1000;
  static constexpr std::size_t kMaxSettingsEntries = 32;

  // A stream's state; shared by the session (while it is open) and its exchange. The
  // response's state machine and the app's waiters are the ones HTTP/1.1 keeps too.
  struct Stream {
    std::int32_t id = 0;
    gateway::RequestHead head;
    std::size_t header_bytes = 0;
    std::size_t header_fields = 0;
    bool head_too_large = false;
    bool unknown_expectation = false;  // an Expect other than 100-continue: 417
    bool dispatched = false;           // handed to the app
    std::size_t route = 0;             // the router's index for it (/metrics)
    gateway::GaugeHold in_flight;      // dispatched and not over
    gateway::GaugeHold open;           // HTTP/2 streams open now
    bool closed = false;               // nghttp2 closed it: everything the app does now fails
    gateway::ExchangeState state;

    // Request body: received bytes not yet read by the app (each unconsumed in nghttp2).
    std::string body;
    std::size_t body_offset = 0;
    std::size_t unconsumed = 0;  // buffered bytes whose window we have not given back
    std::uint64_t body_received = 0;
    clock::time_point last_body;   // body bytes last came (or the app began to wait)
    gateway::RateMeter body_rate;  // --min-request-body-rate: waited while the app reads
    bool continue_sent = false;    // RFC 9110 §10.1.1: 100 (Continue) went out

    // Response.
    bool no_body = false;  // HEAD request or a bodiless status: writes are dropped
    bool has_trailers = false;
    gateway::Headers trailers;
    std::deque<gateway::BodyPiece> out;  // queued body bytes; out_offset into the front
    std::size_t out_offset = 0;
    std::size_t queued = 0;
    clock::time_point last_progress;    // the client last took bytes of this stream
    gateway::RateMeter send_rate;       // --min-response-rate: taken, and waited while queued
    gateway::BudgetShare output_share;  // queued past kStreamHighWater, from the budget
  };

  Session(executor_type executor, const SessionContext& context, SessionHost& host,
          gateway::Address client, gateway::Address server);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  executor_type get_executor() const noexcept { return executor_; }

  // No stream open: since when (Closable::idle_since).
  std::optional<clock::time_point> idle_since() const noexcept {
    if (closed_ || !streams_.empty()) return std::nullopt;
    return last_active_;
  }

  // The connection is TLS: every request carries what its handshake settled. Before start().
  void set_tls(std::shared_ptr<const gateway::TlsInfo> tls) noexcept { tls_ = std::move(tls); }

  // Queues our SETTINGS and the connection window. False when nghttp2 cannot start.
  // `upgraded`: the HTTP/1.1 request of an h2c upgrade (RFC 7540 §3.2) with its decoded
  // HTTP2-Settings payload; it becomes stream 1, half-closed (remote), handed to its app by the
  // next receive(). False too when nghttp2 rejects the settings.
  bool start(const gateway::RequestHead* upgraded = nullptr,
             std::string_view upgrade_settings = {});

  // Whether nghttp2 takes `settings` (an HTTP2-Settings payload, decoded) for an h2c upgrade:
  // checked on a scratch session before the 101 commits the connection to HTTP/2.
  static bool accepts_upgrade(std::string_view settings, bool head_request);

  // Feeds bytes read from the client, then hands new streams and body bytes to apps.
  // False on a connection error: a GOAWAY may be queued; produce() it, then close.
  bool receive(std::span<const char> bytes);

  // Appends frames to send to `out`, up to about `limit` bytes. False on a fatal error.
  bool produce(std::string& out, std::size_t limit);

  // The session is over: nghttp2 wants neither to read nor to write.
  bool done() const noexcept;
  bool wants_read() const noexcept;
  // Inside receive() or produce(): nghttp2 may not be re-entered.
  bool busy() const noexcept { return busy_; }
  std::size_t open_streams() const noexcept { return streams_.size(); }

  // Graceful shutdown (RFC 9113 §6.8): a GOAWAY notice at once; the final GOAWAY with the last
  // stream id after a PING round trip; open streams finish, then the session is done.
  void shutdown();
  // Sends GOAWAY now with `code` and drops every stream (the connection is closing).
  void terminate(std::uint32_t code);
  // The connection is gone: every stream's app hears client_gone; nothing goes out any more.
  void close();

  // Runs from the connection's watchdog: an idle session ends (GOAWAY NO_ERROR); a stream
  // whose client takes none of its queued response for --timeout-send is reset.
  void on_tick(clock::time_point now);

  // --- What StreamExchange calls (on the connection's thread) -----------------------------
  void read_body(const std::shared_ptr<Stream>& stream, std::span<char> into,
                 gateway::Exchange::ReadHandler handler);
  void start_response(const std::shared_ptr<Stream>& stream, gateway::ResponseHead head);
  void write(const std::shared_ptr<Stream>& stream, gateway::BodyPiece chunk, bool last,
             gateway::Exchange::Handler handler);
  void finish(const std::shared_ptr<Stream>& stream, gateway::Headers trailers,
              gateway::Exchange::Handler handler);
  void abort(const std::shared_ptr<Stream>& stream);
  void on_client_gone(const std::shared_ptr<Stream>& stream, std::function<void()> callback);

  // nghttp2 callbacks (static trampolines in session.cpp forward here).
  int on_begin_frame(const nghttp2_frame_hd& hd) noexcept;
  int on_begin_headers(const nghttp2_frame& frame) noexcept;
  int on_header(const nghttp2_frame& frame, std::string_view name, std::string_view value) noexcept;
  int on_frame_recv(const nghttp2_frame& frame) noexcept;
  int on_data_chunk(std::int32_t stream_id, std::span<const std::uint8_t> data) noexcept;
  int on_frame_send(const nghttp2_frame& frame) noexcept;
  int on_stream_close(std::int32_t stream_id, std::uint32_t error_code) noexcept;
  ssize_t on_read_data(std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                       std::uint32_t* flags) noexcept;
  // The data provider's read callback for response bodies: forwards to on_read_data.
  static ssize_t read_data(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf,
                           std::size_t length, std::uint32_t* flags, nghttp2_data_source* source,
                           void* user);

 private:
  std::shared_ptr<Stream> find(std::int32_t id) const noexcept;
  bool open_upgraded(const gateway::RequestHead& request, std::string_view settings);
  void dispatch(const std::shared_ptr<Stream>& stream);
  void send_continue(Stream& stream);
  void serve_read(Stream& stream);
  void serve_fed();
  void serve_fed_soon();
  void fail_body(Stream& stream, gateway::errc error, int status);
  void refuse(Stream& stream, int status);
  error_code submit_head(Stream& stream, std::optional<std::uint64_t> known_length, bool ends_now);
  error_code writable(const Stream& stream) const noexcept;
  void end_body(Stream& stream);
  void reset(Stream& stream, std::uint32_t code);
  void lose(Stream& stream);
  int calm_down() noexcept;
  void notify_output();
  void log_access(Stream& stream, bool completed);
  void count_stream(Stream& stream);
  std::size_t max_header_list_size() const noexcept;

  executor_type executor_;
  const SessionContext& context_;
  SessionHost* host_;
  // --forwarded-allow-ips: what this connection's peer may say about its streams' client,
  // scheme and host; null when the peer is not trusted.
  const gateway::ForwardedPolicy* forwarded_;
  gateway::Address client_;
  gateway::Address server_;
  std::shared_ptr<const gateway::TlsInfo> tls_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<std::int32_t, std::shared_ptr<Stream>> streams_;
  std::vector<std::shared_ptr<Stream>> ready_;  // heads complete, for receive() to dispatch
  std::vector<std::shared_ptr<Stream>> fed_;    // got body bytes or their end during receive()
  bool busy_ = false;
  bool closed_ = false;
  bool shutting_down_ = false;
  bool goaway_sent_ = false;
  bool terminated_ = false;
  clock::time_point notice_sent_;
  clock::time_point last_active_;
  clock::time_point last_tick_;  // on_tick: the body waits of streams add up between ticks
  RateCounter resets_;
  RateCounter empty_data_;
  RateCounter control_frames_;
  // Client stream ids (RFC 9113 §5.1.1): the highest opened so far, and the ranges it skipped,
  // which are closed for good. A few ranges at most are kept (clients count up by 2).
  std::int32_t highest_client_stream_ = 0;
  std::vector<std::pair<std::int32_t, std::int32_t>> skipped_streams_;
};

}  // namespace junction::http2
