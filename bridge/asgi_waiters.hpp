// The futures an ASGI cycle hands the app while it must wait: receive() before an event is here,
// send() under backpressure, websocket.accept until the handshake is done; the same for the HTTP
// and the WebSocket cycle. Loop thread, GIL held.
#pragma once

#include <pybind11/pybind11.h>

#include <utility>
#include <vector>

namespace junction::bridge {

// Settles a future unless it is already done (an app may cancel a receive() it stopped
// waiting for). False when it was done, so the caller can keep the value for someone else.
bool set_result(const pybind11::object& future, pybind11::handle value);
bool set_exception(const pybind11::object& future, pybind11::handle error);

// The app's receive() calls: an event goes to the oldest one still waiting, or is kept for the
// next call. One event is kept at most (a second deliver() before the next receive() would
// replace it), so a cycle reads ahead only when deliver() says a receive() took the event.
class ReceiveWaiters {
 public:
  // `create_future` is the loop's, and outlives this.
  explicit ReceiveWaiters(pybind11::handle create_future) : create_future_(create_future) {}

  // An event that came before anyone asked for it.
  bool has_ready() const noexcept { return static_cast<bool>(ready_); }
  pybind11::object take_ready() { return std::exchange(ready_, pybind11::object()); }
  void drop_ready() { ready_ = pybind11::object(); }

  // For a receive() that finds nothing ready: the future it returns, settled by deliver().
  pybind11::object wait();
  // To the oldest receive() still waiting (true), else kept for the next one (false). A
  // cancelled receive() (an app that timed it out) must not lose the event.
  bool deliver(pybind11::object event);
  // Every receive() still waiting gets an event of its own (an app may write into it), made by
  // `make_event()`: the disconnect, when the cycle is over for them.
  template <class MakeEvent>
  void resolve_all(MakeEvent&& make_event) {
    auto waiting = std::move(futures_);
    futures_.clear();
    for (auto& future : waiting) set_result(future, make_event());
  }

 private:
  pybind11::handle create_future_;
  pybind11::object ready_;
  std::vector<pybind11::object> futures_;  // oldest first
};

// The one future a send() (or websocket.accept) returned for the app to await until the
// connection lets it go on.
class SendWaiter {
 public:
  explicit SendWaiter(pybind11::handle create_future) : create_future_(create_future) {}

  // A new future to return from send().
  pybind11::object wait();
  explicit operator bool() const noexcept { return static_cast<bool>(future_); }
  // The await returns None, or raises `error`; nothing when no one waits.
  void release(pybind11::handle error = {});
  // The await raises CancelledError (the app ended while it still waited).
  void cancel();

 private:
  pybind11::handle create_future_;
  pybind11::object future_;
};

}  // namespace junction::bridge
