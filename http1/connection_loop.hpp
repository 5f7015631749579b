// One HTTP/1.1 connection: the request loop, WebSockets, h2c, closing and timeouts.
// Part of Connection<Stream> (connection.hpp); included by instances.cpp and the unit tests'
// instantiations only.
#pragma once

#include <spdlog/spdlog.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/post.hpp>
#include <optional>
#include <utility>

#include "gateway/text.hpp"
#include "http1/connection.hpp"
#include "http1/exchange.hpp"

namespace junction::http1 {

// The connection coroutine. Returns once the connection is closed, or once it belongs to
// HTTP/2 (the preface, or an h2c upgrade: handover() says what to hand over with the stream).
template <class Stream>
auto Connection<Stream>::async_run() -> awaitable<bool> {
  // The frame owns the connection until its last step: every operation it awaits is bound to
  // state of this object (run_cancel_, the timers, the buffers), never the other way round.
  auto self = this->shared_from_this();
  watchdog_.start(self);
  bool graceful = true;
  while (!closed_) {
    auto outcome = co_await async_serve_one();
    if (outcome == Outcome::next) continue;
    if (outcome == Outcome::http2) {
      // The socket goes to HTTP/2: nothing of it is ours to close.
      closed_ = true;
      watchdog_.stop();
      wake_.cancel();
      co_return true;
    }
    graceful = outcome == Outcome::close;
    break;
  }
  co_await async_close(graceful);
  co_return false;
}

template <class Stream>
void Connection<Stream>::on_shutdown() {
  shutting_down_ = true;
  keep_alive_ = false;
  // An idle connection is not closed at once: its client may be sending the next request (or,
  // on a connection accepted just before, the first) right now, and closing under it would
  // fail that request, which the client cannot tell from a server error (RFC 9112 §9.6 lets it
  // retry only what is idempotent). It gets kShutdownIdle to arrive, and is answered with
  // Connection: close; a connection quiet that long closes.
  if (waiting_idle_) set_deadline(clock::now() + kShutdownIdle, Deadline::idle);
  // An upgraded connection says goodbye in its own protocol (RFC 6455 §7.4.1: 1001).
  if constexpr (kCanWebSocket) {
    if (auto session = websocket_.lock()) session->going_away();
  }
}

template <class Stream>
void Connection<Stream>::terminate() {
  shutting_down_ = true;
  keep_alive_ = false;
  close_now();
}

// ---------------------------------------------------------------------------------------
// The request loop

template <class Stream>
auto Connection<Stream>::async_serve_one() -> awaitable<Outcome> {
  // 1. The head. Bytes may already be buffered (pipelining) or still to come.
  std::optional<clock::time_point> head_deadline;
  for (;;) {
    if (detecting_preface_ && has_buffered()) {
      // RFC 9113 §3.3: a client with prior knowledge opens with the HTTP/2 preface; its first
      // bytes tell it from an HTTP/1.1 request line, which never starts that way.
      auto seen = buffered();
      auto n = std::min(seen.size(), kHttp2Preface.size());
      if (seen.substr(0, n) != kHttp2Preface.substr(0, n)) {
        detecting_preface_ = false;
      } else if (n == kHttp2Preface.size()) {
        handover_.buffered.assign(seen);
        read_begin_ = read_end_ = 0;
        co_return Outcome::http2;
      }
    }
    if (has_buffered() && !detecting_preface_) {
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
    if (begun && !head_deadline)
      head_deadline = clock::now() + to_duration(timeouts().request_header);
    if (head_deadline) {
      set_deadline(*head_deadline, Deadline::header);
    } else {
      auto idle = to_duration(requests_ == 0 ? timeouts().request_header : timeouts().keep_alive);
      if (shutting_down_) idle = std::min<clock::duration>(idle, kShutdownIdle);
      set_deadline(clock::now() + idle, Deadline::idle);
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
  detecting_preface_ = false;
  auto head = parser_.take_head();
  if (const auto* settings = parser_.h2c_settings()) {
    if (auto outcome = co_await async_upgrade_h2c(head, *settings)) co_return *outcome;
  }
  begin_exchange(std::move(head));
  route_ = context_.router.dispatch(exchange_);

  // 3. Serve body reads until the response is complete.
  for (;;) {
    if (state_.reading()) {
      if (serve_body_from_buffer()) continue;
      if (client_gone_) {
        complete_read(gateway::errc::client_gone, 0);
        continue;
      }
      send_continue();
      // The stall limit, or sooner the moment the body falls below its minimum rate.
      auto waiting_since = clock::now();
      auto deadline = waiting_since + to_duration(timeouts().request_body);
      bool rate_first = false;
      if (auto left =
              body_rate_.allowance(timeouts().min_request_body_rate, timeouts().min_rate_grace)) {
        rate_first = waiting_since + *left < deadline;
        if (rate_first) deadline = waiting_since + std::max(*left, clock::duration::zero());
      }
      set_deadline(deadline, Deadline::body);
      auto had = buffered().size();
      auto ec = co_await async_fill();
      auto timed_out = timed_out_;
      release_deadline();
      body_rate_.waited(clock::now() - waiting_since);
      body_rate_.moved(buffered().size() - std::min(had, buffered().size()));
      if (ec) {
        if (timed_out == Deadline::body && rate_first) {
          fail_body(gateway::errc::body_timeout, 408,
                    "request body arrived slower than --min-request-body-rate");
        } else if (timed_out == Deadline::body) {
          fail_body(gateway::errc::body_timeout, 408, "request body not received in time");
        } else {
          lose_client();
        }
      }
      continue;
    }
    if (state_.response_done || client_gone_ || state_.aborted) break;
    // The app is working. Watch the socket meanwhile, so that a client that leaves is noticed.
    if (state_.body_done) start_watch_read();
    co_await async_wait_event();
    if (peer_closed_ && !state_.response_done) lose_client();
  }

  // 4. Close or go on.
  if constexpr (kCanWebSocket) {
    if (accept_handler_) co_return co_await async_serve_websocket();
  }
  auto aborted = state_.aborted || client_gone_;
  end_exchange();
  if (aborted) co_return Outcome::abort;
  if (!keep_alive_) co_return Outcome::close;
  if (!state_.body_done && !co_await async_drain_body()) co_return Outcome::close;
  co_return Outcome::next;
}

// What the connection adds to every request head it read, whether HTTP/1.1 serves it or it
// becomes stream 1 of an h2c upgrade: who sent it over what, and what a trusted proxy says of
// it (gateway/forwarded.hpp).
template <class Stream>
void Connection<Stream>::complete_head(gateway::RequestHead& head) const {
  head.client = client_;
  head.server = server_;
  if (tls_) {
    head.scheme = "https";
    head.tls = tls_;
  }
  if (forwarded_) gateway::apply_forwarded(head, *forwarded_);
  if (!context_.request_id_header.empty())
    gateway::assign_request_id(head, context_.request_id_header, forwarded_ != nullptr);
  head.received_at = clock::now();
}

template <class Stream>
void Connection<Stream>::begin_exchange(gateway::RequestHead head) {
  ++requests_;
  complete_head(head);
  keep_alive_ = parser_.keep_alive() && !shutting_down_;
  is_head_request_ = head.method == "HEAD";
  state_.next_exchange();
  state_.body_done = !head.has_body;
  body_pending_ = {};
  body_rate_ = {};
  continue_sent_ = false;
  body_read_started_ = false;
  framing_ = {};
  exchange_ = std::make_shared<ExchangeImpl>(this->shared_from_this(), std::move(head));
  recorded_ = false;
  in_flight_ = gateway::GaugeHold(context_.metrics, gateway::gauge::in_flight);
}

template <class Stream>
void Connection<Stream>::end_exchange() {
  log_access(state_.response_done);
  complete_read(gateway::errc::client_gone, 0);
  state_.forget_client_gone();
  exchange_.reset();
  idle_since_ = clock::now();
  // The next request's errors (408, 431, ...) are answered on their own.
  state_.head_started = state_.head_sent = false;
}

// Reads and drops the rest of a request body the app did not want, so the connection can
// carry the next request. False when the rest is too large or does not come.
template <class Stream>
auto Connection<Stream>::async_drain_body() -> awaitable<bool> {
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
          state_.body_done = true;
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
template <class Stream>
auto Connection<Stream>::async_serve_websocket() -> awaitable<Outcome> {
  auto handler = std::exchange(accept_handler_, nullptr);
  auto fail = [&] {
    asio::post(get_executor(),
               [h = std::move(handler)] { h(gateway::errc::client_gone, nullptr); });
    end_exchange();
    return Outcome::abort;
  };
  // The watch read may be filling the buffer: what it brings are the client's first frames.
  watch_cancel_.emit(asio::cancellation_type::terminal);
  while (watch_in_flight_) co_await async_wait_event();
  release_deadline();
  if (closed_ || client_gone_ || peer_closed_) co_return fail();
  // Only a stream Beast can carry a WebSocket over accepts one (do_accept_websocket).
  if constexpr (!kCanWebSocket) {
    co_return fail();
  } else {
    auto self = this->shared_from_this();
    auto session = std::make_shared<WebSocketSession<Stream>>(
        stream_, std::string(buffered()), context_.limits, self, context_.metrics);
    read_begin_ = read_end_ = 0;
    websocket_ = session;
    auto [ec] = co_await session->async_accept(exchange_->request(), std::move(websocket_accept_),
                                               use_awaitable);
    if (ec || closed_) co_return fail();

    state_.status = 101;
    log_access(true);
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
}

// ---------------------------------------------------------------------------------------
// h2c (RFC 7540 §3.2): a bodiless request asked to switch to HTTP/2

// Hands the socket to HTTP/2 when the listener speaks it beside HTTP/1.1 and HTTP/2 takes the
// settings: our earlier responses leave first; HTTP/2 then answers 101 and the request on
// stream 1. nullopt: serve `head` as HTTP/1.1 (§3.2 lets a server ignore Upgrade), untouched.
template <class Stream>
auto Connection<Stream>::async_upgrade_h2c(gateway::RequestHead& head, const std::string& settings)
    -> awaitable<std::optional<Outcome>> {
  if (!switches_.accepts_h2c || shutting_down_ ||
      !switches_.accepts_h2c(settings, head.method == "HEAD"))
    co_return std::nullopt;
  // The watch read may be filling the buffer: what it brings is the client's preface.
  watch_cancel_.emit(asio::cancellation_type::terminal);
  while (watch_in_flight_) co_await async_wait_event();
  while (!closed_ && !write_failed_ && output_queued()) {
    flush();
    co_await async_wait_event();
  }
  if (closed_ || write_failed_ || peer_closed_) co_return Outcome::abort;
  complete_head(head);
  handover_.request = std::move(head);
  handover_.settings = settings;
  handover_.buffered.assign(buffered());
  read_begin_ = read_end_ = 0;
  co_return Outcome::http2;
}

// The coroutine stops timing a read; a write in flight is timed again.
template <class Stream>
void Connection<Stream>::release_deadline() {
  set_deadline(clock::time_point::max(), Deadline::none);
  watch_send();
}

// ---------------------------------------------------------------------------------------
// Closing: the one way a connection ends.

template <class Stream>
auto Connection<Stream>::async_close(bool graceful) -> awaitable<void> {
  // Let queued output reach the client (bounded by the linger time).
  set_deadline(clock::now() + kLingerTime, Deadline::closing);
  while (!closed_ && !write_failed_ && output_queued()) {
    flush();
    co_await async_wait_event();
    if (timed_out_ != Deadline::none) break;
  }
  bool unread_input = !parser_.body_complete() || has_buffered() || !state_.body_done;
  if (!closed_ && graceful && !write_failed_ && timed_out_ == Deadline::none && !peer_closed_ &&
      unread_input) {
    gateway::error_code ignored;
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

template <class Stream>
void Connection<Stream>::close_now() {
  if (closed_) return;
  closed_ = true;
  lose_client();
  gateway::error_code ignored;
  stream_.shutdown(asio::socket_base::shutdown_both, ignored);
  stream_.close(ignored);
  watchdog_.stop();
  wake_.cancel();
}

// ---------------------------------------------------------------------------------------
// Waiting and timeouts

// Suspends until notify() (or a cancellation); callers re-check their state after.
template <class Stream>
auto Connection<Stream>::async_wait_event() -> awaitable<void> {
  wake_.expires_at(clock::time_point::max());
  co_await wake_.async_wait(use_awaitable);
}

// The watchdog (gateway/watchdog.hpp) keeps the one deadline; which phase set it is its kind.
template <class Stream>
void Connection<Stream>::set_deadline(clock::time_point when, Deadline kind) {
  watchdog_.set_deadline(when, static_cast<int>(kind));
  timed_out_ = Deadline::none;
}

template <class Stream>
bool Connection<Stream>::on_watchdog(clock::time_point now, int passed) {
  if (closed_) return false;
  // The client has taken none of our output for --timeout-send: nothing we could still say
  // would reach it. Checked at every wake-up (at least once per shortest timeout), whatever
  // read deadline runs meanwhile: a read timeout longer than the send timeout must not hold a
  // stuck write open.
  bool stuck = write_in_flight_ && now - write_started_ >= to_duration(timeouts().send);
  bool slow = !stuck && sending_too_slowly(now);
  if (stuck || slow || passed == static_cast<int>(Deadline::send)) {
    if (slow)
      spdlog::debug("client {}:{} took its response slower than --min-response-rate: cut",
                    client_.host, client_.port);
    cut_now();
    notify();
    return false;
  }
  if (passed == gateway::Watchdog::kNone) return true;
  timed_out_ = static_cast<Deadline>(passed);
  if (timed_out_ == Deadline::idle && write_in_flight_) {
    // Not idle while its last response is still leaving: the keep-alive clock restarts, and
    // the write is held to --timeout-send.
    set_deadline(std::min(now + to_duration(timeouts().keep_alive),
                          write_started_ + to_duration(timeouts().send)),
                 Deadline::idle);
    return true;
  }
  cancel_reads();
  notify();
  return true;
}

// Cancels the reads in flight (never the write: a response being written is not cut by a
// read timeout).
template <class Stream>
void Connection<Stream>::cancel_reads() {
  watch_cancel_.emit(asio::cancellation_type::terminal);
  run_cancel_.emit(asio::cancellation_type::terminal);
}

// Once per exchange, when it is over: /metrics counts it (answered or not), the access log
// shows it when it was answered.
template <class Stream>
void Connection<Stream>::log_access(bool completed) {
  if (!exchange_ || recorded_) return;
  recorded_ = true;
  in_flight_.release();
  gateway::record_exchange(context_.metrics, context_.access_log, exchange_->request(), route_,
                           state_.status, completed, state_.body_bytes);
}

}  // namespace junction::http1
