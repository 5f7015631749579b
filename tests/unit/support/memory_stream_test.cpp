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

struct Completion {
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
    Completion r;
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
  Completion r;
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
  Completion r;
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
  Completion r;
  stream.async_read_some(asio::buffer(buffer), [&](error_code ec, std::size_t n) {
    r = {true, ec, n};
  });
  error_code ec;
  stream.close(ec);
  io.poll();
  REQUIRE(r.done);
  CHECK(r.ec == asio::error::operation_aborted);
  CHECK(peer->closed());
  Completion w;
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
  Completion r;
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

// --- Failure injection -------------------------------------------------------------------------

// Starts a read or a write and runs what is ready; the result says whether it completed.
Completion read_now(asio::io_context& io, MemoryStream& stream) {
  static char buffer[16];
  Completion r;
  stream.async_read_some(asio::buffer(buffer), [&](error_code ec, std::size_t n) {
    r = {true, ec, n};
  });
  io.restart();
  io.poll();
  return r;
}

Completion write_now(asio::io_context& io, MemoryStream& stream, std::string_view bytes) {
  Completion w;
  stream.async_write_some(asio::buffer(bytes), [&](error_code ec, std::size_t n) {
    w = {true, ec, n};
  });
  io.restart();
  io.poll();
  return w;
}

TEST_CASE("MemoryStream: the n-th read fails, and every one after it", "[memory_stream]") {
  asio::io_context io;
  auto peer = std::make_shared<MemoryPeer>(io);
  MemoryStream stream(peer);
  peer->send("ab");
  peer->send("cd");
  peer->fail_read(1);
  auto first = read_now(io, stream);
  REQUIRE(first.done);
  CHECK_FALSE(first.ec);
  CHECK(first.n == 2);
  for (int i = 0; i < 2; ++i) {
    auto failed = read_now(io, stream);
    REQUIRE(failed.done);
    CHECK(failed.ec == asio::error::connection_reset);  // the default
    CHECK(failed.n == 0);
  }
  CHECK(peer->unread_input() == 2);  // a failed read takes nothing
  CHECK(peer->reads() == 3);
  CHECK(peer->failed_reads() == 2);
  CHECK(peer->failed_writes() == 0);
  CHECK(write_now(io, stream, "x").n == 1);  // writes go on
}

TEST_CASE("MemoryStream: a read fails at once, with the error asked for", "[memory_stream]") {
  asio::io_context io;
  auto peer = std::make_shared<MemoryPeer>(io);
  MemoryStream stream(peer);
  peer->fail_read(0, asio::error::eof);
  // Nothing was sent: without the failure, the read would stay pending.
  auto r = read_now(io, stream);
  REQUIRE(r.done);
  CHECK(r.ec == asio::error::eof);
  CHECK_FALSE(peer->read_pending());
}

TEST_CASE("MemoryStream: a pending read is not failed after the fact", "[memory_stream]") {
  asio::io_context io;
  auto peer = std::make_shared<MemoryPeer>(io);
  MemoryStream stream(peer);
  char buffer[16];
  Completion r;
  stream.async_read_some(asio::buffer(buffer), [&](error_code ec, std::size_t n) {
    r = {true, ec, n};
  });
  io.poll();
  peer->fail_read(0);
  peer->send("x");
  io.restart();
  io.poll();
  REQUIRE(r.done);
  CHECK_FALSE(r.ec);
  CHECK(peer->failed_reads() == 0);
  CHECK(read_now(io, stream).ec == asio::error::connection_reset);
}

TEST_CASE("MemoryStream: the n-th write fails, and every one after it", "[memory_stream]") {
  asio::io_context io;
  auto peer = std::make_shared<MemoryPeer>(io);
  MemoryStream stream(peer);
  peer->fail_write(1, asio::error::broken_pipe);
  CHECK(write_now(io, stream, "one").n == 3);
  for (int i = 0; i < 2; ++i) {
    auto w = write_now(io, stream, "two");
    REQUIRE(w.done);
    CHECK(w.ec == asio::error::broken_pipe);
    CHECK(w.n == 0);
  }
  CHECK(peer->output() == "one");  // a failed write takes nothing
  CHECK(peer->writes() == 3);
  CHECK(peer->failed_writes() == 2);
  peer->send("in");
  CHECK(read_now(io, stream).n == 2);  // reads go on
}

TEST_CASE("MemoryStream: a held write waits for its release", "[memory_stream]") {
  asio::io_context io;
  auto peer = std::make_shared<MemoryPeer>(io);
  MemoryStream stream(peer);
  peer->hold_writes(1);
  CHECK(write_now(io, stream, "one").n == 3);
  Completion held;
  stream.async_write_some(asio::buffer(std::string_view("two")), [&](error_code ec, std::size_t n) {
    held = {true, ec, n};
  });
  io.restart();
  io.poll();
  CHECK_FALSE(held.done);
  CHECK(peer->write_pending());
  CHECK(peer->output() == "one");  // its bytes are not taken yet
  // One write at a time, as on a socket.
  CHECK(write_now(io, stream, "three").ec == asio::error::in_progress);

  peer->release_writes();
  io.restart();
  io.poll();
  REQUIRE(held.done);
  CHECK_FALSE(held.ec);
  CHECK(held.n == 3);
  CHECK_FALSE(peer->write_pending());
  CHECK(peer->output() == "onetwo");
  CHECK(write_now(io, stream, "four").n == 4);  // no longer held
  CHECK(peer->output() == "onetwofour");
}

TEST_CASE("MemoryStream: a held write ends with the stream", "[memory_stream]") {
  asio::io_context io;
  auto peer = std::make_shared<MemoryPeer>(io);
  MemoryStream stream(peer);
  asio::cancellation_signal signal;
  peer->hold_writes();
  Completion held;
  auto handler = [&](error_code ec, std::size_t n) { held = {true, ec, n}; };
  const std::string bytes = "held";
  stream.async_write_some(asio::buffer(bytes),
                          asio::bind_cancellation_slot(signal.slot(), handler));
  io.poll();
  REQUIRE_FALSE(held.done);
  auto expected = asio::error::operation_aborted;
  error_code ec;
  SECTION("close") {
    stream.close(ec);
  }
  SECTION("cancel") {
    stream.cancel(ec);
  }
  SECTION("its cancellation slot") {
    signal.emit(asio::cancellation_type::terminal);
    CHECK(peer->cancelled_writes() == 1);
  }
  SECTION("the client resets") {
    peer->reset();
    expected = asio::error::connection_reset;
  }
  io.restart();
  io.poll();
  REQUIRE(held.done);
  CHECK(held.ec == expected);
  CHECK(held.n == 0);
  CHECK(peer->output().empty());
  CHECK_FALSE(peer->write_pending());
  // Nothing is left bound to the slot.
  signal.emit(asio::cancellation_type::terminal);
  CHECK(peer->cancelled_writes() <= 1);
}

TEST_CASE("MemoryStream: async_write over a held stream, cancelled", "[memory_stream]") {
  asio::io_context io;
  auto peer = std::make_shared<MemoryPeer>(io);
  MemoryStream stream(peer);
  peer->hold_writes();
  asio::cancellation_signal signal;
  error_code result;
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto [ec, n] = co_await asio::async_write(
            stream, asio::buffer(std::string_view("pong")),
            asio::bind_cancellation_slot(signal.slot(), asio::as_tuple(asio::use_awaitable)));
        result = ec;
        (void)n;
      },
      [&](std::exception_ptr e) {
        done = true;
        if (e) std::rethrow_exception(e);
      });
  io.poll();
  REQUIRE(peer->write_pending());
  signal.emit(asio::cancellation_type::terminal);
  io.restart();
  io.run();
  CHECK(done);
  CHECK(result == asio::error::operation_aborted);
  CHECK(peer->output().empty());
}

}  // namespace
}  // namespace junction::test
