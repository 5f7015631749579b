// One HTTP/1.1 connection: the response sink an exchange writes to, and its framing (RFC 9112 §6).
// Part of Connection<Stream> (connection.hpp); included by instances.cpp and the unit tests'
// instantiations only.
#pragma once

#include <boost/asio/post.hpp>

#include "gateway/fields.hpp"
#include "gateway/text.hpp"
#include "http1/connection.hpp"
#include "http1/exchange.hpp"

namespace junction::http1 {

// ---------------------------------------------------------------------------------------
// The response sink (called through ExchangeImpl, on this connection's thread)

template <class Stream>
bool Connection<Stream>::current(const ExchangeImpl* exchange) const noexcept {
  return exchange_.get() == exchange && !closed_;
}

template <class Stream>
void Connection<Stream>::do_read_body(const ExchangeImpl* exchange, std::span<char> into,
                                      gateway::Exchange::ReadHandler handler) {
  auto fail = [&](gateway::error_code ec) {
    asio::post(get_executor(), [h = std::move(handler), ec] { h(ec, 0); });
  };
  if (!current(exchange) || client_gone_) return fail(gateway::errc::client_gone);
  if (!state_.wait_read(get_executor(), into, std::move(handler))) return;
  body_read_started_ = true;
  notify();
}

template <class Stream>
void Connection<Stream>::do_start(const ExchangeImpl* exchange, gateway::ResponseHead head) {
  if (current(exchange)) state_.start(std::move(head));
}

template <class Stream>
void Connection<Stream>::do_write(const ExchangeImpl* exchange, gateway::BodyPiece chunk, bool last,
                                  gateway::Exchange::Handler handler) {
  gateway::error_code ec = check_writable(exchange);
  if (!ec && !state_.head_sent) ec = send_head(last ? std::optional(chunk.size()) : std::nullopt);
  if (!ec) ec = append_body(std::move(chunk));
  if (!ec && last) end_body({});
  complete_write(ec, std::move(handler));
}

// A file piece of the body: framed like a write (chunk-size line, CRLF; nothing for HEAD or a
// bodiless status; never past the declared length), its bytes queued as a Piece that
// flush() hands to sendfile(2) in turn. The handler runs once they are with the kernel, and
// a `last` piece ends the body then: a file that turns out short can still cut the response.
template <class Stream>
void Connection<Stream>::do_send_file(const ExchangeImpl* exchange, int fd, std::uint64_t offset,
                                      std::uint64_t count, bool last,
                                      gateway::Exchange::Handler handler) {
  if constexpr (!kCanSendFile) {
    // Before anything else, so the app can fall back to async_write on the same response.
    (void)exchange, (void)fd, (void)offset, (void)count, (void)last;
    if (handler)
      asio::post(get_executor(), [h = std::move(handler)] { h(gateway::errc::unsupported); });
  } else {
    gateway::error_code ec = check_writable(exchange);
    if (!ec && !state_.head_sent) ec = send_head(last ? std::optional(count) : std::nullopt);
    std::uint64_t size = 0;
    if (!ec) size = frame_body(count, ec);
    if (size == 0) {
      if (!ec && last) end_body({});
      return complete_write(ec, std::move(handler));
    }
    if (framing_.kind == Framing::Kind::chunked) append_chunk_size(out_, size);
    pieces_.push_back({std::exchange(out_, {}),
                       {},
                       fd,
                       offset,
                       size,
                       requests_,
                       last && !ec,
                       ec,
                       std::move(handler)});
    if (framing_.kind == Framing::Kind::chunked) out_.append("\r\n");
    // Nothing may follow a last piece: the body ends once its bytes have gone.
    if (last && !ec) state_.body_ended = true;
    flush();
  }
}

template <class Stream>
void Connection<Stream>::do_finish(const ExchangeImpl* exchange, gateway::Headers trailers,
                                   gateway::Exchange::Handler handler) {
  gateway::error_code ec = check_writable(exchange);
  if (!ec && !state_.head_sent) ec = send_head(std::uint64_t{0});
  if (!ec) end_body(std::move(trailers));
  complete_write(ec, std::move(handler));
}

template <class Stream>
void Connection<Stream>::do_abort(const ExchangeImpl* exchange) {
  if (!current(exchange) || state_.response_done) return;
  if (!state_.head_sent) {
    queue_error(500, {});
    state_.status = 500;
  }
  state_.aborted = state_.head_sent;
  keep_alive_ = false;
  state_.response_done = true;
  notify();
}

// Takes the exchange over as a WebSocket; the coroutine answers 101 (async_serve_websocket).
template <class Stream>
void Connection<Stream>::do_accept_websocket(const ExchangeImpl* exchange,
                                             gateway::WebSocketAccept accept,
                                             gateway::Exchange::AcceptHandler handler) {
  auto fail = [&](gateway::error_code ec) {
    asio::post(get_executor(), [h = std::move(handler), ec] { h(ec, nullptr); });
  };
  if (!current(exchange) || client_gone_) return fail(gateway::errc::client_gone);
  if constexpr (!kCanWebSocket) {
    (void)accept;
    return fail(gateway::errc::unsupported);
  } else {
    if (!exchange->request().websocket) return fail(gateway::errc::unsupported);
    if (state_.head_started || state_.head_sent || state_.response_done || accept_handler_)
      return fail(gateway::errc::response_state);
    // RFC 6455 §4.2.2: the subprotocol is a token; extra fields must be sendable.
    bool valid = accept.subprotocol.empty() || gateway::valid_field_name(accept.subprotocol);
    for (const auto& [name, value] : accept.headers)
      valid = valid && gateway::valid_field_name(name) && gateway::valid_field_value(value);
    if (!valid) return fail(gateway::errc::invalid_response);
    websocket_accept_ = std::move(accept);
    accept_handler_ = std::move(handler);
    // The exchange is answered (by the 101 to come): nothing else may be written, and the
    // connection carries no further HTTP request.
    state_.response_done = true;
    keep_alive_ = false;
    state_.forget_client_gone();
    notify();
  }
}

template <class Stream>
void Connection<Stream>::do_on_client_gone(ExchangeImpl* exchange, std::function<void()> callback) {
  if (exchange->lost_) {
    asio::post(get_executor(), std::move(callback));
  } else if (current(exchange)) {
    state_.on_client_gone(get_executor(), std::move(callback));
  }
}

template <class Stream>
gateway::error_code Connection<Stream>::check_writable(
    const ExchangeImpl* exchange) const noexcept {
  if (!current(exchange) || client_gone_) return gateway::errc::client_gone;
  // An answer of our own (a 500, 408 or 413) or a WebSocket's 101 took the response's place.
  if (state_.response_done) return gateway::errc::response_state;
  return state_.writable();
}

// Serialises the head. `known_length` is the whole body's size when the first write is also
// the last, so a one-piece body gets Content-Length instead of chunked framing.
template <class Stream>
gateway::error_code Connection<Stream>::send_head(std::optional<std::uint64_t> known_length) {
  const auto& request = exchange_->request();
  int status = state_.response.status;
  if (status < 200 || status > 999) return gateway::errc::invalid_response;
  std::optional<std::uint64_t> declared;
  for (const auto& [name, value] : state_.response.headers) {
    if (!gateway::valid_field_name(name) || !gateway::valid_field_value(value))
      return gateway::errc::invalid_response;
    if (gateway::iequals(name, "content-length")) {
      auto length = gateway::parse_content_length(value);
      if (!length || (declared && *declared != *length)) return gateway::errc::invalid_response;
      declared = length;
    } else if (gateway::iequals(name, "connection")) {
      gateway::for_each_list_element(value, [&](std::string_view token) {
        if (gateway::iequals(token, "close")) keep_alive_ = false;
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
  if (!state_.body_done) {
    bool waiting_for_continue = request.expect_continue && !continue_sent_;
    bool too_much_to_drain = !request.content_length ||
                             *request.content_length - parser_.body_received() > kMaxDrainBytes;
    if (waiting_for_continue || (!body_read_started_ && too_much_to_drain)) keep_alive_ = false;
  }
  if (framing_.kind == Framing::Kind::content_length) state_.declared_length = framing_.length;
  auto wire = framing_;
  if (is_head_request_ && wire.kind == Framing::Kind::chunked) wire.kind = Framing::Kind::none;
  append_response_head(out_, request.version, status, state_.response.headers, wire, keep_alive_,
                       tls_ ? std::string_view(context_.hsts) : std::string_view(),
                       {context_.request_id_header, request.request_id});
  state_.head_sent = true;
  state_.status = status;
  return {};
}

// Applies the framing to a body piece of `size` bytes: counts them as sent and returns how
// many go on the wire (none for HEAD or a bodiless status). Never more than the app declared:
// the rest is an app error, errc::length_mismatch in `ec`.
template <class Stream>
std::uint64_t Connection<Stream>::frame_body(std::uint64_t size, gateway::error_code& ec) {
  if (framing_.kind == Framing::Kind::none) return 0;
  size = state_.take_body(size, ec);
  return is_head_request_ ? 0 : size;
}

// A piece of kGatherMin or more joins the output queue as it is (moved, its framing around it
// in `out_`); a smaller one is copied into `out_` with its framing.
template <class Stream>
gateway::error_code Connection<Stream>::append_body(gateway::BodyPiece&& chunk) {
  gateway::error_code ec;
  auto size = frame_body(chunk.size(), ec);
  if (size == 0) return ec;
  bool chunked = framing_.kind == Framing::Kind::chunked;
  if (size < kGatherMin) {
    auto bytes = chunk.view().substr(0, size);
    if (chunked) {
      append_chunk(out_, bytes);
    } else {
      out_.append(bytes);
    }
    return ec;
  }
  chunk.truncate(size);
  if (chunked) append_chunk_size(out_, size);
  pieces_.push_back({std::exchange(out_, {}), std::move(chunk)});
  if (chunked) out_.append("\r\n");
  return ec;
}

template <class Stream>
void Connection<Stream>::end_body(const gateway::Headers& trailers) {
  if (framing_.kind == Framing::Kind::chunked && !is_head_request_) {
    append_last_chunk(out_, trailers);
  } else if (framing_.kind == Framing::Kind::content_length && !is_head_request_ &&
             state_.short_of_declared()) {
    // The app sent less than its Content-Length: the client must see a cut response.
    state_.aborted = true;
  } else if (framing_.kind == Framing::Kind::until_close) {
    keep_alive_ = false;
  }
  state_.body_ended = state_.response_done = true;
  notify();
}

// Sends what was queued and completes the app's handler: at once while the output stays
// under the high-water mark, else when the socket has taken enough.
template <class Stream>
void Connection<Stream>::complete_write(gateway::error_code ec,
                                        gateway::Exchange::Handler handler) {
  flush();
  if (!handler) return;
  if (ec || output_within_bounds())
    gateway::ExchangeState::complete_write(get_executor(), std::move(handler), ec);
  else
    state_.hold_write(std::move(handler));
}

template <class Stream>
void Connection<Stream>::queue_error(int status, std::string_view detail) {
  keep_alive_ = false;
  if (!state_.head_sent) {
    auto at = out_.size();
    // What the access log counts, as for an app's body (a 500 for a failed app is logged with
    // its 22 bytes, not 0).
    std::string_view request_id;
    if (exchange_) request_id = exchange_->request().request_id;
    state_.body_bytes =
        append_error_response(out_, status, detail, {context_.request_id_header, request_id});
    // RFC 6455 §4.4: a WebSocket version we do not speak is answered with the one we do;
    // RFC 9110 §15.5.22: a 426 names the protocol to upgrade to.
    if (status == 426)
      out_.insert(out_.find("\r\n", at) + 2, "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
  }
  state_.head_sent = true;
  flush();
}

// The client is gone: the app hears it once, its reads and writes fail from now on.
template <class Stream>
void Connection<Stream>::lose_client() {
  if (client_gone_) return;
  client_gone_ = true;
  keep_alive_ = false;
  if (exchange_ && !state_.response_done) {
    exchange_->lost_ = true;
    state_.lose(get_executor());
  }
  state_.forget_client_gone();
  release_write_waiters(gateway::errc::client_gone);
  notify();
}

}  // namespace junction::http1
