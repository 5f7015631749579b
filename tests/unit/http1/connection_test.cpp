// The HTTP/1.1 session end to end on an in-memory stream: keep-alive, pipelining, request
// splits, HEAD, HTTP/1.0, 100-continue and the ways an app can answer.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "support/connection_harness.hpp"
#include "support/hang_guard.hpp"
#include "support/test_apps.hpp"

namespace junction::http1 {
namespace {

using namespace junction::gateway;

using test::ConnectionHarness;
using test::describe;
using test::kGet;

// The whole output as text, for failure messages.
std::string wire(const ConnectionHarness& h) {
  return describe(h.responses());
}

TEST_CASE("Http1Connection: GET on the health path", "[http1_connection]") {
  ConnectionHarness h;
  h.start();
  h.peer->send(kGet);
  REQUIRE(h.run_until_responses(1));
  auto parsed = h.responses();
  INFO(describe(parsed));
  REQUIRE(parsed.error.empty());
  REQUIRE(parsed.responses.size() == 1);
  const auto& response = parsed.responses[0];
  CHECK(response.status_line == "HTTP/1.1 200 OK");
  CHECK(response.field("Content-Length") == "2");
  CHECK(response.field("Content-Type") == "text/plain; charset=utf-8");
  CHECK(response.field("Server") == "junction");
  CHECK(test::is_http_date(response.field("Date").value_or("")));
  CHECK_FALSE(response.field("Connection"));
  CHECK(response.body == "ok");
  CHECK_FALSE(h.finished());  // keep-alive: waiting for the next request
}

TEST_CASE("Http1Connection: several requests on one connection", "[http1_connection]") {
  ConnectionHarness h;
  h.start();
  for (std::size_t i = 1; i <= 5; ++i) {
    h.peer->send(kGet);
    REQUIRE(h.run_until_responses(i));
    CHECK_FALSE(h.finished());
  }
  // The client leaves between requests: a clean close, nothing more written.
  auto before = h.peer->output();
  h.peer->end_input();
  REQUIRE(h.run_to_close());
  CHECK(h.peer->output() == before);
  CHECK(h.peer->closed());
  CHECK_FALSE(h.failure());
}

TEST_CASE("Http1Connection: unknown path gets 404, other methods 405", "[http1_connection]") {
  ConnectionHarness h;
  h.start();
  h.peer->send("GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\nDELETE /h HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(h.run_until_responses(2));
  auto parsed = h.responses();
  INFO(describe(parsed));
  REQUIRE(parsed.responses.size() == 2);
  CHECK(parsed.responses[0].status == 404);
  CHECK(parsed.responses[0].body == "Not Found\n");
  CHECK(parsed.responses[1].status == 405);
  CHECK(parsed.responses[1].field("Allow") == "GET, HEAD");
}

// A mix of requests that ends with Connection: close, so the connection ends by itself. The
// chunked upload in the middle goes to an app that reads it whole before answering; the echo
// of a chunked upload comes last (see "an echoed chunked upload" below).
const std::string& pipeline() {
  static const std::string requests =
      "GET /h HTTP/1.1\r\nHost: a\r\n\r\n"
      "POST /h?echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"
      "GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n"
      "POST /sink HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nchunk\r\n6\r\ned bod\r\n1\r\ny\r\n0\r\nX-T: 1\r\n\r\n"
      "HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n"
      "GET /h?sleep=0 HTTP/1.1\r\nHost: a\r\n\r\n"
      "POST /h?echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
      "Connection: close\r\n\r\n5\r\nchunk\r\n6\r\ned bod\r\n1\r\ny\r\n0\r\n\r\n";
  return requests;
}

void start_for_pipeline(ConnectionHarness& h) {
  h.router.mount("/sink", std::make_shared<test::SinkApp>());
  h.head_responses = {4};  // the fifth answers HEAD
  h.start();
}

void check_pipeline_answers(const ConnectionHarness& h) {
  auto parsed = h.responses();
  INFO(describe(parsed));
  REQUIRE(parsed.error.empty());
  REQUIRE(parsed.responses.size() == 7);
  const auto& r = parsed.responses;
  CHECK(r[0].status == 200);
  CHECK(r[0].body == "ok");
  CHECK(r[1].status == 200);
  CHECK(r[1].field("Content-Length") == "11");
  CHECK(r[1].body == "hello world");
  CHECK(r[2].status == 404);
  CHECK(r[3].status == 200);
  CHECK(r[3].body == "got 12");
  CHECK(r[4].status == 200);
  CHECK(r[4].field("Content-Length") == "2");
  CHECK(r[4].body.empty());
  CHECK(r[5].body == "ok");
  CHECK(r[6].chunked);
  CHECK(r[6].body == "chunked body");
  CHECK(r[6].closes());
  for (std::size_t i = 0; i < 6; ++i) CHECK_FALSE(r[i].field("Connection"));
}

TEST_CASE("Http1Connection: pipelined requests are answered in order", "[http1_connection]") {
  ConnectionHarness h;
  start_for_pipeline(h);
  h.peer->send(pipeline());
  REQUIRE(h.run_to_close());
  check_pipeline_answers(h);
  CHECK(h.peer->closed());
}

// The same responses, field for field and body for body, however the requests are split into
// reads (Date values aside; a streamed echo may cut its chunks differently).
TEST_CASE("Http1Connection: every split of the input gives the same output", "[http1_connection]") {
  std::string expected;
  {
    ConnectionHarness h;
    start_for_pipeline(h);
    h.peer->send(pipeline());
    REQUIRE(h.run_to_close());
    check_pipeline_answers(h);
    expected = wire(h);
  }
  for (std::size_t cut = 1; cut < pipeline().size(); ++cut) {
    INFO("cut at " << cut);
    ConnectionHarness h;
    start_for_pipeline(h);
    h.peer->send(std::string_view(pipeline()).substr(0, cut));
    h.peer->send(std::string_view(pipeline()).substr(cut));
    REQUIRE(h.run_to_close());
    REQUIRE(wire(h) == expected);
  }
  for (std::size_t piece : {1, 2, 3, 7}) {
    INFO(piece << " bytes per read");
    ConnectionHarness h;
    start_for_pipeline(h);
    h.peer->set_max_read(piece);
    h.peer->send(pipeline());
    REQUIRE(h.run_to_close());
    CHECK(wire(h) == expected);
  }
}

// A client that sends a request and waits: no byte of a next request comes to end the body.
// The app reads the whole body before it answers, as most apps do.
TEST_CASE("Http1Connection: a body that ends the input is answered", "[http1_connection]") {
  ConnectionHarness h;
  h.router.mount("/sink", std::make_shared<test::SinkApp>());
  h.timeouts.request_body = seconds_d(10);  // longer than the wait below: no 408 may save it
  h.start();
  SECTION("Content-Length") {
    h.peer->send("POST /sink HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
  }
  SECTION("Content-Length, body in its own read") {
    h.peer->send("POST /sink HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n");
    h.peer->send("hello");
  }
  SECTION("chunked") {
    h.peer->send("POST /sink HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    h.peer->send("5\r\nhello\r\n0\r\n\r\n");
  }
  CHECK(h.run_until_responses(1, std::chrono::seconds(2)));
  INFO(wire(h));
  auto parsed = h.responses();
  REQUIRE(parsed.responses.size() == 1);
  CHECK(parsed.responses[0].body == "got 5");
  CHECK_FALSE(h.finished());
}

TEST_CASE("Http1Connection: HEAD gets the head without the body", "[http1_connection]") {
  ConnectionHarness h;
  h.router.mount("/stream", std::make_shared<test::StreamApp>());
  h.head_responses = {0, 1};
  h.start();
  h.peer->send("HEAD /h HTTP/1.1\r\nHost: a\r\n\r\nHEAD /stream HTTP/1.1\r\nHost: a\r\n\r\n" +
               kGet);
  REQUIRE(h.run_until_responses(3));
  auto output = h.peer->output();
  auto parsed = h.responses();
  INFO(describe(parsed));
  REQUIRE(parsed.error.empty());
  REQUIRE(parsed.responses.size() == 3);
  CHECK(parsed.responses[0].field("Content-Length") == "2");
  CHECK(parsed.responses[0].body.empty());
  // The streamed body has no known length: no framing field, no chunks.
  CHECK_FALSE(parsed.responses[1].field("Transfer-Encoding"));
  CHECK(parsed.responses[1].body.empty());
  CHECK(output.find("one") == std::string::npos);
  CHECK(parsed.responses[2].body == "ok");
}

TEST_CASE("Http1Connection: HTTP/1.0 closes after the response", "[http1_connection]") {
  ConnectionHarness h;
  h.start();
  h.peer->send("GET /h HTTP/1.0\r\n\r\n");
  REQUIRE(h.run_to_close());
  auto parsed = h.responses();
  INFO(describe(parsed));
  REQUIRE(parsed.responses.size() == 1);
  CHECK(parsed.responses[0].status_line == "HTTP/1.1 200 OK");
  CHECK(parsed.responses[0].body == "ok");
  CHECK(parsed.responses[0].closes());
  CHECK(h.peer->closed());
}

TEST_CASE("Http1Connection: HTTP/1.0 with keep-alive stays open", "[http1_connection]") {
  ConnectionHarness h;
  h.start();
  h.peer->send("GET /h HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  REQUIRE(h.run_until_responses(1));
  h.peer->send("GET /h HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  REQUIRE(h.run_until_responses(2));
  CHECK_FALSE(h.finished());
  auto parsed = h.responses();
  INFO(describe(parsed));
  REQUIRE(parsed.responses.size() == 2);
  for (const auto& response : parsed.responses) CHECK(response.field("Connection") == "keep-alive");
}

TEST_CASE("Http1Connection: a streamed body is chunked on 1.1", "[http1_connection]") {
  ConnectionHarness h;
  h.router.mount("/stream", std::make_shared<test::StreamApp>());
  h.start();
  h.peer->send("GET /stream HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(h.run_until_responses(1));
  auto parsed = h.responses();
  INFO(describe(parsed));
  REQUIRE(parsed.responses.size() == 1);
  CHECK(parsed.responses[0].chunked);
  CHECK(parsed.responses[0].body == "one two three");
  REQUIRE(parsed.responses[0].trailers.size() == 1);
  CHECK(parsed.responses[0].trailers[0].first == "X-Trailer");
  CHECK_FALSE(h.finished());
}

TEST_CASE("Http1Connection: a streamed body ends with the close on 1.0", "[http1_connection]") {
  ConnectionHarness h;
  h.router.mount("/stream", std::make_shared<test::StreamApp>());
  h.start();
  h.peer->send("GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  REQUIRE(h.run_to_close());
  auto parsed = h.responses();
  INFO(describe(parsed));
  REQUIRE(parsed.responses.size() == 1);
  CHECK(parsed.responses[0].until_close);
  CHECK_FALSE(parsed.responses[0].field("Transfer-Encoding"));
  CHECK_FALSE(parsed.responses[0].field("Content-Length"));
  CHECK(parsed.responses[0].closes());
  CHECK(parsed.responses[0].body == "one two three");
}

TEST_CASE("Http1Connection: 100 Continue when the app reads the body", "[http1_connection]") {
  ConnectionHarness h;
  h.start();
  h.peer->send(
      "POST /h?echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
      "Content-Length: 5\r\n\r\n");
  REQUIRE(h.run_until([&] { return h.peer->output().size() > 0; }));
  CHECK(h.peer->output() == "HTTP/1.1 100 Continue\r\n\r\n");
  h.peer->send("hello");
  h.peer->send(kGet);  // and the connection carries on
  REQUIRE(h.run_until_responses(2));
  auto parsed = h.responses();
  INFO(describe(parsed));
  REQUIRE(parsed.responses.size() == 3);
  CHECK(parsed.responses[0].status == 100);
  CHECK(parsed.responses[1].status == 200);
  CHECK(parsed.responses[1].body == "hello");
  CHECK(parsed.responses[2].body == "ok");
}

TEST_CASE("Http1Connection: no 100 Continue when the app answers without reading",
          "[http1_connection]") {
  ConnectionHarness h;
  h.router.mount("/noread", std::make_shared<test::NoReadApp>());
  h.start();
  h.peer->send(
      "POST /noread HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
      "Content-Length: 5\r\n\r\n");
  REQUIRE(h.run_to_close());
  auto parsed = h.responses();
  INFO(describe(parsed));
  REQUIRE(parsed.responses.size() == 1);
  CHECK(parsed.responses[0].status == 200);
  CHECK(parsed.responses[0].closes());
  CHECK(h.peer->output().find("100 Continue") == std::string::npos);
}

TEST_CASE("Http1Connection: a small unread body is dropped and the connection goes on",
          "[http1_connection]") {
  ConnectionHarness h;
  h.router.mount("/noread", std::make_shared<test::NoReadApp>());
  h.start();
  h.peer->send("POST /noread HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" + kGet);
  REQUIRE(h.run_until_responses(2));
  auto parsed = h.responses();
  INFO(describe(parsed));
  REQUIRE(parsed.responses.size() == 2);
  CHECK_FALSE(parsed.responses[0].closes());
  CHECK(parsed.responses[1].body == "ok");
  CHECK_FALSE(h.finished());
}

// The app answers while the body is still arriving: the rest is read and dropped, and the
// connection goes on. Run in a child process: a busy loop here would hang the suite.
TEST_CASE("Http1Connection: an unread body still arriving is dropped", "[http1_connection]") {
  auto outcome = test::run_guarded(
      [] {
        ConnectionHarness h;
        h.router.mount("/noread", std::make_shared<test::NoReadApp>());
        h.start();
        h.peer->send("POST /noread HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345");
        if (!h.run_until_responses(1)) return false;
        h.peer->send("67890" + kGet);
        if (!h.run_until_responses(2)) return false;
        auto parsed = h.responses();
        return parsed.responses.size() == 2 && parsed.responses[1].body == "ok" && !h.finished();
      },
      std::chrono::seconds(5));
  INFO("outcome: " << test::to_string(outcome));
  CHECK(outcome == test::Outcome::passed);
}

TEST_CASE("Http1Connection: a response shorter than its Content-Length is cut",
          "[http1_connection]") {
  ConnectionHarness h;
  h.router.mount("/short", std::make_shared<test::ShortApp>());
  h.start();
  h.peer->send("GET /short HTTP/1.1\r\nHost: a\r\n\r\n" + kGet);
  REQUIRE(h.run_to_close());
  auto parsed = h.responses();
  INFO(describe(parsed));
  REQUIRE(parsed.responses.size() == 1);
  CHECK(parsed.responses[0].field("Content-Length") == "10");
  CHECK(parsed.responses[0].body == "12345");
  CHECK_FALSE(parsed.error.empty());  // the client sees the body cut short
  CHECK(h.peer->closed());
}

TEST_CASE("Http1Connection: an app that aborts", "[http1_connection]") {
  ConnectionHarness h;
  h.router.mount("/after", std::make_shared<test::AbortApp>(true));
  h.router.mount("/before", std::make_shared<test::AbortApp>(false));
  h.start();
  SECTION("after the head: the response is cut and the connection closed") {
    h.peer->send("GET /after HTTP/1.1\r\nHost: a\r\n\r\n" + kGet);
    REQUIRE(h.run_to_close());
    auto parsed = h.responses();
    INFO(describe(parsed));
    REQUIRE(parsed.responses.size() == 1);
    CHECK(parsed.responses[0].status == 200);
    CHECK_FALSE(parsed.error.empty());  // no last chunk
    CHECK(h.peer->output().find("partial") != std::string::npos);
  }
  SECTION("before the head: 500 and close") {
    h.peer->send("GET /before HTTP/1.1\r\nHost: a\r\n\r\n" + kGet);
    REQUIRE(h.run_to_close());
    auto parsed = h.responses();
    INFO(describe(parsed));
    REQUIRE(parsed.error.empty());
    REQUIRE(parsed.responses.size() == 1);
    CHECK(parsed.responses[0].status == 500);
    CHECK(parsed.responses[0].closes());
  }
}

TEST_CASE("Http1Connection: the request head the app sees", "[http1_connection]") {
  ConnectionHarness h;
  auto hold = std::make_shared<test::HoldApp>();
  h.router.mount("/", hold);
  h.start();
  h.peer->send("GET http://example.com:8080/a/b?x=1 HTTP/1.1\r\nHost: other\r\nX-A: 1\r\n\r\n");
  REQUIRE(h.run_until([&] { return !hold->exchanges.empty(); }));
  const auto& request = hold->exchanges[0]->request();
  CHECK(request.method == "GET");
  CHECK(request.authority == "example.com:8080");
  CHECK(request.path == "/a/b");
  CHECK(request.query == "x=1");
  CHECK(request.client.host == "127.0.0.1");
  CHECK(request.client.port == 5555);
  CHECK(request.server.port == 80);
  CHECK(request.headers.size() == 2);
}

}  // namespace
}  // namespace junction::http1
