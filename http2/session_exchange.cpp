// One HTTP/2 session, the apps' side: what StreamExchange calls (stream.hpp) on the
// connection's thread, and how a stream's request reaches its app. The nghttp2 side (frames in
// and out, the callbacks, the timeouts) is session.cpp.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstring>

#include "gateway/errors.hpp"
#include "gateway/fields.hpp"
#include "gateway/http_date.hpp"
#include "gateway/text.hpp"
#include "http2/field_list.hpp"
#include "http2/session.hpp"
#include "http2/stream.hpp"

namespace junction::http2 {

namespace gw = junction::gateway;

void Session::dispatch(const std::shared_ptr<Stream>& stream) {
  auto& head = stream->head;
  if (stream->head_too_large) return refuse(*stream, 431);
  if (head.content_length && *head.content_length > context_.limits.max_body_size) {
    stream->state.body_error = gw::errc::body_too_large;
    return refuse(*stream, 413);
  }
  // CONNECT (RFC 9113 §8.5) carries no :path; tunnels are not ours to serve.
  if (head.method == "CONNECT") return refuse(*stream, 501);
  if (stream->unknown_expectation) return refuse(*stream, 417);
  stream->dispatched = true;
  stream->in_flight = gw::GaugeHold(context_.metrics, gw::gauge::in_flight);
  auto exchange = std::make_shared<StreamExchange>(shared_from_this(), stream);
  stream->route = context_.router.dispatch(std::move(exchange));
}

void Session::read_body(const std::shared_ptr<Stream>& stream, std::span<char> into,
                        gw::Exchange::ReadHandler handler) {
  if (!stream->state.wait_read(executor_, into, std::move(handler))) return;
  stream->last_body = clock::now();
  send_continue(*stream);
  serve_read(*stream);
}

// RFC 9110 §10.1.1: 100 (Continue) goes out when the app first asks for the body, as over
// HTTP/1.1, and never once a final response has begun (RFC 9113 §8.1: 1xx is a HEADERS frame
// before the final one).
void Session::send_continue(Stream& stream) {
  if (!stream.head.expect_continue || stream.continue_sent || stream.state.head_sent ||
      stream.closed || closed_)
    return;
  stream.continue_sent = true;
  FieldList list;
  list.fields = {{":status", "100"}};
  auto nv = list.nv();
  nghttp2_submit_headers(session_, NGHTTP2_FLAG_NONE, stream.id, nullptr, nv.data(), nv.size(),
                         nullptr);
  notify_output();
}

// Delivers buffered body bytes (or the end, or an error) to the app's outstanding read, and
// opens the windows by what it took.
void Session::serve_read(Stream& stream) {
  if (!stream.state.reading()) return;
  if (stream.body_offset < stream.body.size()) {
    auto into = stream.state.read_buffer();
    auto n = std::min(stream.body.size() - stream.body_offset, into.size());
    std::memcpy(into.data(), stream.body.data() + stream.body_offset, n);
    stream.body_offset += n;
    if (stream.body_offset == stream.body.size()) {
      stream.body.clear();
      stream.body_offset = 0;
    }
    auto consumed = std::min(n, stream.unconsumed);
    stream.unconsumed -= consumed;
    if (consumed > 0 && !closed_) {
      nghttp2_session_consume(session_, stream.id, consumed);
      notify_output();
    }
    return stream.state.complete_read(executor_, {}, n);
  }
  if (stream.state.body_error)
    return stream.state.complete_read(executor_, stream.state.body_error, 0);
  if (stream.state.body_done)
    return stream.state.complete_read(executor_, gw::errc::end_of_body, 0);
  if (stream.closed) return stream.state.complete_read(executor_, gw::errc::client_gone, 0);
}

// The body cannot be read on: the app hears why, and the client gets `status` when no
// response has begun, else a reset.
void Session::fail_body(Stream& stream, gw::errc error, int status) {
  stream.state.body_error = error;
  stream.body.clear();
  stream.body_offset = 0;
  if (stream.unconsumed > 0 && !stream.closed)
    nghttp2_session_consume(session_, stream.id, stream.unconsumed);
  stream.unconsumed = 0;
  if (!stream.state.head_sent) {
    refuse(stream, status);
  } else {
    reset(stream, NGHTTP2_CANCEL);
  }
  stream.state.complete_read(executor_, error, 0);
}

// A response of our own, without a body: 4xx/5xx for requests the app never sees (or that
// failed before its head).
void Session::refuse(Stream& stream, int status) {
  if (stream.closed || stream.state.head_sent) return;
  stream.state.head_sent = stream.state.head_started = stream.state.body_ended = true;
  stream.state.status = status;
  FieldList list;
  list.fields = {{":status", std::to_string(status)},
                 {"content-length", "0"},
                 {"date", std::string(gw::http_date_now())},
                 {"server", "junction"}};
  if (!stream.head.request_id.empty())
    list.fields.emplace_back(lower(context_.request_id_header), stream.head.request_id);
  auto nv = list.nv();
  nghttp2_submit_response(session_, stream.id, nv.data(), nv.size(), nullptr);
  stream.state.release_writes(executor_, gw::errc::response_state);
  notify_output();
}

void Session::start_response(const std::shared_ptr<Stream>& stream, gw::ResponseHead head) {
  if (!stream->closed) stream->state.start(std::move(head));
}

// Submits the response head. `known_length` is the whole body's size when the first write is
// also the last; `ends_now` when there is no body at all (END_STREAM on HEADERS).
error_code Session::submit_head(Stream& stream, std::optional<std::uint64_t> known_length,
                                bool ends_now) {
  const auto& response = stream.state.response;
  int status = response.status;
  if (status < 200 || status > 999) return gw::errc::invalid_response;
  FieldList list;
  list.fields.emplace_back(":status", std::to_string(status));
  bool has_date = false, has_server = false;
  bool has_hsts = !tls_ || context_.hsts.empty();  // RFC 6797 §7.2: only over TLS
  bool has_request_id = stream.head.request_id.empty();
  for (const auto& [name, value] : response.headers) {
    if (!gw::valid_field_name(name) || !gw::valid_field_value(value))
      return gw::errc::invalid_response;
    if (gw::is_hop_by_hop(name)) continue;
    auto field = lower(name);  // RFC 9113 §8.2.1: field names are lower case on the wire
    if (field == "content-length") {
      auto length = gw::parse_content_length(value);
      auto& declared = stream.state.declared_length;
      if (!length || (declared && *declared != *length)) return gw::errc::invalid_response;
      if (declared) continue;
      declared = length;
    }
    has_date = has_date || field == "date";
    has_server = has_server || field == "server";
    has_hsts = has_hsts || field == "strict-transport-security";
    has_request_id = has_request_id || gw::iequals(field, context_.request_id_header);
    list.fields.emplace_back(std::move(field), value);
  }
  stream.no_body = stream.head.method == "HEAD" || status == 204 || status == 304;
  if (!stream.state.declared_length && known_length && status != 204 && status != 304)
    list.fields.emplace_back("content-length", std::to_string(*known_length));
  if (!has_date) list.fields.emplace_back("date", gw::http_date_now());
  if (!has_server) list.fields.emplace_back("server", "junction");
  if (!has_hsts) list.fields.emplace_back("strict-transport-security", context_.hsts);
  if (!has_request_id)
    list.fields.emplace_back(lower(context_.request_id_header), stream.head.request_id);
  auto nv = list.nv();
  nghttp2_data_provider provider{};
  provider.read_callback = &Session::read_data;
  int rv = nghttp2_submit_response(session_, stream.id, nv.data(), nv.size(),
                                   stream.no_body || ends_now ? nullptr : &provider);
  if (rv != 0) return gw::errc::client_gone;
  stream.state.head_sent = true;
  stream.state.status = status;
  stream.last_progress = clock::now();
  return {};
}

error_code Session::writable(const Stream& stream) const noexcept {
  if (closed_) return gw::errc::client_gone;
  if (auto ec = stream.state.writable()) return ec;
  // A bodiless response (HEAD, 204, 304) ended with its head; the app's body is dropped, as
  // over HTTP/1.1, even once the stream has closed.
  if (stream.closed || stream.state.response_done)
    return stream.no_body ? error_code{} : gw::errc::client_gone;
  return {};
}

void Session::write(const std::shared_ptr<Stream>& stream, gw::BodyPiece chunk, bool last,
                    gw::Exchange::Handler handler) {
  auto ec = writable(*stream);
  if (!ec && !stream->state.head_sent)
    ec = submit_head(*stream, last ? std::optional<std::uint64_t>(chunk.size()) : std::nullopt,
                     last && chunk.empty());
  if (!ec) {
    chunk.truncate(stream->state.take_body(chunk.size(), ec));
    if (!stream->no_body && !chunk.empty()) {
      if (stream->queued == 0) stream->last_progress = clock::now();
      stream->queued += chunk.size();
      stream->out.push_back(std::move(chunk));
    }
    if (last) end_body(*stream);
    if (!stream->no_body && !stream->closed) nghttp2_session_resume_data(session_, stream->id);
    notify_output();
  }
  if (!handler) return;
  if (ec || stream->queued <= kStreamHighWater ||
      stream->output_share.cover(stream->queued - kStreamHighWater, kStreamBufferedMax))
    gw::ExchangeState::complete_write(executor_, std::move(handler), ec);
  else
    stream->state.hold_write(std::move(handler));
}

void Session::finish(const std::shared_ptr<Stream>& stream, gw::Headers trailers,
                     gw::Exchange::Handler handler) {
  auto ec = writable(*stream);
  bool send_trailers = !trailers.empty();
  if (!ec && !stream->state.head_sent)
    ec = submit_head(*stream, send_trailers ? std::nullopt : std::optional<std::uint64_t>(0),
                     !send_trailers);
  if (!ec) {
    if (send_trailers && !stream->no_body) {
      for (auto& [name, value] : trailers) {
        if (!gw::valid_field_name(name) || !gw::valid_field_value(value) || gw::is_hop_by_hop(name))
          continue;
        stream->trailers.emplace_back(lower(name), std::move(value));
      }
      stream->has_trailers = !stream->trailers.empty();
    }
    end_body(*stream);
    if (!stream->no_body && !stream->closed) nghttp2_session_resume_data(session_, stream->id);
    notify_output();
  }
  gw::ExchangeState::complete_write(executor_, std::move(handler), ec);
}

void Session::end_body(Stream& stream) {
  stream.state.body_ended = true;
  // Less than the app's own Content-Length: the client must see a cut response.
  if (!stream.no_body && stream.state.short_of_declared()) reset(stream, NGHTTP2_INTERNAL_ERROR);
}

void Session::abort(const std::shared_ptr<Stream>& stream) {
  if (stream->closed || stream->state.response_done || closed_) return;
  if (!stream->state.head_sent) return refuse(*stream, 500);
  // RFC 9113 §8.1: a response cut short is a stream reset, never a complete one.
  reset(*stream, NGHTTP2_INTERNAL_ERROR);
}

void Session::reset(Stream& stream, std::uint32_t code) {
  stream.state.response_done = true;
  stream.state.body_ended = true;
  stream.out.clear();
  stream.out_offset = 0;
  stream.queued = 0;
  stream.state.release_writes(executor_, gw::errc::client_gone);
  if (!stream.closed && !closed_) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream.id, code);
    notify_output();
  }
}

void Session::on_client_gone(const std::shared_ptr<Stream>& stream,
                             std::function<void()> callback) {
  stream->state.on_client_gone(executor_, std::move(callback));
}

// The client went away before the response was complete: the app hears it once, its reads
// and writes fail from now on.
void Session::lose(Stream& stream) {
  stream.state.lose(executor_);
}

void Session::notify_output() {
  if (!busy_ && host_) host_->on_session_output();
}

// Once per dispatched stream, when it closes: /metrics counts it (answered or not), the access
// log shows it when it was answered.
void Session::log_access(Stream& stream, bool completed) {
  if (!stream.dispatched) return;
  stream.in_flight.release();
  gw::record_exchange(context_.metrics, context_.access_log, stream.head, stream.route,
                      stream.state.status, completed, stream.state.body_bytes);
}

void Session::count_stream(Stream& stream) {
  if (!context_.metrics) return;
  context_.metrics.add(gw::counter::http2_streams);
  stream.open = gw::GaugeHold(context_.metrics, gw::gauge::http2_streams_open);
}

}  // namespace junction::http2
