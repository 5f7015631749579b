// BlockingCall: a pool thread waits for an I/O-thread handler. Called from another thread, the
// handler wakes the waiter with its result; dropped without being called (the io_context went
// away with the operation queued), it wakes the waiter with client_gone; copies count as one.
#include "bridge/blocking_call.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>
#include <optional>
#include <thread>
#include <utility>

namespace junction::bridge {
namespace {

using gateway::errc;
using gateway::error_code;

TEST_CASE("BlockingCall: a read handler run on another thread wakes wait()", "[blocking_call]") {
  BlockingCall call;
  std::thread io([h = call.read_handler()] { h(error_code{}, 42); });
  CHECK(call.wait() == error_code{});
  CHECK(call.transferred() == 42);
  io.join();
}

TEST_CASE("BlockingCall: wait() returns the handler's error code", "[blocking_call]") {
  BlockingCall call;
  std::thread io([h = call.read_handler()] { h(errc::end_of_body, 0); });
  CHECK(call.wait() == errc::end_of_body);
  CHECK(call.transferred() == 0);
  io.join();

  std::thread writer([h = call.handler()] { h(errc::length_mismatch); });
  CHECK(call.wait() == errc::length_mismatch);
  CHECK(call.transferred() == 0);
  writer.join();
}

TEST_CASE("BlockingCall: a handler posted to an io_context runs there", "[blocking_call]") {
  BlockingCall call;
  boost::asio::io_context io;
  boost::asio::post(io, [h = call.read_handler()] { h(error_code{}, 7); });
  std::thread runner([&io] { io.run(); });
  CHECK(call.wait() == error_code{});
  CHECK(call.transferred() == 7);
  runner.join();
}

TEST_CASE("BlockingCall: a handler dropped with its io_context wakes with client_gone",
          "[blocking_call]") {
  BlockingCall call;
  {
    boost::asio::io_context io;
    boost::asio::post(io, [h = call.read_handler()] { h(error_code{}, 99); });
    // Never run: the queued handler is destroyed with the io_context.
  }
  CHECK(call.wait() == errc::client_gone);
  CHECK(call.transferred() == 0);
}

TEST_CASE("BlockingCall: a handler dropped on another thread wakes with client_gone",
          "[blocking_call]") {
  BlockingCall call;
  std::optional<gateway::Exchange::Handler> handler(call.handler());
  std::thread io([&handler] { handler.reset(); });
  CHECK(call.wait() == errc::client_gone);
  io.join();
}

TEST_CASE("BlockingCall: copies of a handler count as one", "[blocking_call]") {
  SECTION("calling one copy completes the call; dropping the others does not change it") {
    BlockingCall call;
    {
      auto first = call.read_handler();
      auto second = first;
      gateway::Exchange::ReadHandler third = second;
      second(errc::bad_body, 5);
      third(error_code{}, 100);  // a second call is ignored
    }
    CHECK(call.wait() == errc::bad_body);
    CHECK(call.transferred() == 5);
  }
  SECTION("dropping one copy leaves the call open for the others") {
    BlockingCall call;
    std::optional<gateway::Exchange::Handler> kept;
    {
      auto original = call.handler();
      kept = original;
    }  // the original goes; the copy still holds the operation
    std::thread io([h = std::move(*kept)] { h(error_code{}); });
    kept.reset();
    CHECK(call.wait() == error_code{});
    io.join();
  }
  SECTION("dropping every copy completes the call once, with client_gone") {
    BlockingCall call;
    {
      boost::asio::io_context io;
      auto handler = call.handler();
      boost::asio::post(io, [handler] { handler(error_code{}); });
      boost::asio::post(io, [handler] { handler(error_code{}); });
    }
    CHECK(call.wait() == errc::client_gone);
  }
}

TEST_CASE("BlockingCall: one call after another", "[blocking_call]") {
  BlockingCall call;
  for (std::size_t round = 1; round <= 3; ++round) {
    std::thread io([h = call.read_handler(), round] { h(error_code{}, round * 10); });
    CHECK(call.wait() == error_code{});
    CHECK(call.transferred() == round * 10);
    io.join();
  }
  // A dropped handler after completed ones still wakes the next wait().
  { auto dropped = call.handler(); }
  CHECK(call.wait() == errc::client_gone);
}

}  // namespace
}  // namespace junction::bridge
