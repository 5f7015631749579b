// The in-memory stream the connection tests run on: its own behaviour, checked first.
#include "support/memory_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

namespace junction::test {
namespace {

struct Read {
  bool done = false;
  error_code ec;
  std::size_t n = 0;
};

TEST_CASE("MemoryStream: reads follow segments and max_read", "[memory_stream]") {
  asio::io_context io;
  auto peer = std::make_shared<MemoryPeer>(io);
  MemoryStream stream(peer);
  peer->send("hello");
  peer->send("world");
  peer->set_max_read(3);
  char buffer[16];
  std::string got;
  for (int i = 0; i < 4; ++i) {
    Read r;
    stream.async_read_some(asio::buffer(buffer), [&](error_code ec, std::size_t n) {
      r = {true, ec, n};
    });
    CHECK_FALSE(r.done);  // never completes inline
    io.run();
    io.restart();
    REQUIRE(r.done);
    CHECK_FALSE(r.ec);
    got += '|' + std::string(buffer, r.n);
  }
  CHECK(got == "|hel|lo|wor|ld");
}

TEST_CASE("MemoryStream: a read waits for input, then EOF", "[memory_stream]") {
  asio::io_context io;
  auto peer = std::make_shared<MemoryPeer>(io);
  MemoryStream stream(peer);
  char buffer[16];
  Read r;
  stream.async_read_some(asio::buffer(buffer), [&](error_code ec, std::size_t n) {
    r = {true, ec, n};
  });
  io.poll();
  CHECK_FALSE(r.done);
  CHECK(peer->read_pending());
  peer->send("x");
  io.restart();
  io.poll();
  REQUIRE(r.done);
  CHECK(r.n == 1);
  r = {};
  peer->end_input();
  stream.async_read_some(asio::buffer(buffer), [&](error_code ec, std::size_t n) {
    r = {true, ec, n};
  });
  io.restart();
  io.poll();
  REQUIRE(r.done);
  CHECK(r.ec == asio::error::eof);
}

TEST_CASE("MemoryStream: a pending read is cancelled through its slot", "[memory_stream]") {
  asio::io_context io;
  auto peer = std::make_shared<MemoryPeer>(io);
  MemoryStream stream(peer);
  asio::cancellation_signal signal;
  char buffer[16];
  Read r;
  stream.async_read_some(
      asio::buffer(buffer),
      asio::bind_cancellation_slot(signal.slot(), [&](error_code ec, std::size_t n) {
        r = {true, ec, n};
      }));
  io.poll();
  CHECK_FALSE(r.done);
  signal.emit(asio::cancellation_type::terminal);
  io.restart();
  io.poll();
  REQUIRE(r.done);
  CHECK(r.ec == asio::error::operation_aborted);
  CHECK(peer->cancelled_reads() == 1);
  // A later emit on the same slot does not touch the finished read.
  signal.emit(asio::cancellation_type::terminal);
  CHECK(peer->cancelled_reads() == 1);
}

TEST_CASE("MemoryStream: close aborts a pending read and fails writes", "[memory_stream]") {
  asio::io_context io;
  auto peer = std::make_shared<MemoryPeer>(io);
  MemoryStream stream(peer);
  char buffer[16];
  Read r;
  stream.async_read_some(asio::buffer(buffer), [&](error_code ec, std::size_t n) {
    r = {true, ec, n};
  });
  error_code ec;
  stream.close(ec);
  io.poll();
  REQUIRE(r.done);
  CHECK(r.ec == asio::error::operation_aborted);
  CHECK(peer->closed());
  Read w;
  stream.async_write_some(asio::buffer("x", 1), [&](error_code e, std::size_t n) {
    w = {true, e, n};
  });
  io.restart();
  io.poll();
  REQUIRE(w.done);
  CHECK(w.ec);
}

TEST_CASE("MemoryStream: coroutines with as_tuple(use_awaitable)", "[memory_stream]") {
  asio::io_context io;
  auto peer = std::make_shared<MemoryPeer>(io);
  MemoryStream stream(peer);
  peer->send("ping");
  peer->end_input();
  std::string seen;
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        char buffer[8];
        for (;;) {
          auto [ec, n] = co_await stream.async_read_some(asio::buffer(buffer),
                                                         asio::as_tuple(asio::use_awaitable));
          if (ec) break;
          seen.append(buffer, n);
        }
        co_await asio::async_write(stream, asio::buffer(std::string_view("pong")),
                                   asio::use_awaitable);
      },
      [&](std::exception_ptr e) {
        done = true;
        if (e) std::rethrow_exception(e);
      });
  io.run();
  CHECK(done);
  CHECK(seen == "ping");
  CHECK(peer->output() == "pong");
}

TEST_CASE("MemoryStream: shutdown makes the client close its side", "[memory_stream]") {
  asio::io_context io;
  auto peer = std::make_shared<MemoryPeer>(io);
  MemoryStream stream(peer);
  char buffer[16];
  Read r;
  stream.async_read_some(asio::buffer(buffer), [&](error_code ec, std::size_t n) {
    r = {true, ec, n};
  });
  error_code ec;
  stream.shutdown(asio::socket_base::shutdown_send, ec);
  io.poll();
  REQUIRE(r.done);
  CHECK(r.ec == asio::error::eof);
  CHECK(peer->shut_down_send());
}

}  // namespace
}  // namespace junction::test
