// The HTTP/1.1 session when things go wrong: each limit and smuggling vector on the wire,
// timeouts, and clients that leave.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "gateway/errors.hpp"
#include "support/bad_requests.hpp"
#include "support/connection_harness.hpp"
#include "support/test_apps.hpp"

namespace junction::http1 {
namespace {

using namespace junction::gateway;

using test::BadRequest;
using test::ConnectionHarness;
using test::describe;
using test::kGet;

// One refused request: exactly its status, with Connection: close, and the connection closed.
// An app that reads bodies whole is mounted at "/", so body errors reach the gateway too.
void require_refused(const Limits& limits, const BadRequest& bad, std::size_t cut,
                     std::size_t max_read) {
  ConnectionHarness h;
  h.limits = limits;
  h.router.mount("/", std::make_shared<test::SinkApp>());
  h.peer->set_max_read(max_read);
  h.start();
  h.peer->send(std::string_view(bad.request).substr(0, cut));
  h.peer->send(std::string_view(bad.request).substr(cut));
  REQUIRE(h.run_to_close());
  auto parsed = h.responses();
  INFO(describe(parsed));
  REQUIRE(parsed.error.empty());
  REQUIRE(parsed.responses.size() == 1);
  REQUIRE(parsed.responses[0].status == bad.status);
  REQUIRE(parsed.responses[0].closes());
  REQUIRE(h.peer->closed());
  REQUIRE_FALSE(h.failure());
}

void require_refused_at_every_split(const Limits& limits, const BadRequest& bad) {
  INFO(bad.name << ": " << bad.request);
  require_refused(limits, bad, bad.request.size(), SIZE_MAX);
  {
    INFO("one byte per read");
    require_refused(limits, bad, bad.request.size(), 1);
  }
  for (std::size_t cut = 1; cut < bad.request.size(); ++cut) {
    INFO("cut at " << cut);
    require_refused(limits, bad, cut, SIZE_MAX);
  }
}

TEST_CASE("Http1Connection: each limit gets its status and closes", "[http1_connection][limits]") {
  for (const auto& bad : test::limit_vectors()) {
    DYNAMIC_SECTION(bad.name) {
      require_refused_at_every_split(test::small_limits(), bad);
    }
  }
}

TEST_CASE("Http1Connection: each smuggling vector gets its status and closes",
          "[http1_connection][smuggling]") {
  for (const auto& bad : test::smuggling_vectors()) {
    DYNAMIC_SECTION(bad.name) {
      require_refused_at_every_split(Limits{}, bad);
    }
  }
}

TEST_CASE("Http1Connection: chunk extensions without end get 400", "[http1_connection]") {
  BadRequest bad{"endless chunk extensions",
                 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;" +
                     std::string(5000, 'x') + "\r\nhello\r\n0\r\n\r\n",
                 400};
  require_refused({}, bad, bad.request.size(), SIZE_MAX);
  require_refused({}, bad, bad.request.size(), 100);
}

TEST_CASE("Http1Connection: nothing after a refused request is answered", "[http1_connection]") {
  ConnectionHarness h;
  h.start();
  h.peer->send("GET /h HTTP/1.1\r\nHost : a\r\n\r\n" + kGet + kGet);
  REQUIRE(h.run_to_close());
  auto parsed = h.responses();
  INFO(describe(parsed));
  REQUIRE(parsed.responses.size() == 1);
  CHECK(parsed.responses[0].status == 400);
}

TEST_CASE("Http1Connection: a request after good ones can still be refused", "[http1_connection]") {
  ConnectionHarness h;
  h.start();
  h.peer->send(kGet + kGet + "GET /h HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + kGet);
  REQUIRE(h.run_to_close());
  auto parsed = h.responses();
  INFO(describe(parsed));
  REQUIRE(parsed.responses.size() == 3);
  CHECK(parsed.responses[0].status == 200);
  CHECK(parsed.responses[1].status == 200);
  CHECK(parsed.responses[2].status == 400);
  CHECK(parsed.responses[2].closes());
}

// --- Timeouts ----------------------------------------------------------------------------------

TEST_CASE("Http1Connection: a partial head gets 408 at the header timeout",
          "[http1_connection][timeouts]") {
  ConnectionHarness h;
  h.timeouts.request_header = seconds_d(0.05);
  h.start();
  h.peer->send("GET /h HTTP/1.1\r\nHo");
  REQUIRE(h.run_to_close());
  auto parsed = h.responses();
  INFO(describe(parsed));
  REQUIRE(parsed.responses.size() == 1);
  CHECK(parsed.responses[0].status == 408);
  CHECK(parsed.responses[0].closes());
  CHECK(h.peer->closed());
}

TEST_CASE("Http1Connection: a partial second head gets 408 too", "[http1_connection][timeouts]") {
  ConnectionHarness h;
  h.timeouts.request_header = seconds_d(0.05);
  h.start();
  h.peer->send(kGet + "GET /h HTTP/1.1\r\nHo");
  REQUIRE(h.run_to_close());
  auto parsed = h.responses();
  INFO(describe(parsed));
  REQUIRE(parsed.responses.size() == 2);
  CHECK(parsed.responses[0].status == 200);
  CHECK(parsed.responses[1].status == 408);
  CHECK(parsed.responses[1].closes());
}

TEST_CASE("Http1Connection: a head trickling in still gets 408 (slowloris)",
          "[http1_connection][timeouts]") {
  ConnectionHarness h;
  h.timeouts.request_header = seconds_d(0.05);
  h.start();
  // A byte every 10 ms: each read makes progress, the head as a whole is too slow.
  const std::string head = "GET /h HTTP/1.1\r\nHost: a\r\nX-Slow: " + std::string(100, 'z');
  for (char c : head) {
    if (h.finished()) break;
    h.peer->send(std::string(1, c));
    h.run_until([] { return false; }, std::chrono::milliseconds(10));
  }
  REQUIRE(h.run_to_close());
  auto parsed = h.responses();
  INFO(describe(parsed));
  REQUIRE(parsed.responses.size() == 1);
  CHECK(parsed.responses[0].status == 408);
}

TEST_CASE("Http1Connection: a connection that sends nothing is closed silently",
          "[http1_connection][timeouts]") {
  ConnectionHarness h;
  h.timeouts.request_header = seconds_d(0.05);
  h.start();
  REQUIRE(h.run_to_close());
  CHECK(h.peer->output().empty());
  CHECK(h.peer->closed());
}

TEST_CASE("Http1Connection: an idle keep-alive connection is closed silently",
          "[http1_connection][timeouts]") {
  ConnectionHarness h;
  h.timeouts.keep_alive = seconds_d(0.05);
  h.start();
  h.peer->send(kGet);
  REQUIRE(h.run_until_responses(1));
  auto after_response = h.peer->output();
  REQUIRE(h.run_to_close());
  CHECK(h.peer->output() == after_response);  // no bytes at the timeout
  CHECK(h.peer->closed());
}

TEST_CASE("Http1Connection: a stalled body gets 408", "[http1_connection][timeouts]") {
  ConnectionHarness h;
  h.timeouts.request_body = seconds_d(0.05);
  h.router.mount("/sink", std::make_shared<test::SinkApp>());
  h.start();
  h.peer->send("POST /sink HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345");
  REQUIRE(h.run_to_close());
  auto parsed = h.responses();
  INFO(describe(parsed));
  REQUIRE(parsed.responses.size() == 1);
  CHECK(parsed.responses[0].status == 408);
  CHECK(parsed.responses[0].closes());
}

TEST_CASE("Http1Connection: a body stalling after the response began cuts it",
          "[http1_connection][timeouts]") {
  ConnectionHarness h;
  h.timeouts.request_body = seconds_d(0.05);
  h.start();
  h.peer->send("POST /h?echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345");
  REQUIRE(h.run_to_close());
  auto parsed = h.responses();
  INFO(describe(parsed));
  REQUIRE(parsed.responses.size() == 1);
  CHECK(parsed.responses[0].status == 200);
  CHECK(parsed.responses[0].body == "12345");
  CHECK_FALSE(parsed.error.empty());  // 5 of 10 bytes: the client sees it cut
}

TEST_CASE("Http1Connection: a slow app is not cut by the timeouts",
          "[http1_connection][timeouts]") {
  ConnectionHarness h;
  h.timeouts.request_header = seconds_d(0.02);
  h.timeouts.request_body = seconds_d(0.02);
  h.timeouts.keep_alive = seconds_d(0.02);
  h.start();
  h.peer->send("GET /h?sleep=0.1 HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(h.run_until_responses(1));
  auto parsed = h.responses();
  INFO(describe(parsed));
  CHECK(parsed.responses[0].status == 200);
  CHECK(parsed.responses[0].body == "ok");
}

// --- Clients that leave --------------------------------------------------------------------------

TEST_CASE("Http1Connection: client EOF inside a head", "[http1_connection][eof]") {
  ConnectionHarness h;
  h.start();
  h.peer->send("GET /h HTTP/1.1\r\nHo");
  h.peer->end_input();
  REQUIRE(h.run_to_close());
  auto parsed = h.responses();
  INFO(describe(parsed));
  // Nothing to answer but, at most, a 400 for the cut request.
  CHECK(parsed.responses.size() <= 1);
  if (!parsed.responses.empty()) CHECK(parsed.responses[0].status == 400);
  CHECK(h.peer->closed());
}

TEST_CASE("Http1Connection: client EOF inside a body", "[http1_connection][eof]") {
  ConnectionHarness h;
  h.router.mount("/sink", std::make_shared<test::SinkApp>());
  h.start();
  h.peer->send("POST /sink HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345");
  h.peer->end_input();
  REQUIRE(h.run_to_close());
  CHECK(h.responses().responses.empty());
  CHECK(h.peer->closed());
}

TEST_CASE("Http1Connection: the app hears when the client leaves", "[http1_connection][eof]") {
  ConnectionHarness h;
  auto hold = std::make_shared<test::HoldApp>();
  h.router.mount("/hold", hold);
  h.start();
  h.peer->send("GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(h.run_until([&] { return !hold->exchanges.empty(); }));
  h.run_until([] { return false; }, std::chrono::milliseconds(20));
  CHECK(hold->gone[0] == 0);  // working, the client waits

  SECTION("EOF") {
    h.peer->end_input();
  }
  SECTION("reset") {
    h.peer->reset();
  }
  REQUIRE(h.run_to_close());
  CHECK(hold->gone[0] == 1);
  CHECK(h.peer->output().empty());

  // Registered after the fact, a callback runs at once; writes fail with client_gone.
  auto& exchange = *hold->exchanges[0];
  int late = 0;
  exchange.on_client_gone([&] { ++late; });
  error_code write_result;
  bool written = false;
  exchange.start({200, {}});
  exchange.async_write("too late", true, [&](error_code ec) {
    written = true;
    write_result = ec;
  });
  REQUIRE(h.run_until([&] { return late == 1 && written; }, std::chrono::seconds(1)));
  CHECK(write_result == errc::client_gone);
  CHECK(hold->gone[0] == 1);  // at most once
}

TEST_CASE("Http1Connection: a client that resets during the response", "[http1_connection][eof]") {
  ConnectionHarness h;
  auto hold = std::make_shared<test::HoldApp>();
  h.router.mount("/hold", hold);
  h.start();
  h.peer->send("GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(h.run_until([&] { return !hold->exchanges.empty(); }));
  auto& exchange = *hold->exchanges[0];
  exchange.start({200, {}});
  std::vector<error_code> results;
  exchange.async_write("first", false, [&](error_code ec) { results.push_back(ec); });
  REQUIRE(h.run_until([&] { return results.size() == 1; }));
  CHECK_FALSE(results[0]);
  h.peer->reset();
  REQUIRE(h.run_to_close());
  CHECK(hold->gone[0] == 1);
  exchange.async_write("second", true, [&](error_code ec) { results.push_back(ec); });
  REQUIRE(h.run_until([&] { return results.size() == 2; }, std::chrono::seconds(1)));
  CHECK(results[1] == errc::client_gone);
}

}  // namespace
}  // namespace junction::http1
