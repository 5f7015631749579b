// The ASGI side's one asyncio loop thread, and the door I/O threads use to reach it
// (docs/architecture.md, "Python apps", ASGI).
//
// I/O threads never run Python. They push events (a new request, body bytes read, a write
// taken, a client gone) into a queue; once an I/O thread has handled the sockets ready now, it
// writes an eventfd the loop watches with loop.add_reader (unless a write is still unread), and
// the loop thread drains the whole queue in one GIL hold. So a burst of requests costs one wake-up
// and one GIL acquisition, not one call_soon_threadsafe each (which would take the GIL, append to
// the loop's deque and write its self-pipe per event).
#pragma once

#include <pybind11/pybind11.h>

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gateway/exchange.hpp"

namespace junction::bridge {

// Something living on the loop thread that I/O-thread events are addressed to.
class LoopTarget {
 public:
  virtual ~LoopTarget() = default;
  // On the loop thread, with the GIL held. `kind`, `ec` and `n` mean what the target says.
  virtual void on_loop_event(int kind, gateway::error_code ec, std::size_t n) = 0;
};

class EventLoop {
 public:
  // Creates the loop ("auto": uvloop when importable, else asyncio; "asyncio"; "uvloop") with
  // the GIL held, and starts its thread, which takes the GIL once the caller releases it.
  // Throws std::runtime_error with a message for the user (uvloop asked for but missing).
  explicit EventLoop(const std::string& kind);
  ~EventLoop();  // stop() must have run
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // From an I/O thread running `io`, no GIL needed, never blocks for long: queues an event for
  // `target`. The loop is woken once that thread has handled every socket that is ready now, so
  // a round of requests costs one wake-up, not one each.
  void post_batched(const boost::asio::any_io_executor& io, std::shared_ptr<LoopTarget> target,
                    int kind, gateway::error_code ec = {}, std::size_t n = 0);

  // Loop thread: runs `op` on the I/O thread of `io` once the tasks ready now have run. The
  // operations of one round go to each I/O thread in one hand-off (one post, one wake-up)
  // instead of one per call; their order is kept.
  void send_to_io(const boost::asio::any_io_executor& io, std::function<void()> op);

  // The loop object, for code running on the loop thread (create_future, create_task).
  pybind11::handle loop() const noexcept { return loop_; }
  // "uvloop" or "asyncio", for the log.
  const std::string& name() const noexcept { return name_; }
  bool on_loop_thread() const noexcept { return std::this_thread::get_id() == thread_id_; }

  // From another thread, with the GIL held (it is released while waiting): runs `coroutine` on
  // the loop and returns its result; Python exceptions propagate. Waits at most `timeout`
  // (zero: no limit), then raises TimeoutError.
  pybind11::object run(pybind11::object coroutine, std::chrono::milliseconds timeout = {});

  // With the GIL held, before the loop serves: calls `beat` on the loop thread every `period`,
  // as one more callback among the app's, so a loop that an app blocks (time.sleep in a
  // coroutine) stops beating (--worker-timeout). `beat` runs with the GIL held and must be
  // quick.
  void start_heartbeat(std::chrono::milliseconds period, std::function<void()> beat);
  // Every `period`, on the loop thread: `lag(late)`, how long after it was due the loop ran a
  // callback scheduled with call_later (the event-loop lag: time the app's code held the loop).
  void start_lag_probe(std::chrono::milliseconds period,
                       std::function<void(std::chrono::nanoseconds)> lag);

  // Cancels the tasks still running, waits up to `timeout` for them, stops the loop and joins
  // its thread. Call with the GIL released. False when the loop thread did not finish.
  bool stop(std::chrono::milliseconds timeout);

 private:
  struct Event {
    std::shared_ptr<LoopTarget> target;
    int kind;
    gateway::error_code ec;
    std::size_t n;
  };

  void thread_main();
  void drain();  // the add_reader callback
  void signal_if_waiting();
  void flush_outbox();  // loop thread, scheduled with call_soon by send_to_io

  pybind11::object loop_;
  pybind11::object support_;
  pybind11::object drain_;    // the add_reader callback
  pybind11::object control_;  // {"grace": seconds} the loop thread reads when stopping
  std::string name_;
  int eventfd_ = -1;
  std::mutex mutex_;
  std::vector<Event> queue_;    // guarded by mutex_
  std::vector<Event> running_;  // the loop thread's batch
  bool signalled_ = false;      // guarded by mutex_: the eventfd was written and not yet read
  std::thread thread_;
  std::thread::id thread_id_;
  std::atomic<bool> finished_{false};
  // Operations for the I/O threads, loop thread only.
  struct Outgoing {
    boost::asio::any_io_executor io;
    std::function<void()> op;
  };
  std::vector<Outgoing> outbox_;
  pybind11::object flush_outbox_;  // a callable for call_soon
  pybind11::object call_soon_;
  pybind11::object heartbeat_;  // the recurring call_later callback, once started
  pybind11::object lag_probe_;  // the same for the lag probe
};

}  // namespace junction::bridge
