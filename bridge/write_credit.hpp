// How many response bytes a pool thread may have on their way to the I/O thread before it waits.
//
// PEP 3333 ("Buffering and Streaming") lets a server keep sending a block while the app
// produces the next: it must not delay a block, but it need not have sent it before the app
// goes on. Waiting for each piece of a streamed WSGI body makes every piece a round trip through
// both threads, which costs more than a small piece and most of a large one's time
// (docs/benchmarks.md, "Every row in one command", the streaming entry). The pool thread takes a
// handler for each write and waits only until no more than a given number of bytes are
// unacknowledged; the I/O thread wakes it only then.
//
// A handler dropped without being called (the connection's io_context went away with the write
// queued) gives its bytes back with errc::client_gone, as BlockingCall does, so nobody waits
// forever.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>

#include "gateway/errors.hpp"
#include "gateway/exchange.hpp"

namespace junction::bridge {

class WriteCredit {
 public:
  using error_code = gateway::error_code;

  WriteCredit() : state_(std::make_shared<State>()) {}

  // Counts `bytes` as in flight; the handler, passed to the write, gives them back.
  gateway::Exchange::Handler take(std::size_t bytes) {
    {
      std::lock_guard lock(state_->mutex);
      state_->in_flight += bytes;
    }
    auto returner = std::make_shared<Returner>(state_, bytes);
    return [returner](error_code ec) { returner->give_back(ec); };
  }

  // Blocks while more than `bytes` are in flight and no write has failed; returns the first
  // failure. Release the GIL around this.
  error_code wait_until_at_most(std::size_t bytes) {
    std::unique_lock lock(state_->mutex);
    state_->wake_at = bytes;
    state_->waiting = true;
    state_->wake.wait(lock, [s = state_.get(), bytes] { return s->ec || s->in_flight <= bytes; });
    state_->waiting = false;
    return state_->ec;
  }

  // The first failure so far, without waiting.
  error_code failure() const {
    std::lock_guard lock(state_->mutex);
    return state_->ec;
  }
  std::size_t in_flight() const {
    std::lock_guard lock(state_->mutex);
    return state_->in_flight;
  }

 private:
  struct State {
    mutable std::mutex mutex;
    std::condition_variable wake;
    std::size_t in_flight = 0;
    error_code ec;            // the first write that failed
    bool waiting = false;     // the pool thread is in a wait: only then is it worth a wake-up
    std::size_t wake_at = 0;  // ... until this many bytes are in flight
  };
  // Shared by a handler's copies: the first call gives the bytes back, or the last copy going.
  struct Returner {
    Returner(std::shared_ptr<State> s, std::size_t n) : state(std::move(s)), bytes(n) {}
    Returner(const Returner&) = delete;
    Returner& operator=(const Returner&) = delete;
    ~Returner() { give_back(gateway::errc::client_gone); }

    void give_back(error_code ec) {
      if (given) return;
      given = true;
      bool wake = false;
      {
        std::lock_guard lock(state->mutex);
        state->in_flight -= bytes;
        if (ec && !state->ec) state->ec = ec;
        wake = state->waiting && (state->ec || state->in_flight <= state->wake_at);
      }
      if (wake) state->wake.notify_one();
    }

    std::shared_ptr<State> state;
    std::size_t bytes;
    bool given = false;
  };

  std::shared_ptr<State> state_;
};

}  // namespace junction::bridge
