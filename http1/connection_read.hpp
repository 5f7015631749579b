// One HTTP/1.1 connection: the read buffer and the request body.
// Part of Connection<Stream> (connection.hpp); included by instances.cpp and the unit tests'
// instantiations only.
#pragma once

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/post.hpp>
#include <cstring>

#include "http1/connection.hpp"
#include "http1/exchange.hpp"

namespace junction::http1 {

template <class Stream>
void Connection<Stream>::consume(std::size_t n) noexcept {
  read_begin_ += n;
  // Reset to the front when everything is used, unless a watch read is filling the buffer.
  if (read_begin_ == read_end_ && body_pending_.empty() && !watch_in_flight_)
    read_begin_ = read_end_ = 0;
}

// Moves unparsed bytes to the front. Not while a body piece points into the buffer, nor
// while a watch read fills it.
template <class Stream>
void Connection<Stream>::compact() noexcept {
  if (read_begin_ == 0 || !body_pending_.empty() || watch_in_flight_) return;
  std::memmove(read_buffer_.get(), read_buffer_.get() + read_begin_, read_end_ - read_begin_);
  read_end_ -= read_begin_;
  read_begin_ = 0;
}

// Reads more bytes into the buffer. Errors: EOF or reset from the peer, operation_aborted
// when a timeout or shutdown cancelled the read (timed_out_ says which).
template <class Stream>
auto Connection<Stream>::async_fill() -> awaitable<gateway::error_code> {
  if (watch_in_flight_) {
    // A watch read is filling the buffer: its bytes (or its end) are this fill's result.
    while (watch_in_flight_) co_await async_wait_event();
    if (peer_closed_) co_return peer_error_;
    if (timed_out_ != Deadline::none || watch_error_) co_return asio::error::operation_aborted;
    co_return gateway::error_code{};
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
  count_received(n);
  if (ec && ec != asio::error::operation_aborted) {
    peer_closed_ = true;
    peer_error_ = ec;
  }
  co_return ec;
}

// While the app works on a request whose body is in, one read stays outstanding to notice
// a client that goes away; whatever it reads (a pipelined request) is kept.
template <class Stream>
void Connection<Stream>::start_watch_read() {
  if (watch_in_flight_ || peer_closed_ || closed_) return;
  compact();
  if (read_end_ == kReadBufferSize) return;  // full: stop reading, the client must wait
  watch_in_flight_ = true;
  stream_.async_read_some(asio::buffer(read_buffer_.get() + read_end_, kReadBufferSize - read_end_),
                          asio::bind_cancellation_slot(
                              watch_cancel_.slot(), [self = this->shared_from_this()](
                                                        gateway::error_code ec, std::size_t n) {
                                self->watch_in_flight_ = false;
                                self->watch_error_ = ec;
                                self->read_end_ += n;
                                self->count_received(n);
                                if (ec && ec != asio::error::operation_aborted) {
                                  self->peer_closed_ = true;
                                  self->peer_error_ = ec;
                                }
                                self->notify();
                              }));
}

// Delivers buffered body bytes (or the end, or an error) to the app's outstanding read.
// False when the socket must be read first.
template <class Stream>
bool Connection<Stream>::serve_body_from_buffer() {
  if (state_.body_error) {
    complete_read(state_.body_error, 0);
    return true;
  }
  // Parse even with nothing buffered: the end of a message may follow its last body piece
  // without another byte.
  if (body_pending_.empty() && !state_.body_done) {
    auto result = parser_.parse(buffered());
    consume(result.consumed);
    switch (result.event) {
      case RequestParser::Event::body:
        body_pending_ = result.body;
        break;
      case RequestParser::Event::end:
        state_.body_done = true;
        break;
      case RequestParser::Event::error:
        fail_body(parser_.status() == 413 ? gateway::errc::body_too_large : gateway::errc::bad_body,
                  parser_.status(), parser_.reason());
        return true;
      default:
        break;
    }
  }
  if (!body_pending_.empty()) {
    auto into = state_.read_buffer();
    auto n = std::min(body_pending_.size(), into.size());
    std::memcpy(into.data(), body_pending_.data(), n);
    body_pending_.remove_prefix(n);
    if (body_pending_.empty()) consume(0);
    complete_read({}, n);
    return true;
  }
  if (state_.body_done) {
    complete_read(gateway::errc::end_of_body, 0);
    return true;
  }
  return false;
}

template <class Stream>
void Connection<Stream>::complete_read(gateway::error_code ec, std::size_t n) {
  state_.complete_read(get_executor(), ec, n);
}

// The request body cannot be read on: tell the app, and answer for it if it has not begun
// its response (413 for a body that grew too large, 408 for a stall, 400 for bad framing).
template <class Stream>
void Connection<Stream>::fail_body(gateway::errc error, int status, const std::string& reason) {
  state_.body_error = error;
  keep_alive_ = false;
  if (!state_.head_sent) {
    queue_error(status, reason);
    state_.response_done = true;
    state_.status = status;
  } else {
    state_.aborted = true;
  }
  complete_read(error, 0);
}

// RFC 9110 §10.1.1: 100 Continue goes out when the app first asks for the body, and never
// once a final response has begun.
template <class Stream>
void Connection<Stream>::send_continue() {
  if (continue_sent_ || !exchange_ || !exchange_->request().expect_continue || state_.head_sent)
    return;
  continue_sent_ = true;
  out_.append("HTTP/1.1 100 Continue\r\n\r\n");
  flush();
}

}  // namespace junction::http1
