// An in-memory byte stream for protocol tests without sockets: usable as the Stream of
// Http1Connection<Stream> and Http2Connection<Stream>. The test holds the other end
// (MemoryPeer): it scripts what the client sends, in segments a read never crosses and at most
// max_read bytes per read, and reads back everything written. A read with nothing scripted either
// reports EOF (after end_input()) or stays pending until more is sent, the stream is closed, or the
// read is cancelled through its handler's cancellation slot.
//
// Failure injection, after Beast's test::fail_count: the peer can fail the n-th read or the
// n-th write (each counted from 0, in the order they start) and every one after it, and can
// hold writes, which then stay pending until released, so that tests can step through every
// failure path of a session and exercise backpressure and send timeouts. Header-only.
#pragma once

#include <algorithm>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace junction::test {

namespace asio = boost::asio;
using error_code = boost::system::error_code;

// The client's end of a MemoryStream, and the state both ends share.
class MemoryPeer : public std::enable_shared_from_this<MemoryPeer> {
 public:
  using executor_type = asio::io_context::executor_type;

  explicit MemoryPeer(asio::io_context& io) : executor_(io.get_executor()) {}

  // --- The client's side ---------------------------------------------------------------------

  // Queues bytes as one segment: a read returns bytes of one segment only.
  void send(std::string_view bytes) {
    if (bytes.empty()) return;
    input_.emplace_back(bytes);
    serve_pending_read();
  }
  // Queues `bytes` as segments of `piece` bytes each.
  void send_in_pieces(std::string_view bytes, std::size_t piece) {
    for (std::size_t at = 0; at < bytes.size(); at += piece) send(bytes.substr(at, piece));
  }
  // The client closes its side: reads report EOF once the queued bytes are read.
  void end_input() {
    input_ended_ = true;
    serve_pending_read();
  }
  // The client resets the connection: reads and writes fail with connection_reset, a held
  // write too.
  void reset() {
    reset_ = true;
    serve_pending_read();
    if (held_) finish_write(asio::error::connection_reset, 0, false);
  }
  void set_max_read(std::size_t n) { max_read_ = n; }
  // When true (the default), the client closes its side as soon as it sees ours shut down,
  // as clients do: a lingering close then ends at once instead of at its deadline.
  void set_eof_after_shutdown(bool on) { eof_after_shutdown_ = on; }

  const std::string& output() const noexcept { return output_; }
  std::size_t unread_input() const noexcept {
    std::size_t n = 0;
    for (const auto& segment : input_) n += segment.size();
    return n;
  }
  bool read_pending() const noexcept { return pending_ != nullptr; }
  bool closed() const noexcept { return closed_; }
  bool shut_down_send() const noexcept { return shut_send_; }
  int reads() const noexcept { return reads_; }
  int cancelled_reads() const noexcept { return cancelled_reads_; }

  // --- Failure injection -----------------------------------------------------------------------

  // Read number n (counting from 0 over the reads started, as reads() counts them) and every
  // later one fail with `ec` at once, taking no input: the stream broke in that direction, as
  // a socket does. A read already pending is not touched.
  void fail_read(int n, error_code ec = asio::error::connection_reset) {
    fail_read_at_ = n;
    fail_read_ec_ = ec;
  }
  // Write number n (counting as writes() does) and every later one fail with `ec` at once,
  // taking no bytes.
  void fail_write(int n, error_code ec = asio::error::connection_reset) {
    fail_write_at_ = n;
    fail_write_ec_ = ec;
  }
  // Write number n and every later one are held: each stays pending, its bytes not taken and
  // its handler not run, until release_writes(), close() or cancel() (operation_aborted),
  // reset() (connection_reset) or its cancellation slot (operation_aborted). A client that
  // reads none of our output. One write is held at a time, as one is in flight on a socket.
  void hold_writes(int n = 0) { hold_writes_at_ = n; }
  // Stops holding writes; a held write takes its bytes and completes.
  void release_writes() {
    hold_writes_at_ = kNever;
    if (!held_) return;
    std::size_t n = 0;
    for (const auto& buffer : held_->buffers) {
      output_.append(static_cast<const char*>(buffer.data()), buffer.size());
      n += buffer.size();
    }
    finish_write({}, n, false);
  }

  int writes() const noexcept { return writes_; }
  bool write_pending() const noexcept { return held_ != nullptr; }
  int cancelled_writes() const noexcept { return cancelled_writes_; }
  // Operations the injected failures failed so far.
  int failed_reads() const noexcept { return failed_reads_; }
  int failed_writes() const noexcept { return failed_writes_; }

  // --- The stream's side ---------------------------------------------------------------------

  executor_type executor() const noexcept { return executor_; }

  template <class Handler>
  void start_read(Handler handler, std::vector<asio::mutable_buffer> buffers) {
    auto index = reads_++;
    if (pending_) {  // one read at a time, as on a socket
      complete(std::move(handler), asio::error::in_progress, 0);
      return;
    }
    if (index >= fail_read_at_ && !closed_) {
      ++failed_reads_;
      complete(std::move(handler), fail_read_ec_, 0);
      return;
    }
    auto slot = asio::get_associated_cancellation_slot(handler);
    auto id = ++read_id_;
    pending_ = std::make_unique<PendingOf<asio::mutable_buffer, Handler>>(std::move(handler),
                                                                          std::move(buffers));
    if (slot.is_connected()) {
      slot.assign([weak = weak_from_this(), id](asio::cancellation_type_t) {
        if (auto self = weak.lock(); self && self->pending_ && self->read_id_ == id) {
          ++self->cancelled_reads_;
          self->finish_read(asio::error::operation_aborted, 0, /*from_slot=*/true);
        }
      });
    }
    serve_pending_read();
  }

  template <class Handler>
  void start_write(Handler handler, std::vector<asio::const_buffer> buffers) {
    auto index = writes_++;
    error_code ec;
    std::size_t n = 0;
    if (closed_) {
      ec = asio::error::bad_descriptor;
    } else if (reset_) {
      ec = asio::error::connection_reset;
    } else if (shut_send_) {
      ec = asio::error::broken_pipe;
    } else if (held_) {  // one write at a time, as on a socket
      ec = asio::error::in_progress;
    } else if (index >= fail_write_at_) {
      ++failed_writes_;
      ec = fail_write_ec_;
    } else if (index >= hold_writes_at_) {
      return hold_write(std::move(handler), std::move(buffers));
    } else {
      for (const auto& buffer : buffers) {
        output_.append(static_cast<const char*>(buffer.data()), buffer.size());
        n += buffer.size();
      }
    }
    complete(std::move(handler), ec, n);
  }

  void shutdown(asio::socket_base::shutdown_type what) {
    if (what != asio::socket_base::shutdown_receive) shut_send_ = true;
    if (shut_send_ && eof_after_shutdown_) input_ended_ = true;
    serve_pending_read();
  }

  void close() {
    closed_ = true;
    cancel();
  }

  void cancel() {
    if (pending_) finish_read(asio::error::operation_aborted, 0, false);
    if (held_) finish_write(asio::error::operation_aborted, 0, false);
  }

 private:
  static constexpr int kNever = std::numeric_limits<int>::max();

  // An operation waiting for the peer: a read for input, a held write for release.
  template <class Buffer>
  struct Pending {
    explicit Pending(std::vector<Buffer> b) : buffers(std::move(b)) {}
    virtual ~Pending() = default;
    // Clears the handler's cancellation slot (unless called from it) and posts the handler.
    virtual void complete(MemoryPeer& peer, error_code ec, std::size_t n, bool from_slot) = 0;
    std::vector<Buffer> buffers;
  };
  using PendingRead = Pending<asio::mutable_buffer>;
  using PendingWrite = Pending<asio::const_buffer>;

  template <class Buffer, class Handler>
  struct PendingOf final : Pending<Buffer> {
    PendingOf(Handler h, std::vector<Buffer> b)
        : Pending<Buffer>(std::move(b)), handler(std::move(h)) {}
    void complete(MemoryPeer& peer, error_code ec, std::size_t n, bool from_slot) override {
      if (!from_slot) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        if (slot.is_connected()) slot.clear();
      }
      peer.complete(std::move(handler), ec, n);
    }
    Handler handler;
  };

  // Completions are always posted, never run inside the initiating call.
  template <class Handler>
  void complete(Handler handler, error_code ec, std::size_t n) {
    auto executor = asio::get_associated_executor(handler, executor_);
    asio::post(executor, [h = std::move(handler), ec, n]() mutable { std::move(h)(ec, n); });
  }

  void finish_read(error_code ec, std::size_t n, bool from_slot) {
    auto op = std::move(pending_);
    op->complete(*this, ec, n, from_slot);
  }

  template <class Handler>
  void hold_write(Handler handler, std::vector<asio::const_buffer> buffers) {
    auto slot = asio::get_associated_cancellation_slot(handler);
    auto id = ++write_id_;
    held_ = std::make_unique<PendingOf<asio::const_buffer, Handler>>(std::move(handler),
                                                                     std::move(buffers));
    if (slot.is_connected()) {
      slot.assign([weak = weak_from_this(), id](asio::cancellation_type_t) {
        if (auto self = weak.lock(); self && self->held_ && self->write_id_ == id) {
          ++self->cancelled_writes_;
          self->finish_write(asio::error::operation_aborted, 0, /*from_slot=*/true);
        }
      });
    }
  }

  void finish_write(error_code ec, std::size_t n, bool from_slot) {
    auto op = std::move(held_);
    op->complete(*this, ec, n, from_slot);
  }

  // Completes the pending read if it can complete now.
  void serve_pending_read() {
    if (!pending_) return;
    if (closed_) return finish_read(asio::error::operation_aborted, 0, false);
    if (reset_) return finish_read(asio::error::connection_reset, 0, false);
    std::size_t capacity = asio::buffer_size(pending_->buffers);
    if (capacity == 0) return finish_read({}, 0, false);
    if (input_.empty()) {
      if (input_ended_) finish_read(asio::error::eof, 0, false);
      return;  // stay pending
    }
    auto& segment = input_.front();
    auto n = std::min({segment.size(), capacity, max_read_});
    n = asio::buffer_copy(pending_->buffers, asio::buffer(segment.data(), n));
    segment.erase(0, n);
    if (segment.empty()) input_.pop_front();
    finish_read({}, n, false);
  }

  executor_type executor_;
  std::deque<std::string> input_;
  bool input_ended_ = false;
  bool reset_ = false;
  bool eof_after_shutdown_ = true;
  std::size_t max_read_ = std::numeric_limits<std::size_t>::max();
  std::string output_;
  std::unique_ptr<PendingRead> pending_;
  std::uint64_t read_id_ = 0;
  bool closed_ = false;
  bool shut_send_ = false;
  int reads_ = 0;
  int cancelled_reads_ = 0;

  int writes_ = 0;
  std::unique_ptr<PendingWrite> held_;
  std::uint64_t write_id_ = 0;
  int cancelled_writes_ = 0;
  int fail_read_at_ = kNever;
  error_code fail_read_ec_;
  int failed_reads_ = 0;
  int fail_write_at_ = kNever;
  error_code fail_write_ec_;
  int failed_writes_ = 0;
  int hold_writes_at_ = kNever;
};

// The server's end: an AsyncReadStream and AsyncWriteStream over a MemoryPeer.
class MemoryStream {
 public:
  using executor_type = asio::io_context::executor_type;

  explicit MemoryStream(std::shared_ptr<MemoryPeer> peer) : peer_(std::move(peer)) {}

  executor_type get_executor() const noexcept { return peer_->executor(); }

  template <class MutableBufferSequence, class Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    return asio::async_initiate<Token, void(error_code, std::size_t)>(
        [](auto handler, std::shared_ptr<MemoryPeer> peer,
           std::vector<asio::mutable_buffer> copied) {
          peer->start_read(std::move(handler), std::move(copied));
        },
        token, peer_,
        std::vector<asio::mutable_buffer>(asio::buffer_sequence_begin(buffers),
                                          asio::buffer_sequence_end(buffers)));
  }

  template <class ConstBufferSequence, class Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    return asio::async_initiate<Token, void(error_code, std::size_t)>(
        [](auto handler, std::shared_ptr<MemoryPeer> peer, std::vector<asio::const_buffer> copied) {
          peer->start_write(std::move(handler), std::move(copied));
        },
        token, peer_,
        std::vector<asio::const_buffer>(asio::buffer_sequence_begin(buffers),
                                        asio::buffer_sequence_end(buffers)));
  }

  void shutdown(asio::socket_base::shutdown_type what, error_code& ec) {
    ec = {};
    if (peer_->closed())
      ec = asio::error::bad_descriptor;
    else
      peer_->shutdown(what);
  }
  void close(error_code& ec) {
    ec = {};
    peer_->close();
  }
  void cancel(error_code& ec) {
    ec = {};
    peer_->cancel();
  }

 private:
  std::shared_ptr<MemoryPeer> peer_;
};

}  // namespace junction::test
