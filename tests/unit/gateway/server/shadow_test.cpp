// Shadow routes (gateway/server/shadow.hpp) on each protocol's connection: the client gets the
// primary's answer; the shadow gets the same request once the primary is done, and the report
// says how the two compared; the bound on shadows in flight is never a wait.
#include "gateway/server/shadow.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "gateway/errors.hpp"
#include "support/protocol_drivers.hpp"

namespace junction::test {
namespace {

using gateway::errc;
using gateway::error_code;
using gateway::Exchange;
using gateway::ShadowReport;

// Reads the body, then answers JSON {"body": <what it read>, "who": <which>}; or, when told to,
// holds the exchange without answering (a shadow that takes its time), or aborts it.
class JsonApp final : public gateway::App {
 public:
  enum class Mode { answer, hold, abort };
  JsonApp(std::string who, Mode mode = Mode::answer) : who_(std::move(who)), mode_(mode) {}

  void handle(std::shared_ptr<Exchange> exchange) override {
    ++calls;
    if (mode_ == Mode::hold) {
      held.push_back(exchange);
      return;
    }
    if (mode_ == Mode::abort) return exchange->abort();
    auto state = std::make_shared<State>(std::move(exchange));
    read(state);
  }

  int calls = 0;
  std::vector<std::shared_ptr<Exchange>> held;

 private:
  struct State {
    explicit State(std::shared_ptr<Exchange> e) : exchange(std::move(e)) {}
    std::shared_ptr<Exchange> exchange;
    std::array<char, 1024> buffer{};
    std::string body;
  };
  void read(std::shared_ptr<State> state) {
    state->exchange->async_read_body(state->buffer, [this, state](error_code ec, std::size_t n) {
      if (ec == errc::end_of_body) {
        state->exchange->start({200, {{"Content-Type", "application/json"}}});
        state->exchange->async_write(
            "{\"body\": \"" + state->body + "\", \"who\": \"" + who_ + "\"}", true, nullptr);
        return;
      }
      if (ec) return;
      state->body.append(state->buffer.data(), n);
      read(state);
    });
  }
  std::string who_;
  Mode mode_;
};

// Polls `done` (the comparisons run on a thread of their own) for at most two seconds.
template <class Driver, class F>
bool eventually(Driver& d, F done) {
  for (int i = 0; i < 200 && !done(); ++i) {
    d.run_until([] { return false; }, std::chrono::milliseconds(10));
  }
  return done();
}

template <class Driver>
std::shared_ptr<gateway::ShadowApp> mount_shadow(Driver& d, std::shared_ptr<gateway::App> primary,
                                                 std::shared_ptr<gateway::App> shadow,
                                                 ShadowReport& report, std::size_t in_flight = 16,
                                                 std::vector<std::string> methods = {"GET"}) {
  gateway::ShadowOptions options;
  options.primary_name = "old";
  options.shadow_name = "new";
  options.methods = std::move(methods);
  options.max_in_flight = in_flight;
  options.shadow_route = d.router().route_count() + 1;
  auto app = std::make_shared<gateway::ShadowApp>(primary, shadow, options);
  app->report_to(&report, {});
  d.router().add_choice_route({"", "/", {}}, {{app, "old"}, {shadow, "new"}}, nullptr);
  return app;
}

TEMPLATE_TEST_CASE("Shadow: the client gets the primary's answer; the report, the difference",
                   "[shadow]", Http1Driver, Http2Driver) {
  TestType d;
  ShadowReport report(1, false);
  auto primary = std::make_shared<JsonApp>("old");
  auto shadow = std::make_shared<JsonApp>("new");
  auto app = mount_shadow(d, primary, shadow, report, 16, {"GET", "POST"});
  d.start();
  d.request("POST", "/orders", std::string("order=7"));
  REQUIRE(settle(d));
  CHECK(d.seen().status == 200);
  CHECK(d.seen().body == R"({"body": "order=7", "who": "old"})");
  REQUIRE(eventually(d, [&] { return report.count(0, ShadowReport::compared) == 1; }));
  CHECK(shadow->calls == 1);  // with the same body, which it echoes: only "who" differs
  CHECK(report.count(0, ShadowReport::matched) == 0);
  auto mismatches = report.mismatches(0);
  REQUIRE(mismatches.size() == 1);
  CHECK(mismatches[0].find(R"("request":"POST /orders")") != std::string::npos);
  CHECK(mismatches[0].find(R"("body":"$.who")") != std::string::npos);
  CHECK(eventually(d, [&] { return app->in_flight() == 0; }));
}

TEMPLATE_TEST_CASE("Shadow: methods not listed are not shadowed", "[shadow]", Http1Driver,
                   Http2Driver) {
  TestType d;
  ShadowReport report(1, false);
  auto shadow = std::make_shared<JsonApp>("new");
  mount_shadow(d, std::make_shared<JsonApp>("old"), shadow, report);
  d.start();
  d.request("POST", "/orders", std::string("x"));
  REQUIRE(settle(d));
  CHECK(d.seen().status == 200);
  d.run_until([] { return false; }, std::chrono::milliseconds(50));
  CHECK(shadow->calls == 0);
}

TEMPLATE_TEST_CASE("Shadow: a failing shadow is counted; a held one keeps its place", "[shadow]",
                   Http1Driver, Http2Driver) {
  SECTION("aborted") {
    TestType d;
    ShadowReport report(1, false);
    auto shadow = std::make_shared<JsonApp>("new", JsonApp::Mode::abort);
    mount_shadow(d, std::make_shared<JsonApp>("old"), shadow, report);
    d.start();
    d.request("GET", "/x");
    REQUIRE(settle(d));
    CHECK(d.seen().status == 200);
    CHECK(eventually(d, [&] { return report.count(0, ShadowReport::failed) == 1; }));
    CHECK(report.count(0, ShadowReport::compared) == 0);
  }
  SECTION("held, beyond the bound") {
    TestType d;
    ShadowReport report(1, false);
    auto shadow = std::make_shared<JsonApp>("new", JsonApp::Mode::hold);
    auto app = mount_shadow(d, std::make_shared<JsonApp>("old"), shadow, report, 1);
    d.start();
    d.request("GET", "/x");
    REQUIRE(settle(d));
    REQUIRE(eventually(d, [&] { return shadow->calls == 1; }));
    CHECK(app->in_flight() == 1);  // the held shadow keeps its place...
    // ...so the next request (on the same connection) is answered and not shadowed.
    d.request("GET", "/y");
    CHECK(eventually(d, [&] { return report.count(0, ShadowReport::busy) == 1; }));
    CHECK(shadow->calls == 1);
    shadow->held.clear();  // the shadow app lets go without an answer: a failure
    CHECK(eventually(d, [&] { return app->in_flight() == 0; }));
    CHECK(report.count(0, ShadowReport::failed) == 1);
  }
}

}  // namespace
}  // namespace junction::test
