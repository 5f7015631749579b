#include "http2/session.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstring>

#include "gateway/errors.hpp"
#include "gateway/fields.hpp"
#include "gateway/http_date.hpp"
#include "gateway/text.hpp"
#include "http2/field_list.hpp"
#include "http2/stream.hpp"

namespace junction::http2 {

namespace gw = junction::gateway;

namespace {

Session& self(void* user_data) noexcept {
  return *static_cast<Session*>(user_data);
}

std::string_view view(const std::uint8_t* data, std::size_t size) noexcept {
  return {reinterpret_cast<const char*>(data), size};
}

// The callback table, built once: static trampolines forward to noexcept members.
nghttp2_session_callbacks* callbacks() {
  static nghttp2_session_callbacks* table = [] {
    nghttp2_session_callbacks* cbs = nullptr;
    if (nghttp2_session_callbacks_new(&cbs) != 0) return cbs;
    nghttp2_session_callbacks_set_on_begin_frame_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame_hd* hd, void* user) {
          return self(user).on_begin_frame(*hd);
        });
    nghttp2_session_callbacks_set_on_begin_headers_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* frame, void* user) {
          return self(user).on_begin_headers(*frame);
        });
    nghttp2_session_callbacks_set_on_header_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                std::size_t namelen, const std::uint8_t* value, std::size_t valuelen, std::uint8_t,
                void* user) {
          return self(user).on_header(*frame, view(name, namelen), view(value, valuelen));
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* frame, void* user) {
          return self(user).on_frame_recv(*frame);
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cbs, [](nghttp2_session*, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
                std::size_t len, void* user) {
          return self(user).on_data_chunk(stream_id, {data, len});
        });
    nghttp2_session_callbacks_set_on_frame_send_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* frame, void* user) {
          return self(user).on_frame_send(*frame);
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cbs, [](nghttp2_session*, std::int32_t stream_id, std::uint32_t code, void* user) {
          return self(user).on_stream_close(stream_id, code);
        });
    return cbs;
  }();
  return table;
}

}  // namespace

Session::Session(executor_type executor, const SessionContext& context, SessionHost& host,
                 gw::Address client, gw::Address server)
    : executor_(executor),
      context_(context),
      host_(&host),
      forwarded_(gw::forwarded_for_peer(context.forwarded, client)),
      client_(std::move(client)),
      server_(std::move(server)),
      last_active_(clock::now()) {}

Session::~Session() {
  if (session_) nghttp2_session_del(session_);
}

std::size_t Session::max_header_list_size() const noexcept {
  return context_.options.max_header_list_size.value_or(
      static_cast<std::uint32_t>(context_.limits.header_block_size));
}

namespace {

// The options every server session runs with.
nghttp2_option* new_options() {
  nghttp2_option* option = nullptr;
  if (nghttp2_option_new(&option) != 0) return nullptr;
  // Request bodies open the windows only as apps read them (see the header comment).
  nghttp2_option_set_no_auto_window_update(option, 1);
  // Flood defences nghttp2 implements: SETTINGS entries per frame, queued SETTINGS/PING acks
  // (a client that floods and never reads), CONTINUATION frames per header block
  // (CVE-2024-28182) and the RST_STREAM token bucket (CVE-2023-44487), behind our own count.
  nghttp2_option_set_max_settings(option, Session::kMaxSettingsEntries);
  nghttp2_option_set_max_outbound_ack(option, Session::kMaxOutboundAcks);
  nghttp2_option_set_max_continuations(option, Session::kMaxContinuations);
  nghttp2_option_set_stream_reset_rate_limit(option, 1000, 33);
  return option;
}

// RFC 7540 §3.2: the upgrade's HTTP2-Settings count as the client's first SETTINGS, and the
// request as stream 1. nghttp2 refuses a malformed payload; values it must not accept (§6.5.2)
// make it queue a GOAWAY instead, so a session that wants to write after it (nothing else is
// queued yet) refused them too.
bool upgrade_session(nghttp2_session* session, std::string_view settings, bool head_request) {
  auto rv =
      nghttp2_session_upgrade2(session, reinterpret_cast<const std::uint8_t*>(settings.data()),
                               settings.size(), head_request, nullptr);
  return rv == 0 && nghttp2_session_want_write(session) == 0;
}

}  // namespace

bool Session::accepts_upgrade(std::string_view settings, bool head_request) {
  // No callbacks: the scratch session has no Session behind it.
  static nghttp2_session_callbacks* none = [] {
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    return cbs;
  }();
  auto* cbs = none;
  auto* option = new_options();
  if (!cbs || !option) {
    if (option) nghttp2_option_del(option);
    return false;
  }
  nghttp2_session* scratch = nullptr;
  int rv = nghttp2_session_server_new2(&scratch, cbs, nullptr, option);
  nghttp2_option_del(option);
  if (rv != 0) return false;
  bool ok = upgrade_session(scratch, settings, head_request);
  nghttp2_session_del(scratch);
  return ok;
}

bool Session::start(const gw::RequestHead* upgraded, std::string_view upgrade_settings) {
  auto* cbs = callbacks();
  if (!cbs) return false;
  auto* option = new_options();
  if (!option) return false;
  int rv = nghttp2_session_server_new2(&session_, cbs, this, option);
  nghttp2_option_del(option);
  if (rv != 0) return false;
  // Before our SETTINGS are queued: upgrade_session() tells a refusal by queued output.
  if (upgraded && !open_upgraded(*upgraded, upgrade_settings)) return false;

  const auto& o = context_.options;
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, o.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, o.initial_window_size},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, o.max_frame_size},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(max_header_list_size())},
  };
  if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings)) != 0)
    return false;
  // RFC 9113 §6.9.2: the connection window starts at 65,535 and only WINDOW_UPDATE raises it.
  if (o.connection_window_size > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE)
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                          static_cast<std::int32_t>(o.connection_window_size));
  return true;
}

// Stream 1 of an h2c upgrade: the HTTP/1.1 request, as HTTP/2 would have carried it.
bool Session::open_upgraded(const gw::RequestHead& request, std::string_view settings) {
  if (!upgrade_session(session_, settings, request.method == "HEAD")) return false;
  try {
    auto stream = std::make_shared<Stream>();
    stream->output_share.draw_from(context_.response_budget);
    stream->id = 1;
    auto& head = stream->head;
    head = request;
    head.version = {2, 0};
    head.expect_continue = false;
    head.websocket = false;
    // RFC 9113 §8.2.2: no connection-specific fields in HTTP/2; names are lower case (§8.2.1).
    std::vector<std::string> named;  // what Connection names is hop-by-hop too
    for (const auto& [name, value] : request.headers)
      if (gw::iequals(name, "connection"))
        gw::for_each_list_element(value,
                                  [&](std::string_view option) { named.push_back(lower(option)); });
    head.headers.clear();
    for (const auto& [name, value] : request.headers) {
      auto field = lower(name);
      if (gw::is_hop_by_hop(field) || field == "http2-settings" || field == "te" ||
          std::find(named.begin(), named.end(), field) != named.end())
        continue;
      head.headers.emplace_back(std::move(field), value);
    }
    stream->header_fields = head.headers.size();
    stream->state.body_done = true;
    stream->last_body = head.received_at;
    count_stream(*stream);
    streams_.emplace(1, stream);
    ready_.push_back(std::move(stream));
  } catch (...) {
    return false;
  }
  return true;
}

bool Session::receive(std::span<const char> bytes) {
  if (closed_ || !session_) return false;
  busy_ = true;
  auto rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                     bytes.size());
  busy_ = false;
  last_active_ = clock::now();
  if (rv < 0 && !terminated_) {
    // nghttp2 answers protocol errors itself; what comes back here is fatal for the session.
    terminated_ = true;
    nghttp2_session_terminate_session(
        session_, rv == NGHTTP2_ERR_FLOODED || rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS
                      ? NGHTTP2_ENHANCE_YOUR_CALM
                      : NGHTTP2_PROTOCOL_ERROR);
  }
  // Now outside nghttp2: hand complete heads to apps, body bytes to waiting reads.
  auto ready = std::move(ready_);
  ready_.clear();
  for (auto& stream : ready)
    if (!stream->closed && !terminated_) dispatch(stream);
  serve_fed();
  return rv >= 0 && !terminated_;
}

// Streams that got body bytes, their end or their close while nghttp2 ran: their waiting
// reads are served now, outside it.
void Session::serve_fed() {
  auto fed = std::move(fed_);
  fed_.clear();
  for (auto& stream : fed) serve_read(*stream);
}

bool Session::produce(std::string& out, std::size_t limit) {
  if (closed_ || !session_) return false;
  while (out.size() < limit) {
    const std::uint8_t* data = nullptr;
    busy_ = true;
    auto n = nghttp2_session_mem_send(session_, &data);
    busy_ = false;
    if (n < 0) {
      serve_fed_soon();
      return false;
    }
    if (n == 0) break;
    out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  // nghttp2 closes streams while it sends too (our RST_STREAM, the last DATA of a finished
  // exchange): a read waiting on one of them must hear it soon, not at the next receive(),
  // which may never come. Posted: serving a read may ask for output, and we are producing it.
  serve_fed_soon();
  return true;
}

void Session::serve_fed_soon() {
  if (fed_.empty()) return;
  asio::post(executor_, [self = shared_from_this()] {
    if (!self->busy_) self->serve_fed();
  });
}

bool Session::done() const noexcept {
  return closed_ || !session_ ||
         (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0);
}

bool Session::wants_read() const noexcept {
  return !closed_ && session_ && nghttp2_session_want_read(session_) != 0;
}

void Session::shutdown() {
  if (closed_ || !session_ || shutting_down_) return;
  shutting_down_ = true;
  if (streams_.empty()) {
    goaway_sent_ = true;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                          nullptr, 0);
  } else {
    // RFC 9113 §6.8: a GOAWAY with the largest stream id first, so requests in flight towards
    // us are not lost; the real last stream id follows once a PING has made the round trip.
    nghttp2_submit_shutdown_notice(session_);
    nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
    notice_sent_ = clock::now();
  }
  notify_output();
}

void Session::terminate(std::uint32_t code) {
  if (closed_ || !session_ || terminated_) return;
  terminated_ = true;
  nghttp2_session_terminate_session(session_, code);
  notify_output();
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  host_ = nullptr;
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, stream] : streams) {
    stream->closed = true;
    if (!stream->state.response_done) lose(*stream);
    stream->state.complete_read(executor_, gw::errc::client_gone, 0);
  }
  serve_fed();
}

void Session::on_tick(clock::time_point now) {
  if (closed_ || !session_) return;
  const auto& t = context_.timeouts;
  auto send_limit = std::chrono::duration_cast<clock::duration>(t.send);
  auto body_limit = std::chrono::duration_cast<clock::duration>(t.request_body);
  // The time since the last tick is time a stream reading its body waited for the client.
  auto since_tick = last_tick_ == clock::time_point{} ? clock::duration::zero() : now - last_tick_;
  last_tick_ = now;
  std::vector<std::shared_ptr<Stream>> stuck, stalled;
  for (auto& [id, stream] : streams_) {
    bool waiting_for_body = stream->state.reading() && !stream->state.body_done;
    if (waiting_for_body) stream->body_rate.waited(since_tick);
    bool sending = stream->queued > 0 && !stream->state.response_done;
    if (sending) stream->send_rate.waited(since_tick);
    auto send_left = stream->send_rate.allowance(t.min_response_rate, t.min_rate_grace);
    if ((stream->queued > 0 || stream->state.writes_waiting()) && !stream->state.response_done &&
        now - stream->last_progress >= send_limit) {
      stuck.push_back(stream);
    } else if (sending && send_left && *send_left <= clock::duration::zero()) {
      spdlog::debug("HTTP/2 client {}:{} took stream {} slower than --min-response-rate: reset",
                    client_.host, client_.port, stream->id);
      stuck.push_back(stream);
    } else if (waiting_for_body) {
      auto left = stream->body_rate.allowance(t.min_request_body_rate, t.min_rate_grace);
      if (now - stream->last_body >= body_limit || (left && *left <= clock::duration::zero()))
        stalled.push_back(stream);
    }
  }
  // A client that opens no window for a stream's queued response is as gone as one that
  // takes no bytes (--timeout-send); a body that stalls while the app waits is a 408.
  for (auto& stream : stuck) {
    lose(*stream);
    reset(*stream, NGHTTP2_CANCEL);
  }
  for (auto& stream : stalled) fail_body(*stream, gw::errc::body_timeout, 408);
  if (shutting_down_ && !goaway_sent_ && now - notice_sent_ >= std::chrono::seconds(1)) {
    goaway_sent_ = true;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                          nullptr, 0);
  }
  auto idle_limit = std::chrono::duration_cast<clock::duration>(t.keep_alive);
  if (streams_.empty() && !goaway_sent_ && now - last_active_ >= idle_limit) {
    goaway_sent_ = true;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                          nullptr, 0);
  }
  notify_output();
}

// ---------------------------------------------------------------------------------------------
// nghttp2 callbacks: record, never call apps or do I/O.

std::shared_ptr<Session::Stream> Session::find(std::int32_t id) const noexcept {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second;
}

int Session::on_begin_frame(const nghttp2_frame_hd& hd) noexcept {
  // RFC 9113 §5.1.1: a new stream id must be greater than every id the client used, and its
  // first use closes the lower idle ids. nghttp2 ignores a HEADERS on a lower id it no longer
  // holds, because that may be a late trailer on a stream the server reset; an id the client
  // skipped cannot be that, so its HEADERS is a connection error (PROTOCOL_ERROR).
  if (hd.type != NGHTTP2_HEADERS || hd.stream_id % 2 == 0 || terminated_) return 0;
  std::int32_t id = hd.stream_id;
  highest_client_stream_ =
      std::max(highest_client_stream_, nghttp2_session_get_last_proc_stream_id(session_));
  if (id > highest_client_stream_) {
    if (id > highest_client_stream_ + 2) {
      constexpr std::size_t kMaxSkippedRanges = 64;
      if (skipped_streams_.size() == kMaxSkippedRanges)
        skipped_streams_.erase(skipped_streams_.begin());  // forget the oldest: only laxer
      skipped_streams_.emplace_back(highest_client_stream_ + 2, id - 2);
    }
    highest_client_stream_ = id;
    return 0;
  }
  for (const auto& [first, last] : skipped_streams_) {
    if (id < first || id > last) continue;
    terminated_ = true;
    nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  return 0;
}

int Session::on_begin_headers(const nghttp2_frame& frame) noexcept {
  if (frame.hd.type != NGHTTP2_HEADERS || frame.headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  try {
    auto stream = std::make_shared<Stream>();
    stream->output_share.draw_from(context_.response_budget);
    stream->id = frame.hd.stream_id;
    stream->head.version = {2, 0};
    stream->head.client = client_;
    stream->head.server = server_;
    stream->head.tls = tls_;
    stream->head.received_at = clock::now();
    stream->last_body = stream->head.received_at;
    count_stream(*stream);
    streams_.emplace(stream->id, std::move(stream));
  } catch (...) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  return 0;
}

int Session::on_header(const nghttp2_frame& frame, std::string_view name,
                       std::string_view value) noexcept {
  auto stream = find(frame.hd.stream_id);
  if (!stream) return 0;
  // RFC 9113 §6.5.2: the size of a field is its name, its value and 32 bytes. Counting what
  // nghttp2 decoded (not what was sent) stops an HPACK bomb: a few bytes that index a large
  // table entry again and again.
  stream->header_bytes += name.size() + value.size() + 32;
  ++stream->header_fields;
  if (stream->header_bytes > max_header_list_size() ||
      stream->header_fields > context_.limits.header_fields)
    stream->head_too_large = true;
  if (stream->head_too_large || frame.headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  try {
    auto& head = stream->head;
    if (name.starts_with(':')) {
      // nghttp2 has checked the pseudo-header fields (RFC 9113 §8.3): known, once each, first.
      if (name == ":method") {
        head.method = value;
      } else if (name == ":path") {
        head.target = value;
      } else if (name == ":scheme") {
        head.scheme = value;
      } else if (name == ":authority") {
        head.authority = value;
      }
      return 0;
    }
    // nghttp2 has checked it (RFC 9113 §8.1.1).
    if (name == "content-length") head.content_length = gw::parse_content_length(value);
    // RFC 9110 §10.1.1: 100-continue is the only expectation defined (HTTP/1.1 alike).
    if (name == "expect") {
      if (gw::iequals(gw::trim(value), "100-continue"))
        head.expect_continue = true;
      else
        stream->unknown_expectation = true;
    }
    // Cookie fields stay separate (RFC 9113 §8.2.3 lets a client split them); the bridges join.
    head.headers.emplace_back(name, value);
  } catch (...) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  return 0;
}

int Session::on_frame_recv(const nghttp2_frame& frame) noexcept {
  auto now = clock::now();
  switch (frame.hd.type) {
    case NGHTTP2_HEADERS: {
      auto stream = find(frame.hd.stream_id);
      if (!stream) break;
      bool end_stream = frame.hd.flags & NGHTTP2_FLAG_END_STREAM;
      if (frame.headers.cat == NGHTTP2_HCAT_REQUEST) {
        auto& head = stream->head;
        auto question = head.target.find('?');
        try {
          head.path = head.target.substr(0, question);
          if (question != std::string::npos) head.query = head.target.substr(question + 1);
          // RFC 9113 §8.3.1: :authority stands in for Host; apps (WSGI's HTTP_HOST) read Host.
          bool has_host = false;
          for (const auto& [name, value] : head.headers) {
            if (name != "host") continue;
            has_host = true;
            if (head.authority.empty()) head.authority = value;
          }
          if (!has_host && !head.authority.empty())
            head.headers.emplace_back("host", head.authority);
          if (forwarded_) gw::apply_forwarded(head, *forwarded_);
          if (!context_.request_id_header.empty())
            gw::assign_request_id(head, lower(context_.request_id_header), forwarded_ != nullptr);
          ready_.push_back(stream);
        } catch (...) {
          return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
        head.has_body = !end_stream;
        // A 100 (Continue) is only for a body still to come (RFC 9110 §10.1.1).
        head.expect_continue = head.expect_continue && head.has_body;
        stream->state.body_done = end_stream;
      } else if (end_stream) {  // trailers end the body
        stream->state.body_done = true;
        if (stream->head_too_large) {
          stream->state.body_error = gw::errc::bad_body;
          reset(*stream, NGHTTP2_REFUSED_STREAM);
        }
        fed_.push_back(stream);
      }
      break;
    }
    case NGHTTP2_DATA: {
      bool end_stream = frame.hd.flags & NGHTTP2_FLAG_END_STREAM;
      // Empty DATA frames cost us work and the client nothing (CVE-2019-9518).
      if (frame.hd.length == 0 && !end_stream && empty_data_.exceeded(kMaxEmptyDataPerSecond, now))
        return calm_down();
      if (!end_stream) break;
      if (auto stream = find(frame.hd.stream_id)) {
        stream->state.body_done = true;
        fed_.push_back(stream);
      }
      break;
    }
    case NGHTTP2_RST_STREAM:
      // Rapid reset (CVE-2023-44487): opening and cancelling streams costs the client one
      // frame each and us a dispatch each; nghttp2's token bucket is the slower backstop.
      if (resets_.exceeded(kMaxResetsPerSecond, now)) return calm_down();
      break;
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PING:
      if (frame.hd.flags & NGHTTP2_FLAG_ACK) {
        if (frame.hd.type == NGHTTP2_PING && shutting_down_ && !goaway_sent_) {
          goaway_sent_ = true;
          nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                                nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                                nullptr, 0);
        }
        break;
      }
      // Each costs us an acknowledgement (CVE-2019-9512, CVE-2019-9515).
      if (control_frames_.exceeded(kMaxControlFramesPerSecond, now)) return calm_down();
      break;
    default:
      break;
  }
  return 0;
}

ssize_t Session::read_data(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf,
                           std::size_t length, std::uint32_t* flags, nghttp2_data_source*,
                           void* user) {
  return static_cast<Session*>(user)->on_read_data(stream_id, buf, length, flags);
}

int Session::calm_down() noexcept {
  if (!terminated_) {
    terminated_ = true;
    spdlog::debug("HTTP/2 client {}:{} flooded the connection: GOAWAY ENHANCE_YOUR_CALM",
                  client_.host, client_.port);
    nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
  }
  // Stops nghttp2 from processing the rest of what was read.
  return NGHTTP2_ERR_CALLBACK_FAILURE;
}

int Session::on_data_chunk(std::int32_t stream_id, std::span<const std::uint8_t> data) noexcept {
  auto stream = find(stream_id);
  auto give_back = [&] {
    if (stream)
      nghttp2_session_consume(session_, stream_id, data.size());
    else
      nghttp2_session_consume_connection(session_, data.size());
  };
  if (!stream || stream->state.body_error) {
    give_back();
    return 0;
  }
  stream->body_received += data.size();
  stream->body_rate.moved(data.size());
  stream->last_body = clock::now();
  if (stream->body_received > context_.limits.max_body_size) {
    give_back();
    fail_body(*stream, gw::errc::body_too_large, 413);
    return 0;
  }
  try {
    stream->body.append(reinterpret_cast<const char*>(data.data()), data.size());
  } catch (...) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  stream->unconsumed += data.size();
  fed_.push_back(stream);
  return 0;
}

int Session::on_frame_send(const nghttp2_frame& frame) noexcept {
  if ((frame.hd.type != NGHTTP2_HEADERS && frame.hd.type != NGHTTP2_DATA) ||
      !(frame.hd.flags & NGHTTP2_FLAG_END_STREAM))
    return 0;
  auto stream = find(frame.hd.stream_id);
  if (!stream) return 0;
  stream->state.response_done = true;
  // RFC 9113 §8.1: a complete response before the complete request; RST_STREAM NO_ERROR asks
  // the client to stop sending the rest without failing the response.
  if (!stream->state.body_done)
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream->id, NGHTTP2_NO_ERROR);
  return 0;
}

int Session::on_stream_close(std::int32_t stream_id, std::uint32_t) noexcept {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return 0;
  auto stream = std::move(it->second);
  streams_.erase(it);
  stream->closed = true;
  last_active_ = clock::now();
  // Its window is gone with it; what the app has not read still holds the connection's.
  if (stream->unconsumed > 0) {
    nghttp2_session_consume_connection(session_, stream->unconsumed);
    stream->unconsumed = 0;
  }
  stream->open.release();
  log_access(*stream, stream->state.response_done);
  if (!stream->state.response_done) {
    lose(*stream);  // a client RST_STREAM (or our reset) before the response was complete
  } else {
    if (!stream->state.body_done && !stream->state.body_error)
      stream->state.body_error = gw::errc::client_gone;
  }
  fed_.push_back(stream);
  if (!busy_) serve_read(*stream);
  return 0;
}

ssize_t Session::on_read_data(std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                              std::uint32_t* flags) noexcept {
  auto stream = find(stream_id);
  if (!stream) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  std::size_t n = 0;
  while (n < length && !stream->out.empty()) {
    auto& front = stream->out.front();
    auto take = std::min(length - n, front.size() - stream->out_offset);
    std::memcpy(buf + n, front.data() + stream->out_offset, take);
    n += take;
    stream->out_offset += take;
    if (stream->out_offset == front.size()) {
      stream->out.pop_front();
      stream->out_offset = 0;
    }
  }
  stream->queued -= n;
  stream->send_rate.moved(n);
  stream->output_share.settle(stream->queued > kStreamHighWater ? stream->queued - kStreamHighWater
                                                                : 0);
  if (n > 0) stream->last_progress = clock::now();
  if (stream->queued <= kStreamHighWater) stream->state.release_writes(executor_, {});
  if (stream->queued > 0 || !stream->state.body_ended)
    return n > 0 ? static_cast<ssize_t>(n) : static_cast<ssize_t>(NGHTTP2_ERR_DEFERRED);
  *flags |= NGHTTP2_DATA_FLAG_EOF;
  if (stream->has_trailers) {
    // RFC 9113 §8.1: trailers are a HEADERS frame that ends the stream.
    *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    try {
      FieldList list;
      for (auto& [name, value] : stream->trailers) list.fields.emplace_back(name, value);
      auto nv = list.nv();
      if (nghttp2_submit_trailer(session_, stream_id, nv.data(), nv.size()) != 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    } catch (...) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
  }
  return ssize_t(n);
}

}  // namespace junction::http2
