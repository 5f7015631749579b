#include "bridge/event_loop.hpp"

#include <pybind11/embed.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <future>
#include <memory>
#include <stdexcept>

#include "bridge/borrowed_bytes.hpp"

namespace py = pybind11;

namespace junction::bridge {

EventLoop::EventLoop(const std::string& kind) {
  eventfd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (eventfd_ < 0)
    throw std::runtime_error(std::string("cannot create the ASGI loop's eventfd: ") +
                             std::strerror(errno));
  support_ = py::module_::import("_junction_support");
  py::tuple made = support_.attr("new_event_loop")(kind);
  loop_ = made[0];
  name_ = made[1].cast<std::string>();
  queue_.reserve(256);
  running_.reserve(256);

  control_ = py::dict();
  control_["grace"] = 1.0;
  drain_ = py::cpp_function([this] { drain(); });
  flush_outbox_ = py::cpp_function([this] { flush_outbox(); });
  call_soon_ = loop_.attr("call_soon");
  // The thread takes the GIL (blocking until the caller releases it) and runs the loop.
  std::promise<void> started;
  auto ready = started.get_future();
  thread_ = std::thread([this, &started] {
    thread_id_ = std::this_thread::get_id();
    started.set_value();
    py::gil_scoped_acquire gil;
    try {
      support_.attr("run_loop")(loop_, eventfd_, drain_, control_);
    } catch (py::error_already_set& error) {
      spdlog::error("the ASGI event loop stopped with an error: {}", error.what());
    }
    finished_ = true;
  });
  ready.wait();
}

EventLoop::~EventLoop() {
  if (thread_.joinable()) thread_.detach();  // stop() timed out: the process is exiting
  if (eventfd_ >= 0) ::close(eventfd_);
}

void EventLoop::post_batched(const boost::asio::any_io_executor& io,
                             std::shared_ptr<LoopTarget> target, int kind, gateway::error_code ec,
                             std::size_t n) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back({std::move(target), kind, ec, n});
  }
  // One wake-up per round of this I/O thread: the posted flush runs after the handlers that
  // are ready now (the other sockets of this epoll round).
  thread_local bool flush_posted = false;
  if (flush_posted) return;
  flush_posted = true;
  boost::asio::post(io, [this] {
    flush_posted = false;
    signal_if_waiting();
  });
}

void EventLoop::signal_if_waiting() {
  {
    std::lock_guard lock(mutex_);
    if (queue_.empty() || signalled_) return;
    signalled_ = true;
  }
  std::uint64_t one = 1;
  // EAGAIN only when the counter is near overflow, which a pending read rules out.
  [[maybe_unused]] auto written = ::write(eventfd_, &one, sizeof one);
}

void EventLoop::send_to_io(const boost::asio::any_io_executor& io, std::function<void()> op) {
  if (outbox_.empty()) call_soon_(flush_outbox_);
  outbox_.push_back({io, std::move(op)});
}

void EventLoop::flush_outbox() {
  auto outgoing = std::move(outbox_);
  outbox_.clear();
  // Group by I/O thread, keeping the order within each; usually there is one group.
  std::vector<bool> sent(outgoing.size(), false);
  for (std::size_t i = 0; i < outgoing.size(); ++i) {
    if (sent[i]) continue;
    std::vector<std::function<void()>> ops;
    for (std::size_t j = i; j < outgoing.size(); ++j) {
      if (sent[j] || outgoing[j].io != outgoing[i].io) continue;
      ops.push_back(std::move(outgoing[j].op));
      sent[j] = true;
    }
    boost::asio::post(outgoing[i].io, [ops = std::move(ops)] {
      for (const auto& op : ops) op();
    });
  }
}

void EventLoop::drain() {
  std::uint64_t count;
  [[maybe_unused]] auto got = ::read(eventfd_, &count, sizeof count);
  {
    std::lock_guard lock(mutex_);
    running_.swap(queue_);
    signalled_ = false;
  }
  for (auto& event : running_) {
    try {
      event.target->on_loop_event(event.kind, event.ec, event.n);
    } catch (py::error_already_set& error) {
      spdlog::error("ASGI bridge: unexpected Python error: {}", error.what());
    } catch (const std::exception& error) {
      spdlog::error("ASGI bridge: unexpected error: {}", error.what());
    }
    // Targets drop their Python objects here, with the GIL held.
    event.target.reset();
  }
  running_.clear();
  release_deferred();  // the app bytes the I/O threads have sent since
}

py::object EventLoop::run(py::object coroutine, std::chrono::milliseconds timeout) {
  py::object limit = timeout.count() > 0 ? py::object(py::float_(timeout.count() / 1000.0))
                                         : py::object(py::none());
  return support_.attr("run_on_loop")(loop_, std::move(coroutine), limit);
}

void EventLoop::start_heartbeat(std::chrono::milliseconds period, std::function<void()> beat) {
  double seconds = static_cast<double>(period.count()) / 1000.0;
  heartbeat_ = py::cpp_function([this, seconds, beat = std::move(beat)] {
    beat();
    loop_.attr("call_later")(seconds, heartbeat_);
  });
  loop_.attr("call_soon_threadsafe")(heartbeat_);
}

void EventLoop::start_lag_probe(std::chrono::milliseconds period,
                                std::function<void(std::chrono::nanoseconds)> lag) {
  double seconds = static_cast<double>(period.count()) / 1000.0;
  auto due = std::make_shared<std::chrono::steady_clock::time_point>();
  lag_probe_ = py::cpp_function([this, seconds, period, due, lag = std::move(lag)] {
    auto now = std::chrono::steady_clock::now();
    if (*due != std::chrono::steady_clock::time_point{})
      lag(std::max(now - *due, std::chrono::steady_clock::duration::zero()));
    *due = now + period;
    loop_.attr("call_later")(seconds, lag_probe_);
  });
  loop_.attr("call_soon_threadsafe")(lag_probe_);
}

bool EventLoop::stop(std::chrono::milliseconds timeout) {
  {
    py::gil_scoped_acquire gil;
    control_["grace"] = timeout.count() / 1000.0;
    if (!finished_) loop_.attr("call_soon_threadsafe")(loop_.attr("stop"));
  }
  auto deadline = std::chrono::steady_clock::now() + timeout + std::chrono::seconds(1);
  while (!finished_ && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (!finished_) return false;
  thread_.join();
  py::gil_scoped_acquire gil;
  loop_ = py::object();
  support_ = py::object();
  drain_ = py::object();
  control_ = py::object();
  flush_outbox_ = py::object();
  call_soon_ = py::object();
  heartbeat_ = py::object();
  lag_probe_ = py::object();
  outbox_.clear();
  std::lock_guard lock(mutex_);
  queue_.clear();  // events nobody will run any more; their targets drop Python objects here
  return true;
}

}  // namespace junction::bridge
