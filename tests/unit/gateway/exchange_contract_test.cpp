// The Exchange contract (gateway/exchange.hpp), the same over HTTP/1.1 and HTTP/2: each case
// runs once on each protocol's connection over an in-memory stream, and asserts on what a client
// sees and what the app's handlers hear. Abort before and after the head, a client that leaves,
// a response shorter or longer than its Content-Length, a throwing app, a stalled body,
// 100-continue, and backpressure.
#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "gateway/errors.hpp"
#include "support/protocol_drivers.hpp"
#include "support/test_apps.hpp"

namespace junction::test {
namespace {

using gateway::errc;

// Throws from handle(): the contract is a 500 and a server that goes on.
class ThrowApp final : public gateway::App {
 public:
  void handle(std::shared_ptr<gateway::Exchange>) override {
    throw std::runtime_error("the app broke");
  }
};

// Declares Content-Length 3 and writes 5 bytes as its last piece.
class LongApp final : public gateway::App {
 public:
  void handle(std::shared_ptr<gateway::Exchange> exchange) override {
    exchange->start({200, {{"Content-Length", "3"}}});
    auto& e = *exchange;
    e.async_write("12345", true, [this, exchange](gateway::error_code ec) { result = ec; });
  }
  std::optional<gateway::error_code> result;
};

// Writes pieces of 64 KiB as fast as its handlers let it, up to 8 MiB; counts what it wrote and
// which writes are still waiting.
class FloodApp final : public gateway::App {
 public:
  static constexpr std::size_t kPiece = 64 * 1024;
  static constexpr std::size_t kPieces = 128;
  void handle(std::shared_ptr<gateway::Exchange> exchange) override {
    exchange->start({200, {{"Content-Type", "application/octet-stream"}}});
    write(std::move(exchange));
  }
  std::size_t written = 0;
  bool waiting = false;
  std::optional<gateway::error_code> failed;

 private:
  void write(std::shared_ptr<gateway::Exchange> exchange) {
    if (written == kPieces) return;
    bool last = ++written == kPieces;
    waiting = true;
    auto& e = *exchange;
    e.async_write(std::string(kPiece, 'x'), last, [this, exchange](gateway::error_code ec) mutable {
      waiting = false;
      if (ec) {
        failed = ec;
        return;
      }
      write(std::move(exchange));
    });
  }
};

TEMPLATE_TEST_CASE("contract: an abort before the head answers 500", "[contract]", Http1Driver,
                   Http2Driver) {
  TestType d;
  d.router().mount("/", std::make_shared<AbortApp>(false));
  d.start();
  d.request("GET", "/x");
  REQUIRE(settle(d));
  auto seen = d.seen();
  CHECK(seen.complete);
  CHECK(seen.status == 500);
}

TEMPLATE_TEST_CASE("contract: an abort after the head breaks the response off", "[contract]",
                   Http1Driver, Http2Driver) {
  TestType d;
  d.router().mount("/", std::make_shared<AbortApp>(true));
  d.start();
  d.request("GET", "/x");
  REQUIRE(settle(d));
  auto seen = d.seen();
  CHECK(seen.cut);
  CHECK_FALSE(seen.complete);
  CHECK(seen.status == 200);
}

TEMPLATE_TEST_CASE("contract: a client that leaves is heard once, and fails what comes after",
                   "[contract]", Http1Driver, Http2Driver) {
  TestType d;
  auto app = std::make_shared<HoldApp>();
  d.router().mount("/", app);
  d.start();
  d.request("GET", "/x");
  REQUIRE(d.run_until([&] { return !app->exchanges.empty(); }));
  d.leave();
  REQUIRE(d.run_until([&] { return app->gone[0] == 1; }));
  std::optional<gateway::error_code> write;
  app->exchanges[0]->start({200, {}});
  app->exchanges[0]->async_write("late", true, [&](gateway::error_code ec) { write = ec; });
  std::optional<gateway::error_code> read;
  char buffer[16];
  app->exchanges[0]->async_read_body(buffer,
                                     [&](gateway::error_code ec, std::size_t) { read = ec; });
  REQUIRE(d.run_until([&] { return write && read; }));
  CHECK(*write == errc::client_gone);
  CHECK(*read == errc::client_gone);
  // Registered after the fact, the callback runs at once.
  int late = 0;
  app->exchanges[0]->on_client_gone([&] { ++late; });
  REQUIRE(d.run_until([&] { return late == 1; }));
  CHECK(app->gone[0] == 1);
}

TEMPLATE_TEST_CASE("contract: a body shorter than its Content-Length is cut", "[contract]",
                   Http1Driver, Http2Driver) {
  TestType d;
  d.router().mount("/", std::make_shared<ShortApp>());
  d.start();
  d.request("GET", "/x");
  REQUIRE(settle(d));
  auto seen = d.seen();
  CHECK(seen.cut);
  CHECK_FALSE(seen.complete);
}

TEMPLATE_TEST_CASE("contract: bytes past the Content-Length are the app's error, never sent",
                   "[contract]", Http1Driver, Http2Driver) {
  TestType d;
  auto app = std::make_shared<LongApp>();
  d.router().mount("/", app);
  d.start();
  d.request("GET", "/x");
  REQUIRE(d.run_until([&] { return app->result.has_value() && d.answered(); }));
  CHECK(*app->result == errc::length_mismatch);
  auto seen = d.seen();
  CHECK(seen.complete);
  CHECK(seen.body == "123");
}

TEMPLATE_TEST_CASE("contract: an app that throws from handle() gets a 500, the server goes on",
                   "[contract]", Http1Driver, Http2Driver) {
  TestType d;
  d.router().mount("/", std::make_shared<ThrowApp>());
  d.start();
  d.request("GET", "/x");
  REQUIRE(settle(d));
  auto seen = d.seen();
  CHECK(seen.complete);
  CHECK(seen.status == 500);
}

TEMPLATE_TEST_CASE("contract: a body that stalls while the app reads it answers 408", "[contract]",
                   Http1Driver, Http2Driver) {
  TestType d;
  d.timeouts().request_body = gateway::seconds_d(0.2);
  d.router().mount("/", std::make_shared<SinkApp>());
  d.start();
  d.request_stalled("POST", "/x", "abc");
  REQUIRE(d.run_until([&] { return d.answered(); }, 5s));
  auto seen = d.seen();
  CHECK(seen.status == 408);
  CHECK_FALSE(seen.cut);
}

TEMPLATE_TEST_CASE("contract: Expect: 100-continue is answered on the app's first read",
                   "[contract]", Http1Driver, Http2Driver) {
  TestType d;
  d.router().mount("/", std::make_shared<SinkApp>());
  d.start();
  d.request_expecting_continue("POST", "/x", "hello");
  REQUIRE(settle(d));
  auto seen = d.seen();
  CHECK(seen.informational == std::vector<int>{100});
  CHECK(seen.status == 200);
  CHECK(seen.body == "got 5");
}

TEMPLATE_TEST_CASE("contract: no 100-continue for an app that answers without reading",
                   "[contract]", Http1Driver, Http2Driver) {
  TestType d;
  d.router().mount("/", std::make_shared<NoReadApp>());
  d.start();
  d.request_expecting_continue("POST", "/x", "hello");
  REQUIRE(settle(d));
  auto seen = d.seen();
  CHECK(seen.informational.empty());
  CHECK(seen.status == 200);
}

TEMPLATE_TEST_CASE("contract: a client that reads nothing holds the app's writes back",
                   "[contract]", Http1Driver, Http2Driver) {
  TestType d;
  auto app = std::make_shared<FloodApp>();
  d.router().mount("/", app);
  d.stop_reading();
  d.start();
  d.request("GET", "/x");
  // Written until the queued output passes its bound; then a write waits, and no more come.
  REQUIRE(d.run_until([&] { return app->written > 0 && app->waiting; }));
  d.run_until([] { return false; }, 200ms);
  auto held_at = app->written;
  CHECK(app->waiting);
  CHECK(held_at < FloodApp::kPieces);
  d.read_again();
  REQUIRE(d.run_until([&] { return d.answered(); }, 10s));
  CHECK(app->written == FloodApp::kPieces);
  CHECK_FALSE(app->failed);
  auto seen = d.seen();
  CHECK(seen.complete);
  CHECK(seen.body.size() == FloodApp::kPieces * FloodApp::kPiece);
}

}  // namespace
}  // namespace junction::test
