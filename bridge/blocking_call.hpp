// A pool thread's way to wait for an Exchange operation that completes on an I/O thread.
//
// The pool thread starts the operation with a handler from this class and then blocks in
// wait() with the GIL released. The handler wakes it with one futex call. If the handler is
// destroyed without being called (the connection's io_context was torn down with the operation
// still queued), the waiter wakes with errc::client_gone instead of hanging forever.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>

#include "gateway/errors.hpp"
#include "gateway/exchange.hpp"

namespace junction::bridge {

class BlockingCall {
 public:
  using error_code = gateway::error_code;

  // One operation at a time: call wait() before asking for the next handler.
  gateway::Exchange::Handler handler() {
    auto notifier = arm();
    return [notifier](error_code ec) { notifier->complete(ec, 0); };
  }
  gateway::Exchange::ReadHandler read_handler() {
    auto notifier = arm();
    return [notifier](error_code ec, std::size_t n) { notifier->complete(ec, n); };
  }

  // Blocks until the handler ran (or was dropped). Release the GIL around this.
  error_code wait() {
    state_->done.wait(false, std::memory_order_acquire);
    return state_->ec;
  }
  std::size_t transferred() const noexcept { return state_->transferred; }

 private:
  struct State {
    std::atomic<bool> done{false};
    error_code ec;
    std::size_t transferred = 0;
  };
  // Shared by the handler's copies; its destructor is the handler's last copy going away.
  struct Notifier {
    std::shared_ptr<State> state;
    bool called = false;
    void complete(error_code ec, std::size_t n) {
      if (called) return;
      called = true;
      state->ec = ec;
      state->transferred = n;
      state->done.store(true, std::memory_order_release);
      state->done.notify_one();
    }
    ~Notifier() {
      if (state) complete(gateway::errc::client_gone, 0);
    }
  };

  std::shared_ptr<Notifier> arm() {
    state_ = std::make_shared<State>();
    auto notifier = std::make_shared<Notifier>();
    notifier->state = state_;
    return notifier;
  }

  std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace junction::bridge
