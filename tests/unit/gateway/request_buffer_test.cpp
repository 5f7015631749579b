// Slow clients (docs/reliability.md): request buffering (gateway/request_buffer.hpp), the
// minimum rates (gateway/min_rate.hpp) and the response budget (gateway/byte_budget.hpp), on
// each protocol's connection.
#include "gateway/request_buffer.hpp"

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "gateway/byte_budget.hpp"
#include "gateway/min_rate.hpp"
#include "support/protocol_drivers.hpp"
#include "support/test_apps.hpp"

namespace junction::test {
namespace {

using gateway::ByteBudget;

// Counts the requests that reach `inner`: what an app behind the buffer sees.
class CountingApp final : public gateway::App {
 public:
  explicit CountingApp(std::shared_ptr<gateway::App> inner) : inner_(std::move(inner)) {}
  void handle(std::shared_ptr<gateway::Exchange> exchange) override {
    ++handled;
    inner_->handle(std::move(exchange));
  }
  int handled = 0;

 private:
  std::shared_ptr<gateway::App> inner_;
};

TEST_CASE("ByteBudget: all or nothing, and what a share holds goes back", "[request_buffer]") {
  ByteBudget budget(100);
  CHECK(budget.try_take(60));
  CHECK_FALSE(budget.try_take(41));
  CHECK(budget.refused() == 1);
  CHECK(budget.try_take(40));
  CHECK(budget.used() == 100);
  budget.give_back(100);
  {
    gateway::BudgetShare share(&budget);
    CHECK(share.cover(30, 50));
    CHECK(share.cover(20, 50));  // holds 30 already
    CHECK(budget.used() == 30);
    CHECK_FALSE(share.cover(60, 50));  // past its own most
    share.settle(10);
    CHECK(budget.used() == 10);
    CHECK(share.cover(50, 50));
    CHECK(budget.used() == 50);
  }
  CHECK(budget.used() == 0);  // gone with the share
  gateway::BudgetShare none;
  CHECK_FALSE(none.cover(1, 100));  // without a budget nothing is held
}

TEST_CASE("RateMeter: a grace, then a second for each `rate` bytes", "[request_buffer]") {
  using namespace std::chrono;
  gateway::RateMeter meter;
  CHECK_FALSE(meter.allowance(0, gateway::seconds_d(10)).has_value());  // off
  CHECK(meter.allowance(100, gateway::seconds_d(10)) == seconds(10));
  meter.waited(seconds(9));
  meter.moved(200);  // two seconds earned
  CHECK(meter.allowance(100, gateway::seconds_d(10)) == seconds(3));
  meter.waited(seconds(4));
  CHECK(*meter.allowance(100, gateway::seconds_d(10)) < seconds(0));
}

TEMPLATE_TEST_CASE("BufferingApp: the app sees a request once its whole body is in",
                   "[request_buffer]", Http1Driver, Http2Driver) {
  TestType d;
  auto budget = std::make_shared<ByteBudget>(1 << 20);
  auto app = std::make_shared<CountingApp>(std::make_shared<SinkApp>());
  d.router().mount("/", gateway::buffered(app, budget, 1024));
  d.start();
  d.request_stalled("POST", "/upload", std::string(500, 'x'));
  d.run_until([] { return false; }, 100ms);
  CHECK(app->handled == 0);  // the body stalls: no app holds a thread for it
  CHECK(budget->used() == 510);
}

TEMPLATE_TEST_CASE("BufferingApp: a whole body is read from memory, and the budget comes back",
                   "[request_buffer]", Http1Driver, Http2Driver) {
  TestType d;
  auto budget = std::make_shared<ByteBudget>(1 << 20);
  auto app = std::make_shared<CountingApp>(std::make_shared<SinkApp>());
  d.router().mount("/", gateway::buffered(app, budget, 1024));
  d.start();
  d.request("POST", "/upload", std::string(1000, 'x'));
  REQUIRE(settle(d));
  CHECK(d.seen().status == 200);
  CHECK(d.seen().body == "got 1000");
  CHECK(app->handled == 1);
  CHECK(budget->used() == 0);
}

TEMPLATE_TEST_CASE("BufferingApp: a longer body, or one past the budget, streams to the app",
                   "[request_buffer]", Http1Driver, Http2Driver) {
  TestType d;
  auto size = GENERATE(std::size_t{100}, std::size_t{1024});
  // 1024 fits the buffer but not a budget of 200: it streams as the longer one does.
  auto budget = std::make_shared<ByteBudget>(200);
  auto app = std::make_shared<CountingApp>(std::make_shared<SinkApp>());
  d.router().mount("/", gateway::buffered(app, budget, size == 100 ? 100 : 4096));
  d.start();
  d.request_stalled("POST", "/upload", std::string(500, 'x'));
  REQUIRE(d.run_until([&] { return app->handled == 1; }, 1s));
  CHECK(budget->used() == 0);
}

TEMPLATE_TEST_CASE("BufferingApp: Expect: 100-continue is answered by the buffer",
                   "[request_buffer]", Http1Driver, Http2Driver) {
  TestType d;
  auto budget = std::make_shared<ByteBudget>(1 << 20);
  auto app = std::make_shared<CountingApp>(std::make_shared<SinkApp>());
  d.router().mount("/", gateway::buffered(app, budget, 1024));
  d.start();
  d.request_expecting_continue("POST", "/upload", std::string(300, 'y'));
  REQUIRE(settle(d));
  CHECK(d.seen().status == 200);
  CHECK(d.seen().body == "got 300");
  CHECK(app->handled == 1);
}

TEMPLATE_TEST_CASE(
    "Minimum request body rate: a body slower than the minimum gets 408 before the "
    "stall timeout",
    "[request_buffer]", Http1Driver, Http2Driver) {
  TestType d;
  d.timeouts().request_body = gateway::seconds_d(30);
  d.timeouts().min_request_body_rate = 1000;
  d.timeouts().min_rate_grace = gateway::seconds_d(0.1);
  d.router().mount("/", std::make_shared<SinkApp>());
  d.start();
  d.request_stalled("POST", "/upload", "a few");
  REQUIRE(d.run_until([&] { return d.answered(); }, 2s));
  CHECK(d.seen().status == 408);
}

TEMPLATE_TEST_CASE("Minimum response rate: a client that takes nothing is cut after the grace",
                   "[request_buffer]", Http1Driver, Http2Driver) {
  TestType d;
  Ledger ledger;
  d.timeouts().send = gateway::seconds_d(30);
  // HTTP/2's first window (64 KiB) leaves before the client stops: a rate it pays off at once.
  d.timeouts().min_response_rate = 1e6;
  d.timeouts().min_rate_grace = gateway::seconds_d(0.1);
  d.router().mount("/", std::make_shared<CountedBigApp>(ledger, 64, 64 * 1024));
  d.start();
  d.stop_reading();
  d.request("GET", "/big");
  // Cut: every handler the app was given runs (failed), none stays waiting for a client that
  // will never read.
  REQUIRE(d.run_until([&] { return ledger.issued() > 0 && ledger.completed() == ledger.issued(); },
                      2s));
  d.read_again();
  d.run_until([] { return false; }, 50ms);
  CHECK_FALSE(d.seen().complete);
}

TEMPLATE_TEST_CASE("Response budget: an app's writes complete while a reader is slow",
                   "[request_buffer]", Http1Driver, Http2Driver) {
  TestType d;
  Ledger ledger;
  ByteBudget budget(8 << 20);
  d.use_response_budget(budget);
  d.timeouts().min_response_rate = 0;
  // 1 MiB in 16 pieces: the whole response is the connection's to hold.
  d.router().mount("/", std::make_shared<CountedBigApp>(ledger, 16, 64 * 1024));
  d.start();
  d.stop_reading();
  d.request("GET", "/big");
  REQUIRE(d.run_until([&] { return ledger.issued() == 16 && ledger.completed() == 16; }, 2s));
  CHECK(budget.used() > 0);
  d.read_again();
  REQUIRE(settle(d));
  CHECK(d.seen().body.size() == 16 * 64 * 1024);
  d.run_until([&] { return budget.used() == 0; }, 1s);
  CHECK(budget.used() == 0);
}

}  // namespace
}  // namespace junction::test
