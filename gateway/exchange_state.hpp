// The state machine of one exchange's response, and its waiters, as both protocols keep it: an
// HTTP/1.1 connection for its exchange in flight, an HTTP/2 session for each stream. What an
// app may do next (gateway/exchange.hpp) follows from it in one place:
//
//   not started --start()--> head recorded --first write--> head sent --last write/finish-->
//   body ended --the bytes are out--> done          (aborted: cut; lost: the client left)
//
// Every handler it holds is posted on the connection's executor, never run inline, so an app's
// callback never runs inside the protocol code that completes it. Touched on the connection's
// thread only.
#pragma once

#include <boost/asio/post.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "gateway/errors.hpp"
#include "gateway/exchange.hpp"
#include "gateway/transport.hpp"

namespace junction::gateway {

class ExchangeState {
 public:
  // --- The response ---------------------------------------------------------------------------
  ResponseHead response;         // what start() recorded; it goes out with the first write
  int status = 0;                // the status that went out, for the access log
  bool head_started = false;     // start() was called
  bool head_sent = false;        // the head is on its way to the client
  bool body_ended = false;       // the app ended the body: nothing more may be written
  bool response_done = false;    // complete on our side, or cut
  bool aborted = false;          // cut: the client must see a broken response
  bool lost = false;             // the client left before the response was complete
  std::uint64_t body_bytes = 0;  // body bytes the app wrote (and we framed)
  std::optional<std::uint64_t> declared_length;  // the app's own Content-Length

  // --- The request body -----------------------------------------------------------------------
  bool body_done = false;  // the whole body has arrived
  error_code body_error;   // why it cannot be read on

  // A new exchange on the same connection (HTTP/1.1 keep-alive). Writes of the one before that
  // still wait for the output they queued keep waiting: that output is the connection's.
  void next_exchange() {
    auto waiting = std::exchange(write_waiters_, {});
    *this = ExchangeState{};
    write_waiters_ = std::move(waiting);
  }

  // Records the head unless one went out already (a later start() may replace it until then).
  void start(ResponseHead head) {
    if (head_sent || response_done) return;
    response = std::move(head);
    head_started = true;
  }

  // What a write or finish meets, before the protocol adds its own rules: the client gone, or
  // the sink used out of order.
  error_code writable() const noexcept {
    if (lost) return errc::client_gone;
    if (!head_started || body_ended) return errc::response_state;
    return {};
  }

  // Counts `size` more body bytes and returns how many may go: never past the app's own
  // Content-Length, the rest being the app's error (errc::length_mismatch in `ec`).
  std::uint64_t take_body(std::uint64_t size, error_code& ec) noexcept {
    if (declared_length && size > *declared_length - body_bytes) {
      size = *declared_length - body_bytes;
      ec = errc::length_mismatch;
    }
    body_bytes += size;
    return size;
  }
  // The app wrote less than its Content-Length.
  bool short_of_declared() const noexcept {
    return declared_length && body_bytes < *declared_length;
  }

  // --- The app's body read (one at a time) ---------------------------------------------------
  bool reading() const noexcept { return static_cast<bool>(read_handler_); }
  std::span<char> read_buffer() const noexcept { return read_into_; }
  // Keeps the app's read until bytes (or the end, or an error) can answer it; false (and the
  // handler is failed) when a read is already outstanding.
  // A client that left fails it at once (the bytes it sent before are not the app's to read).
  bool wait_read(const Executor& executor, std::span<char> into, Exchange::ReadHandler handler) {
    if (lost || read_handler_) {
      auto ec = lost ? error_code(errc::client_gone) : error_code(errc::response_state);
      asio::post(executor, [h = std::move(handler), ec] { h(ec, 0); });
      return false;
    }
    read_into_ = into;
    read_handler_ = std::move(handler);
    return true;
  }
  void complete_read(const Executor& executor, error_code ec, std::size_t n) {
    auto handler = std::exchange(read_handler_, nullptr);
    read_into_ = {};
    if (handler) asio::post(executor, [h = std::move(handler), ec, n] { h(ec, n); });
  }

  // --- The app's writes waiting for the client to take what is queued (backpressure) -------
  bool writes_waiting() const noexcept { return !write_waiters_.empty(); }
  // `first`: ahead of the writes already waiting (a piece queued before them completed).
  void hold_write(Exchange::Handler handler, bool first = false) {
    write_waiters_.insert(first ? write_waiters_.begin() : write_waiters_.end(),
                          std::move(handler));
  }
  // Runs a write's handler now: done, or failed with `ec`.
  static void complete_write(const Executor& executor, Exchange::Handler handler, error_code ec) {
    if (handler) asio::post(executor, [h = std::move(handler), ec] { h(ec); });
  }
  void release_writes(const Executor& executor, error_code ec) {
    auto waiters = std::exchange(write_waiters_, {});
    for (auto& handler : waiters) complete_write(executor, std::move(handler), ec);
  }

  // --- The client going away -------------------------------------------------------------------
  // Called at most once, when the client leaves before the response is complete; registered
  // after that, at once.
  void on_client_gone(const Executor& executor, std::function<void()> callback) {
    if (lost)
      asio::post(executor, std::move(callback));
    else if (!response_done)
      gone_callback_ = std::move(callback);
  }
  // The response is complete: the callback will never be wanted.
  void forget_client_gone() noexcept { gone_callback_ = nullptr; }
  // The client left before the response was complete: the app hears it once; its body reads
  // end with client_gone, its waiting writes fail. Returns false when it was known already.
  bool lose(const Executor& executor) {
    if (lost) return false;
    lost = true;
    if (gone_callback_) asio::post(executor, std::exchange(gone_callback_, nullptr));
    if (!body_done && !body_error) body_error = errc::client_gone;
    release_writes(executor, errc::client_gone);
    return true;
  }

 private:
  std::span<char> read_into_;
  Exchange::ReadHandler read_handler_;
  std::vector<Exchange::Handler> write_waiters_;
  std::function<void()> gone_callback_;
};

}  // namespace junction::gateway
