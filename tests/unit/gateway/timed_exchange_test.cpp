// --request-timeout's TimedExchange (gateway/timed_exchange.hpp) on each protocol's connection:
// an app that has not started its response in time leaves the client with a 504, and its late
// answer goes nowhere; an app that answers in time is not touched.
#include "gateway/timed_exchange.hpp"

#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/errors.hpp"
#include "support/protocol_drivers.hpp"

namespace junction::test {
namespace {

using gateway::errc;
using gateway::error_code;
using gateway::TimedExchange;

constexpr auto kLimit = 50ms;

// Wraps each exchange in a TimedExchange and then does what the test says with it: nothing
// (an app that hangs), or answer at once.
class TimedApp final : public gateway::App {
 public:
  enum class Mode { hold, answer, head_only, unclaimed };
  explicit TimedApp(Mode mode) : mode_(mode) {}

  void handle(std::shared_ptr<gateway::Exchange> exchange) override {
    timed = TimedExchange::arm(exchange, kLimit, [this](bool running) {
      ++timeouts;
      app_was_running = running;
    });
    timed->on_client_gone([this] { ++gone; });
    if (mode_ != Mode::unclaimed) claimed = timed->claim();
    if (mode_ == Mode::answer) {
      timed->start({200, {{"Content-Type", "text/plain"}}});
      timed->async_write("in time\n", true, [this](error_code ec) { written = ec; });
    } else if (mode_ == Mode::head_only) {
      timed->start({201, {{"X-App", "yes"}}});  // recorded, never written
    }
  }

  std::shared_ptr<TimedExchange> timed;
  int timeouts = 0;
  bool app_was_running = false;
  bool claimed = false;
  int gone = 0;
  std::optional<error_code> written;

 private:
  Mode mode_;
};

TEMPLATE_TEST_CASE("TimedExchange: an app that does not answer in time gets the client a 504",
                   "[timed_exchange]", Http1Driver, Http2Driver) {
  TestType d;
  auto app = std::make_shared<TimedApp>(TimedApp::Mode::hold);
  d.router().mount("/", app);
  d.start();
  d.request("GET", "/slow");
  REQUIRE(settle(d));
  auto seen = d.seen();
  CHECK(seen.complete);
  CHECK(seen.status == 504);
  CHECK(seen.body.find("504 Gateway Timeout") != std::string::npos);
  CHECK(app->timeouts == 1);
  CHECK(app->app_was_running);
  d.run_until([&] { return app->gone > 0; }, 500ms);
  CHECK(app->gone == 1);  // the app hears that the request is over for the client

  // The app's late answer is refused, as for a client that left; nothing more reaches the wire.
  std::optional<error_code> late;
  app->timed->start({200, {}});
  app->timed->async_write("too late\n", true, [&](error_code ec) { late = ec; });
  d.run_until([&] { return late.has_value(); }, 500ms);
  REQUIRE(late.has_value());
  CHECK(*late == errc::client_gone);
  std::optional<error_code> read;
  char buffer[16];
  app->timed->async_read_body(buffer, [&](error_code ec, std::size_t) { read = ec; });
  d.run_until([&] { return read.has_value(); }, 500ms);
  CHECK(read == std::optional<error_code>(errc::client_gone));
  CHECK(d.seen().status == 504);
  CHECK(d.seen().body.find("too late") == std::string::npos);
  CHECK(app->timed->finish());
  CHECK(app->timeouts == 1);
}

TEMPLATE_TEST_CASE("TimedExchange: an app that answers in time is left alone", "[timed_exchange]",
                   Http1Driver, Http2Driver) {
  TestType d;
  auto app = std::make_shared<TimedApp>(TimedApp::Mode::answer);
  d.router().mount("/", app);
  d.start();
  d.request("GET", "/fast");
  REQUIRE(settle(d));
  CHECK(d.seen().status == 200);
  CHECK(d.seen().body == "in time\n");
  // Past the limit, still held by the app: the timer finds the response begun.
  d.run_until([] { return false; }, kLimit * 3);
  CHECK(app->timeouts == 0);
  CHECK(app->written == std::optional<error_code>(error_code{}));
  CHECK_FALSE(app->timed->finish());
}

TEMPLATE_TEST_CASE("TimedExchange: a head recorded but not sent is replaced by the 504",
                   "[timed_exchange]", Http1Driver, Http2Driver) {
  TestType d;
  auto app = std::make_shared<TimedApp>(TimedApp::Mode::head_only);
  d.router().mount("/", app);
  d.start();
  d.request("POST", "/x", std::string("body"));
  REQUIRE(settle(d));
  CHECK(d.seen().status == 504);
  CHECK(app->timeouts == 1);
}

TEMPLATE_TEST_CASE("TimedExchange: a request the app never began is not the app's to run",
                   "[timed_exchange]", Http1Driver, Http2Driver) {
  TestType d;
  auto app = std::make_shared<TimedApp>(TimedApp::Mode::unclaimed);
  d.router().mount("/", app);
  d.start();
  d.request("GET", "/queued");
  REQUIRE(settle(d));
  CHECK(d.seen().status == 504);
  CHECK(app->timeouts == 1);
  CHECK_FALSE(app->app_was_running);
  CHECK_FALSE(app->timed->claim());  // the pool thread that finally takes it skips the app
}

// Reads the whole body (each piece as it comes), then holds or answers.
class ReadingApp final : public gateway::App {
 public:
  explicit ReadingApp(bool answer) : answer_(answer) {}
  void handle(std::shared_ptr<gateway::Exchange> exchange) override {
    timed = TimedExchange::arm(exchange, kLimit, [this](bool) { ++timeouts; });
    timed->claim();
    read();
  }
  std::shared_ptr<TimedExchange> timed;
  int timeouts = 0;
  std::string body;
  bool body_done = false;

 private:
  void read() {
    timed->async_read_body(buffer_, [this](error_code ec, std::size_t n) {
      body.append(buffer_, n);
      if (!ec) return read();
      body_done = ec == errc::end_of_body;
      if (body_done && answer_) {
        timed->start({200, {}});
        timed->async_write("got " + body, true, nullptr);
      }
    });
  }
  bool answer_;
  char buffer_[64];
};

TEST_CASE("TimedExchange: the time the app waits for the body is not counted", "[timed_exchange]") {
  ConnectionHarness h;
  auto app = std::make_shared<ReadingApp>(true);
  h.router.mount("/", app);
  h.start();
  h.peer->send("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello");
  // The client pauses for three times the limit with the app reading: no 504.
  h.run_until([] { return false; }, kLimit * 3);
  CHECK(app->timeouts == 0);
  h.peer->send("world");
  REQUIRE(h.run_until_responses(1));
  CHECK(h.responses().responses[0].status == 200);
  CHECK(h.responses().responses[0].body == "got helloworld");
  CHECK(app->timeouts == 0);
}

TEST_CASE("TimedExchange: once the body is in, the limit counts from its last piece",
          "[timed_exchange]") {
  ConnectionHarness h;
  auto app = std::make_shared<ReadingApp>(false);  // reads it all, then never answers
  h.router.mount("/", app);
  h.start();
  h.peer->send("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
  REQUIRE(h.run_until([&] { return app->body_done; }));
  REQUIRE(h.run_until_responses(1));
  CHECK(h.responses().responses[0].status == 504);
  CHECK(app->timeouts == 1);
}

TEST_CASE("TimedExchange: after a 504 the HTTP/1.1 connection serves its next request",
          "[timed_exchange]") {
  ConnectionHarness h;
  auto app = std::make_shared<TimedApp>(TimedApp::Mode::hold);
  h.router.mount("/", app);
  h.start();
  h.peer->send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
  REQUIRE(h.run_until_responses(1));
  h.peer->send("GET /h HTTP/1.1\r\nHost: t\r\n\r\n");  // the health path: not timed
  REQUIRE(h.run_until_responses(2));
  auto parsed = h.responses();
  REQUIRE(parsed.responses.size() == 2);
  CHECK(parsed.responses[0].status == 504);
  CHECK(parsed.responses[1].status == 200);
  CHECK_FALSE(h.finished());
}

}  // namespace
}  // namespace junction::test
