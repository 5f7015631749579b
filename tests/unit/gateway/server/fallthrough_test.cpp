// Fall-through routes (gateway/server/fallthrough.hpp) on each protocol's connection: the first
// app's fall-through answer never reaches the client, the legacy app answers instead and reads
// the same request body; any other answer passes untouched.
#include "gateway/server/fallthrough.hpp"

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "gateway/errors.hpp"
#include "support/protocol_drivers.hpp"

namespace junction::test {
namespace {

using gateway::errc;
using gateway::error_code;
using gateway::Exchange;

// Reads the whole body, then answers `status` with "<name> got <body>".
class BodyApp final : public gateway::App {
 public:
  BodyApp(std::string name, int status, std::size_t read_size = 4096)
      : name_(std::move(name)), status_(status), read_size_(read_size) {}

  void handle(std::shared_ptr<Exchange> exchange) override {
    ++calls;
    auto state = std::make_shared<State>(std::move(exchange), read_size_);
    read(state);
  }

  int calls = 0;

 private:
  struct State {
    State(std::shared_ptr<Exchange> e, std::size_t size) : exchange(std::move(e)), buffer(size) {}
    std::shared_ptr<Exchange> exchange;
    std::vector<char> buffer;
    std::string body;
  };
  void read(std::shared_ptr<State> state) {
    state->exchange->async_read_body(state->buffer, [this, state](error_code ec, std::size_t n) {
      if (ec == errc::end_of_body) {
        state->exchange->start({status_, {{"Content-Type", "text/plain"}}});
        state->exchange->async_write(name_ + " got " + state->body, true, nullptr);
        return;
      }
      if (ec) return;
      state->body.append(state->buffer.data(), n);
      read(state);
    });
  }
  std::string name_;
  int status_;
  std::size_t read_size_;
};

// Reads at most one piece of the body (or none), then answers `status` without the rest.
class EarlyApp final : public gateway::App {
 public:
  EarlyApp(int status, std::size_t read_size) : status_(status), read_size_(read_size) {}

  void handle(std::shared_ptr<Exchange> exchange) override {
    ++calls;
    if (read_size_ == 0) return answer(exchange);
    auto buffer = std::make_shared<std::vector<char>>(read_size_);
    exchange->async_read_body(
        *buffer, [this, exchange, buffer](error_code, std::size_t) { answer(exchange); });
  }

  int calls = 0;

 private:
  void answer(const std::shared_ptr<Exchange>& exchange) {
    exchange->start({status_, {}});
    exchange->async_write("first answer", true, nullptr);
  }
  int status_;
  std::size_t read_size_;
};

template <class Driver>
void mount_fallthrough(Driver& d, std::shared_ptr<gateway::App> primary,
                       std::shared_ptr<gateway::App> legacy, std::size_t max_body = 1 << 20) {
  gateway::FallthroughOptions options;
  options.max_body = max_body;
  options.legacy_route = d.router().route_count() + 1;
  options.primary_name = "new";
  options.legacy_name = "legacy";
  auto app = std::make_shared<gateway::FallthroughApp>(primary, legacy, options);
  d.router().add_choice_route({"", "/", {}}, {{app, "new"}, {legacy, "legacy"}}, nullptr);
}

TEMPLATE_TEST_CASE(
    "Fall-through: a 404 from the first app is replayed to the legacy app, body "
    "and all",
    "[fallthrough]", Http1Driver, Http2Driver) {
  TestType d;
  auto primary = std::make_shared<BodyApp>("new", 404);
  auto legacy = std::make_shared<BodyApp>("legacy", 200);
  mount_fallthrough(d, primary, legacy);
  d.start();
  d.request("POST", "/orders", std::string("order=42&item=tea"));
  REQUIRE(settle(d));
  auto seen = d.seen();
  CHECK(seen.complete);
  CHECK(seen.status == 200);
  CHECK(seen.body == "legacy got order=42&item=tea");
  CHECK(primary->calls == 1);
  CHECK(legacy->calls == 1);
}

TEMPLATE_TEST_CASE("Fall-through: the legacy app reads what the first app left of the body",
                   "[fallthrough]", Http1Driver, Http2Driver) {
  // None of it, then part of it (a first read of 5 bytes): either way the legacy app sees all.
  std::size_t read_size = GENERATE(0, 5);
  TestType d;
  auto primary = std::make_shared<EarlyApp>(404, read_size);
  auto legacy = std::make_shared<BodyApp>("legacy", 200);
  mount_fallthrough(d, primary, legacy);
  d.start();
  d.request("POST", "/orders", std::string("0123456789abcdef"));
  REQUIRE(settle(d));
  auto seen = d.seen();
  CHECK(seen.status == 200);
  CHECK(seen.body == "legacy got 0123456789abcdef");
}

TEMPLATE_TEST_CASE("Fall-through: any other answer of the first app goes to the client",
                   "[fallthrough]", Http1Driver, Http2Driver) {
  TestType d;
  auto primary = std::make_shared<BodyApp>("new", 201);
  auto legacy = std::make_shared<BodyApp>("legacy", 200);
  mount_fallthrough(d, primary, legacy);
  d.start();
  d.request("POST", "/orders", std::string("x=1"));
  REQUIRE(settle(d));
  auto seen = d.seen();
  CHECK(seen.status == 201);
  CHECK(seen.body == "new got x=1");
  CHECK(legacy->calls == 0);
}

TEMPLATE_TEST_CASE("Fall-through: a body over the bound is not replayed; the first answer stands",
                   "[fallthrough]", Http1Driver, Http2Driver) {
  TestType d;
  auto primary = std::make_shared<BodyApp>("new", 404);
  auto legacy = std::make_shared<BodyApp>("legacy", 200);
  mount_fallthrough(d, primary, legacy, 8);
  d.start();
  d.request("POST", "/orders", std::string("sixteen bytes..."));
  REQUIRE(settle(d));
  auto seen = d.seen();
  CHECK(seen.status == 404);
  CHECK(seen.body == "new got sixteen bytes...");
  CHECK(legacy->calls == 0);
}

TEMPLATE_TEST_CASE("Fall-through: a request without a body falls through too", "[fallthrough]",
                   Http1Driver, Http2Driver) {
  TestType d;
  auto primary = std::make_shared<EarlyApp>(404, 0);
  auto legacy = std::make_shared<BodyApp>("legacy", 200);
  mount_fallthrough(d, primary, legacy);
  d.start();
  d.request("GET", "/orders/7");
  REQUIRE(settle(d));
  CHECK(d.seen().status == 200);
  CHECK(d.seen().body == "legacy got ");
}

}  // namespace
}  // namespace junction::test
