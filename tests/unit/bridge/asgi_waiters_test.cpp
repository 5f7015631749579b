// The futures ASGI cycles hand out: settled once; an event goes to the oldest receive() still
// waiting, skips the cancelled ones, else waits for the next call; a send() is let go once.
#include "bridge/asgi_waiters.hpp"

#include <pybind11/embed.h>

#include <catch2/catch.hpp>
#include <stdexcept>

#include "support/python.hpp"

namespace py = pybind11;

namespace junction::bridge {
namespace {

TEST_CASE("a future is settled once; a cancelled one is left alone") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  py::object loop = py::module_::import("asyncio").attr("new_event_loop")();
  py::object future = loop.attr("create_future")();
  CHECK(set_result(future, py::int_(1)));
  CHECK_FALSE(set_result(future, py::int_(2)));
  CHECK(future.attr("result")().cast<int>() == 1);
  py::object cancelled = loop.attr("create_future")();
  cancelled.attr("cancel")();
  CHECK_FALSE(set_exception(cancelled, py::module_::import("builtins").attr("OSError")("x")));
  loop.attr("close")();
}

TEST_CASE("an event goes to the oldest receive() still waiting, past a cancelled one") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  py::object loop = py::module_::import("asyncio").attr("new_event_loop")();
  {
    py::object create_future = loop.attr("create_future");  // outlives the waiters
    ReceiveWaiters receivers(create_future);
    py::object timed_out = receivers.wait();
    py::object first = receivers.wait();
    py::object second = receivers.wait();
    timed_out.attr("cancel")();
    CHECK(receivers.deliver(py::int_(1)));
    CHECK(first.attr("result")().cast<int>() == 1);
    CHECK_FALSE(second.attr("done")().cast<bool>());
    CHECK_FALSE(receivers.has_ready());
    second.attr("cancel")();
    // Nobody left to take it: kept for the next receive().
    CHECK_FALSE(receivers.deliver(py::int_(2)));
    REQUIRE(receivers.has_ready());
    CHECK(receivers.take_ready().cast<int>() == 2);
    CHECK_FALSE(receivers.has_ready());
  }
  loop.attr("close")();
}

TEST_CASE("resolve_all gives every waiting receive() its own event") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  py::object loop = py::module_::import("asyncio").attr("new_event_loop")();
  {
    py::object create_future = loop.attr("create_future");  // outlives the waiters
    ReceiveWaiters receivers(create_future);
    py::object a = receivers.wait();
    py::object b = receivers.wait();
    receivers.resolve_all([] { return py::dict(); });
    CHECK(py::isinstance<py::dict>(a.attr("result")()));
    CHECK_FALSE(a.attr("result")().is(b.attr("result")()));
    receivers.resolve_all([]() -> py::object { throw std::logic_error("nobody waits"); });
  }
  loop.attr("close")();
}

TEST_CASE("a send() waiter is let go once: None, an exception, or cancelled") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  py::object loop = py::module_::import("asyncio").attr("new_event_loop")();
  {
    py::object create_future = loop.attr("create_future");  // outlives the waiters
    SendWaiter sender(create_future);
    CHECK_FALSE(sender);
    sender.release();  // nobody waits: nothing happens
    sender.cancel();
    py::object future = sender.wait();
    CHECK(sender);
    sender.release();
    CHECK_FALSE(sender);
    CHECK(future.attr("result")().is_none());

    future = sender.wait();
    py::object error = py::module_::import("builtins").attr("OSError")("gone");
    sender.release(error);
    CHECK(future.attr("exception")().is(error));

    future = sender.wait();
    sender.cancel();
    CHECK_FALSE(sender);
    CHECK(future.attr("cancelled")().cast<bool>());
  }
  loop.attr("close")();
}

}  // namespace
}  // namespace junction::bridge
