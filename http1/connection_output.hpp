// One HTTP/1.1 connection: the output queue, one write in flight (gathered around the body pieces
// queued as they came), and file pieces by sendfile(2).
// Part of Connection<Stream> (connection.hpp); included by instances.cpp and the unit tests'
// instantiations only.
#pragma once

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/types.h>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>

#include "http1/connection.hpp"
#include "http1/exchange.hpp"

namespace junction::http1 {

// ---------------------------------------------------------------------------------------
// Writing

// Output queued and not yet with the kernel, file pieces included.
template <class Stream>
std::uint64_t Connection<Stream>::pending_output() const noexcept {
  std::uint64_t n = out_.size() + writing_.size() + (gathered_ ? gathered_->bytes : 0);
  for (const auto& piece : pieces_) n += piece.before.size() + piece.data.size() + piece.left;
  return n;
}

template <class Stream>
bool Connection<Stream>::output_queued() const noexcept {
  return write_in_flight_ || !out_.empty() || !pieces_.empty();
}

// Starts the next write: a file piece, the body pieces at the front with what surrounds them,
// the bytes ahead of the first file piece, or `out_`.
template <class Stream>
void Connection<Stream>::flush() {
  if (write_in_flight_ || closed_) return;
  if (!pieces_.empty() && !pieces_.front().is_file()) return write_gathered();
  if (!pieces_.empty() && pieces_.front().before.empty()) {
    write_in_flight_ = true;
    write_started_ = clock::now();
    send_file();
    watch_send();
    return;
  }
  auto& next = pieces_.empty() ? out_ : pieces_.front().before;
  if (next.empty()) return;
  writing_.swap(next);
  next.clear();
  start_write(asio::buffer(writing_));
}

// One write (writev(2)) for the body pieces at the front of the queue, each after its `before`,
// and the bytes that follow the last of them: the next file piece's `before`, or `out_`.
template <class Stream>
void Connection<Stream>::write_gathered() {
  if (!gathered_) gathered_ = std::make_unique<Gathered>();
  auto& g = *gathered_;
  auto take = [&g]<class Part>(Part& part) {
    if (part.empty()) return;
    g.bytes += part.size();
    g.parts.emplace_back(std::move(part));
    part = Part();
  };
  while (!pieces_.empty() && !pieces_.front().is_file()) {
    take(pieces_.front().before);
    take(pieces_.front().data);
    pieces_.pop_front();
  }
  take(pieces_.empty() ? out_ : pieces_.front().before);
  for (const auto& part : g.parts) g.buffers.emplace_back(part.data(), part.size());
  start_write(g.buffers);
}

template <class Stream>
template <class Buffers>
void Connection<Stream>::start_write(const Buffers& buffers) {
  write_in_flight_ = true;
  write_progress_ = 0;
  // The completion condition sees each partial write: progress for --timeout-send and
  // --min-response-rate. It also says how much the next write_some may take (kWriteSomeMax).
  asio::async_write(
      stream_, buffers,
      [self = this->shared_from_this()](const gateway::error_code& ec, std::size_t total) {
        if (total > self->write_progress_)
          self->note_sent(total - std::exchange(self->write_progress_, total));
        return ec ? std::size_t{0} : kWriteSomeMax;
      },
      [self = this->shared_from_this()](gateway::error_code ec, std::size_t n) {
        if (self->context_.metrics) self->context_.metrics.add(gateway::counter::bytes_sent, n);
        // The last piece of a write skips the completion condition (asio's write_op).
        if (n > self->write_progress_) self->note_sent(n - self->write_progress_);
        self->on_written(ec);
      });
  write_started_ = clock::now();
  watch_send();
}

template <class Stream>
void Connection<Stream>::note_sent(std::size_t n) {
  sent_total_ += n;
  write_started_ = clock::now();
}

// The client's pace, over the connection's life, is below --min-response-rate: it has
// acknowledged too few bytes for the time our bytes waited for it (in our queue or in the
// kernel's: a kernel buffer of megabytes would otherwise hide a client that takes nothing).
// The time between two looks counts as waiting only when the client has not caught up with
// what waited at the first (the kernel's bytes unacknowledged, our write not moved on): a
// client that takes each response at once is never slow, however long it then stays idle.
template <class Stream>
bool Connection<Stream>::sending_too_slowly(clock::time_point now) {
  const auto& t = timeouts();
  if (t.min_response_rate <= 0) return false;
  if (!send_waiting_ && !write_in_flight_ && sent_total_ == acknowledged_) return false;
  auto unacked = unacknowledged();
  auto acknowledged = sent_total_ - std::min(unacked, sent_total_);
  bool caught_up = acknowledged >= waited_for_ && !(writing_at_look_ && sent_total_ == waited_for_);
  if (send_waiting_ && !caught_up) send_rate_.waited(now - send_sampled_);
  if (acknowledged > acknowledged_) send_rate_.moved(acknowledged - acknowledged_);
  acknowledged_ = std::max(acknowledged_, acknowledged);
  send_sampled_ = now;
  send_waiting_ = write_in_flight_ || unacked > 0;
  waited_for_ = sent_total_;
  writing_at_look_ = write_in_flight_;
  auto left = send_rate_.allowance(t.min_response_rate, t.min_rate_grace);
  return send_waiting_ && left && *left <= clock::duration::zero();
}

template <class Stream>
std::uint64_t Connection<Stream>::unacknowledged() noexcept {
  if constexpr (requires { stream_.lowest_layer().native_handle(); }) {
    int queued = 0;
    if (::ioctl(stream_.lowest_layer().native_handle(), SIOCOUTQ, &queued) == 0 && queued > 0)
      return static_cast<std::uint64_t>(queued);
  }
  return 0;
}

template <class Stream>
void Connection<Stream>::cut_now() {
  if constexpr (requires { stream_.lowest_layer().set_option(asio::socket_base::linger()); }) {
    gateway::error_code ignored;
    stream_.lowest_layer().set_option(asio::socket_base::linger(true, 0), ignored);
  }
  close_now();
}

template <class Stream>
bool Connection<Stream>::output_within_bounds() {
  auto pending = pending_output();
  return pending <= kOutputHighWater ||
         output_share_.cover(pending - kOutputHighWater, kBufferedOutputMax);
}

template <class Stream>
void Connection<Stream>::settle_output_budget() noexcept {
  auto pending = pending_output();
  output_share_.settle(pending > kOutputHighWater ? pending - kOutputHighWater : 0);
}

template <class Stream>
void Connection<Stream>::on_written(gateway::error_code ec) {
  write_in_flight_ = false;
  writing_.clear();
  if (gathered_) {
    gathered_->parts.clear();
    gathered_->buffers.clear();
    gathered_->bytes = 0;
  }
  settle_output_budget();
  if (ec) {
    write_failed_ = true;
    out_.clear();
    drop_pieces(gateway::errc::client_gone);
    lose_client();
    release_write_waiters(gateway::errc::client_gone);
    // Nobody takes what we would answer: a read waiting for the next request ends too.
    cancel_reads();
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
template <class Stream>
void Connection<Stream>::send_file() {
  if constexpr (kCanSendFile) {
    auto& file = pieces_.front();
    gateway::error_code ec;
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
        if (context_.metrics) context_.metrics.add(gateway::counter::bytes_sent, n);
        file.offset += n;
        file.left -= n;
        budget -= n;
        note_sent(n);
      } else if (sent == 0) {
        return cut_file(gateway::errc::length_mismatch);  // the file ends before `count`
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        stream_.async_wait(asio::socket_base::wait_write,
                           [self = this->shared_from_this()](gateway::error_code wait_ec) {
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

template <class Stream>
void Connection<Stream>::on_file_writable(gateway::error_code ec) {
  if (!ec && closed_) ec = asio::error::operation_aborted;
  if (ec) return on_written(ec);
  send_file();
}

// sendfile(2) errors that come from the file, not the client.
template <class Stream>
bool Connection<Stream>::file_error(gateway::error_code ec) noexcept {
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
template <class Stream>
void Connection<Stream>::file_sent() {
  write_in_flight_ = false;
  auto file = std::move(pieces_.front());
  pieces_.pop_front();
  if (file.last && exchange_ && requests_ == file.exchange && !state_.response_done) end_body({});
  settle_output_budget();
  bool drained = pending_output() <= kOutputHighWater;
  if (file.handler) {
    if (file.result || drained) {
      gateway::ExchangeState::complete_write(get_executor(), std::move(file.handler), file.result);
    } else {
      state_.hold_write(std::move(file.handler), /*first=*/true);
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
template <class Stream>
void Connection<Stream>::cut_file(gateway::error_code ec) {
  write_in_flight_ = false;
  auto file = std::move(pieces_.front());
  pieces_.pop_front();
  out_.clear();
  auto unsent = file.left + drop_pieces(ec);
  gateway::ExchangeState::complete_write(get_executor(), std::move(file.handler), ec);
  if (exchange_ && requests_ == file.exchange && !state_.response_done) {
    state_.body_bytes -= std::min(unsent, state_.body_bytes);
    state_.aborted = true;
    keep_alive_ = false;
    state_.response_done = true;
    release_write_waiters(ec);
    watch_send();
  } else {
    close_now();
  }
  notify();
}

// Drops every queued piece, failing the file pieces' handlers (a body piece's write has
// completed already); returns the file bytes they would have sent.
template <class Stream>
std::uint64_t Connection<Stream>::drop_pieces(gateway::error_code ec) {
  auto pieces = std::move(pieces_);
  pieces_.clear();
  std::uint64_t unsent = 0;
  for (auto& piece : pieces) {
    unsent += piece.left;
    gateway::ExchangeState::complete_write(get_executor(), std::move(piece.handler), ec);
  }
  return unsent;
}

// A write in flight must make progress within --timeout-send, unless a read deadline is
// running (the coroutine owns the deadline then, and re-arms this when it lets go of it).
template <class Stream>
void Connection<Stream>::watch_send() {
  auto kind = static_cast<Deadline>(watchdog_.deadline_kind());
  if (write_in_flight_ && (kind == Deadline::none || kind == Deadline::send))
    set_deadline(clock::now() + to_duration(timeouts().send), Deadline::send);
  else if (!write_in_flight_ && kind == Deadline::send)
    set_deadline(clock::time_point::max(), Deadline::none);
}

template <class Stream>
void Connection<Stream>::release_write_waiters(gateway::error_code ec) {
  state_.release_writes(get_executor(), ec);
}

}  // namespace junction::http1
