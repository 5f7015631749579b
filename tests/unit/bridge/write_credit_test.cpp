// WriteCredit: a pool thread's writes in flight to the I/O thread. wait_until_at_most(N)
// returns once handlers (run on another thread) gave back enough, or at once when a write
// failed; a handler dropped without being called gives its bytes back as client_gone; copies of
// a handler count as one.
#include "bridge/write_credit.hpp"

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace junction::bridge {
namespace {

using gateway::errc;
using gateway::error_code;

TEST_CASE("WriteCredit: bytes are counted while in flight and given back", "[write_credit]") {
  WriteCredit credit;
  auto first = credit.take(60);
  auto second = credit.take(40);
  CHECK(credit.in_flight() == 100);
  CHECK(credit.wait_until_at_most(100) == error_code{});  // already there: returns at once
  second(error_code{});
  CHECK(credit.in_flight() == 60);
  first(error_code{});
  CHECK(credit.in_flight() == 0);
  CHECK(credit.wait_until_at_most(0) == error_code{});
  CHECK(credit.failure() == error_code{});
}

TEST_CASE("WriteCredit: a wait ends when enough came back", "[write_credit]") {
  for (std::size_t target : {std::size_t{100}, std::size_t{0}}) {
    WriteCredit credit;
    std::vector<gateway::Exchange::Handler> handlers;
    for (int i = 0; i < 5; ++i) handlers.push_back(credit.take(50));  // 250 in flight
    std::atomic<int> given_back{0};
    boost::asio::io_context io;
    for (auto& handler : handlers)
      boost::asio::post(io, [&given_back, h = std::move(handler)] {
        ++given_back;
        h(error_code{});
      });
    std::thread runner([&io] { io.run(); });
    CHECK(credit.wait_until_at_most(target) == error_code{});
    // 250 - 50k <= target: at least 3 handlers for 100, all 5 for 0, ran before it returned.
    CHECK(given_back.load() >= (target == 0 ? 5 : 3));
    CHECK(credit.in_flight() <= target);
    runner.join();
    CHECK(credit.in_flight() == 0);
  }
}

TEST_CASE("WriteCredit: a failed write ends the wait and stays reported", "[write_credit]") {
  WriteCredit credit;
  auto slow = credit.take(100);  // not given back while the waiter waits
  auto failing = credit.take(5);
  std::thread io([h = std::move(failing)] { h(errc::length_mismatch); });
  CHECK(credit.wait_until_at_most(10) == errc::length_mismatch);
  io.join();
  CHECK(credit.in_flight() == 100);
  // The first failure is the one reported, also after later ones.
  slow(errc::client_gone);
  CHECK(credit.failure() == errc::length_mismatch);
  CHECK(credit.wait_until_at_most(0) == errc::length_mismatch);
  CHECK(credit.in_flight() == 0);
}

TEST_CASE("WriteCredit: handlers dropped with their io_context give back as client_gone",
          "[write_credit]") {
  WriteCredit credit;
  {
    boost::asio::io_context io;
    boost::asio::post(io, [h = credit.take(30)] { h(error_code{}); });
    boost::asio::post(io, [h = credit.take(30)] { h(error_code{}); });
    CHECK(credit.in_flight() == 60);
    // Never run: the queued handlers are destroyed with the io_context.
  }
  CHECK(credit.in_flight() == 0);
  CHECK(credit.failure() == errc::client_gone);
  CHECK(credit.wait_until_at_most(0) == errc::client_gone);
}

TEST_CASE("WriteCredit: a handler dropped on another thread wakes the waiter", "[write_credit]") {
  WriteCredit credit;
  std::optional<gateway::Exchange::Handler> handler(credit.take(50));
  std::thread io([&handler] { handler.reset(); });
  CHECK(credit.wait_until_at_most(10) == errc::client_gone);
  io.join();
  CHECK(credit.in_flight() == 0);
}

TEST_CASE("WriteCredit: copies of a handler count as one", "[write_credit]") {
  SECTION("the first call gives the bytes back; later calls and drops change nothing") {
    WriteCredit credit;
    {
      auto original = credit.take(70);
      auto copy = original;
      copy(error_code{});
      original(errc::client_gone);  // ignored: already given back
    }
    CHECK(credit.in_flight() == 0);
    CHECK(credit.failure() == error_code{});
  }
  SECTION("dropping one copy keeps the bytes in flight until the last goes") {
    WriteCredit credit;
    std::optional<gateway::Exchange::Handler> kept;
    {
      auto original = credit.take(70);
      kept = original;
    }
    CHECK(credit.in_flight() == 70);
    (*kept)(error_code{});
    kept.reset();
    CHECK(credit.in_flight() == 0);
    CHECK(credit.failure() == error_code{});
  }
}

}  // namespace
}  // namespace junction::bridge
