// The ASGI loop thread: events posted from I/O threads all arrive, in order per thread, on the
// loop thread with the GIL held; coroutines run there on request; stop() cancels what is left.
#include "bridge/event_loop.hpp"

#include <pybind11/embed.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>
#include <functional>
#include <future>
#include <optional>
#include <thread>
#include <vector>

#include "bridge/python_module.hpp"
#include "support/python.hpp"

namespace py = pybind11;

namespace junction::bridge {
namespace {

class Recorder final : public LoopTarget {
 public:
  Recorder(EventLoop& loop, int expected) : loop_(loop), expected_(expected) {}
  void on_loop_event(int kind, gateway::error_code, std::size_t n) override {
    if (!loop_.on_loop_thread() || !PyGILState_Check()) wrong_thread_ = true;
    // Per sender (kind), the values must arrive in the order they were posted.
    if (n != next_[kind]++) out_of_order_ = true;
    if (++count_ == expected_) all_.set_value();
  }
  EventLoop& loop_;
  int expected_;
  int count_ = 0;
  std::size_t next_[2] = {0, 0};
  bool wrong_thread_ = false;
  bool out_of_order_ = false;
  std::promise<void> all_;
};

// One I/O thread: an io_context run by the calling thread. Each handler pushes a round of up to
// 8 events and posts the next round, so the loop wakes between rounds while pushes go on.
void send_rounds(EventLoop& loop, const std::shared_ptr<Recorder>& recorder, int kind,
                 std::size_t count) {
  boost::asio::io_context io;
  std::size_t next = 0;
  std::function<void()> round = [&] {
    for (std::size_t end = std::min(count, next + 1 + next % 8); next < end; ++next)
      loop.post_batched(io.get_executor(), recorder, kind, {}, next);
    if (next < count) boost::asio::post(io, round);
  };
  boost::asio::post(io, round);
  io.run();
}

std::unique_ptr<EventLoop> make_loop() {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  install_support_module();
  return std::make_unique<EventLoop>("asyncio");
}

TEST_CASE("events posted from two I/O threads all reach the loop thread, in order per thread") {
  auto loop = make_loop();
  constexpr int kPerThread = 5000;
  auto recorder = std::make_shared<Recorder>(*loop, 2 * kPerThread);
  auto done = recorder->all_.get_future();
  std::vector<std::thread> senders;
  for (int kind = 0; kind < 2; ++kind)
    senders.emplace_back([&, kind] { send_rounds(*loop, recorder, kind, kPerThread); });
  for (auto& sender : senders) sender.join();
  REQUIRE(done.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  CHECK_FALSE(recorder->wrong_thread_);
  CHECK_FALSE(recorder->out_of_order_);
  CHECK(recorder->count_ == 2 * kPerThread);
  CHECK(loop->stop(std::chrono::milliseconds(500)));
}

TEST_CASE("run() returns a coroutine's result from the loop thread, and raises its exception") {
  auto loop = make_loop();
  {
    py::gil_scoped_acquire gil;
    py::dict scope;
    py::exec(R"(
import asyncio, threading
async def where():
    await asyncio.sleep(0)
    return threading.current_thread().name != "MainThread" and asyncio.get_running_loop() is not None
async def fails():
    raise LookupError("from the loop")
)",
             scope);
    CHECK(loop->run(scope["where"]()).cast<bool>());
    CHECK_THROWS_WITH(loop->run(scope["fails"]()), Catch::Contains("from the loop"));
    py::exec("async def forever():\n    await asyncio.sleep(3600)\n", scope);
    CHECK_THROWS_WITH(loop->run(scope["forever"](), std::chrono::milliseconds(50)),
                      Catch::Contains("TimeoutError"));
  }
  CHECK(loop->stop(std::chrono::milliseconds(500)));
}

TEST_CASE("stop() cancels the tasks still running and lets them clean up") {
  auto loop = make_loop();
  std::optional<py::dict> scope;  // made and dropped with the GIL held
  {
    py::gil_scoped_acquire gil;
    scope.emplace();
    py::exec(R"(
import asyncio
cleaned = []
async def worker():
    try:
        await asyncio.sleep(3600)
    finally:
        cleaned.append(True)
async def start():
    asyncio.get_running_loop().create_task(worker())
    await asyncio.sleep(0)
)",
             *scope);
    loop->run((*scope)["start"]());
  }
  CHECK(loop->stop(std::chrono::milliseconds(1000)));
  py::gil_scoped_acquire gil;
  CHECK(py::len((*scope)["cleaned"]) == 1);
  scope.reset();
}

}  // namespace
}  // namespace junction::bridge
