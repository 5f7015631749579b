// RequestParser on well-formed input: what it makes of each request, and that the result does
// not depend on how the bytes are split into reads.
#include "http1/parser.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "support/parser_driver.hpp"

namespace junction::http1 {
namespace {

using namespace junction::gateway;

using test::describe;
using test::parse_bytewise;
using test::parse_split;
using test::parse_whole;
using test::ParseRun;

const std::vector<std::string>& valid_requests() {
  static const std::vector<std::string> requests = {
      "GET /search?q=junction&lang=en HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n",
      "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\n"
      "hello world",
      "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n6;flag;q=\"quoted\"\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
      "GET /old HTTP/1.0\r\nUser-Agent: legacy\r\n\r\n",
      "GET http://example.com:8080/a/b?x=1 HTTP/1.1\r\nHost: ignored.example\r\n\r\n",
      "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nAccept: text/html\r\nX-Dup: 1\r\naccept: */*\r\n"
      "X-Dup: 2\r\nX-Empty:\r\nX-Spaces: \t padded value\r\nX-Dup: 3\r\n\r\n",
  };
  return requests;
}

// Runs parsed from whole input must be clean: one complete message, no error, no violation.
void require_clean(const ParseRun& run) {
  INFO(describe(run));
  REQUIRE(run.contract_violations.empty());
  REQUIRE_FALSE(run.error_status);
  REQUIRE(run.messages.size() == 1);
}

TEST_CASE("RequestParser: GET with a query string", "[http1_parser]") {
  auto run = parse_whole({}, valid_requests()[0]);
  require_clean(run);
  const auto& head = run.messages[0].head;
  CHECK(head.method == "GET");
  CHECK(head.target == "/search?q=junction&lang=en");
  CHECK(head.path == "/search");
  CHECK(head.query == "q=junction&lang=en");
  CHECK(head.authority == "example.com");
  CHECK(head.version == HttpVersion{1, 1});
  CHECK(head.content_length == 0u);
  CHECK_FALSE(head.has_body);
  CHECK(describe(head.headers) == describe(Headers{{"Host", "example.com"}, {"User-Agent", "t"}}));
  CHECK(run.messages[0].keep_alive);
  CHECK(run.messages[0].body.empty());
}

TEST_CASE("RequestParser: POST with a Content-Length body", "[http1_parser]") {
  auto run = parse_whole({}, valid_requests()[1]);
  require_clean(run);
  const auto& message = run.messages[0];
  CHECK(message.head.method == "POST");
  CHECK(message.head.content_length == 11u);
  CHECK(message.head.has_body);
  CHECK(message.body == "hello world");
}

TEST_CASE("RequestParser: chunked body with extensions and trailers", "[http1_parser]") {
  auto run = parse_whole({}, valid_requests()[2]);
  require_clean(run);
  const auto& message = run.messages[0];
  CHECK_FALSE(message.head.content_length);
  CHECK(message.head.has_body);
  CHECK(message.body == "hello world");
  CHECK(message.complete);
  // Trailer fields are checked but not added to the head.
  CHECK(describe(message.head.headers) ==
        describe(Headers{{"Host", "a"}, {"Transfer-Encoding", "chunked"}}));
}

TEST_CASE("RequestParser: HTTP/1.0 without Host", "[http1_parser]") {
  auto run = parse_whole({}, valid_requests()[3]);
  require_clean(run);
  const auto& message = run.messages[0];
  CHECK(message.head.version == HttpVersion{1, 0});
  CHECK(message.head.authority.empty());
  CHECK(message.head.path == "/old");
  CHECK_FALSE(message.keep_alive);
}

TEST_CASE("RequestParser: absolute-form target gives authority, path and query", "[http1_parser]") {
  auto run = parse_whole({}, valid_requests()[4]);
  require_clean(run);
  const auto& head = run.messages[0].head;
  CHECK(head.target == "http://example.com:8080/a/b?x=1");
  CHECK(head.authority == "example.com:8080");
  CHECK(head.path == "/a/b");
  CHECK(head.query == "x=1");
}

TEST_CASE("RequestParser: absolute-form target without a path", "[http1_parser]") {
  auto run = parse_whole({}, "GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
  require_clean(run);
  CHECK(run.messages[0].head.authority == "example.com");
  CHECK(run.messages[0].head.path == "/");
  CHECK(run.messages[0].head.query.empty());
}

TEST_CASE("RequestParser: OPTIONS *", "[http1_parser]") {
  auto run = parse_whole({}, valid_requests()[5]);
  require_clean(run);
  CHECK(run.messages[0].head.method == "OPTIONS");
  CHECK(run.messages[0].head.target == "*");
  CHECK(run.messages[0].head.path == "*");
}

TEST_CASE("RequestParser: header fields keep their order and case and duplicates",
          "[http1_parser]") {
  auto run = parse_whole({}, valid_requests()[6]);
  require_clean(run);
  CHECK(describe(run.messages[0].head.headers) == describe(Headers{{"Host", "a"},
                                                                   {"Accept", "text/html"},
                                                                   {"X-Dup", "1"},
                                                                   {"accept", "*/*"},
                                                                   {"X-Dup", "2"},
                                                                   {"X-Empty", ""},
                                                                   {"X-Spaces", "padded value"},
                                                                   {"X-Dup", "3"}}));
}

// RFC 9110 §5.5: leading and trailing whitespace is not part of a field value.
TEST_CASE("RequestParser: field values lose their surrounding whitespace", "[http1_parser]") {
  auto run = parse_whole({}, "GET / HTTP/1.1\r\nHost: a \r\nX-A:  one  \r\nX-B:\ttwo\t\r\n\r\n");
  require_clean(run);
  const auto& head = run.messages[0].head;
  CHECK(describe(head.headers) == describe(Headers{{"Host", "a"}, {"X-A", "one"}, {"X-B", "two"}}));
  CHECK(head.authority == "a");
}

TEST_CASE("RequestParser: many header fields up to the limit", "[http1_parser]") {
  std::string request = "GET / HTTP/1.1\r\nHost: a\r\n";
  Headers expected{{"Host", "a"}};
  for (int i = 0; i < 99; ++i) {
    request += fmt::format("X-Field-{}: value {}\r\n", i % 10, i);
    expected.emplace_back(fmt::format("X-Field-{}", i % 10), fmt::format("value {}", i));
  }
  request += "\r\n";
  auto run = parse_whole({}, request);  // the default limit is 100 fields
  require_clean(run);
  CHECK(describe(run.messages[0].head.headers) == describe(expected));
}

TEST_CASE("RequestParser: every split of a request parses the same", "[http1_parser]") {
  for (const auto& request : valid_requests()) {
    auto expected = describe(parse_whole({}, request));
    INFO("request: " << request);
    for (std::size_t cut = 0; cut <= request.size(); ++cut) {
      INFO("cut at " << cut);
      REQUIRE(describe(parse_split({}, request, cut)) == expected);
    }
    REQUIRE(describe(parse_bytewise({}, request)) == expected);
  }
}

TEST_CASE("RequestParser: pipelined requests come out in order", "[http1_parser]") {
  // The HTTP/1.0 request goes last: nothing may follow a message that ends the connection.
  std::vector<std::string> requests;
  for (const auto& request : valid_requests())
    if (request.find("HTTP/1.0") == std::string::npos) requests.push_back(request);
  requests.push_back(valid_requests()[3]);
  std::string pipeline;
  for (const auto& request : requests) pipeline += request;
  auto run = parse_whole({}, pipeline);
  INFO(describe(run));
  REQUIRE(run.contract_violations.empty());
  REQUIRE_FALSE(run.error_status);
  REQUIRE(run.messages.size() == requests.size());
  // Each message equals the same request parsed alone.
  for (std::size_t i = 0; i < requests.size(); ++i) {
    auto alone = parse_whole({}, requests[i]);
    CHECK(describe(run.messages[i].head) == describe(alone.messages[0].head));
    CHECK(run.messages[i].body == alone.messages[0].body);
  }
  CHECK(describe(parse_bytewise({}, pipeline)) == describe(run));
  for (std::size_t cut = 0; cut <= pipeline.size(); cut += 7) {
    INFO("cut at " << cut);
    REQUIRE(describe(parse_split({}, pipeline, cut)) == describe(run));
  }
}

TEST_CASE("RequestParser: keep_alive follows the version and Connection", "[http1_parser]") {
  auto keep_alive = [](std::string_view request) {
    auto run = parse_whole({}, request);
    INFO(describe(run));
    REQUIRE(run.messages.size() == 1);
    return run.messages[0].keep_alive;
  };
  CHECK(keep_alive("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  CHECK_FALSE(keep_alive("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
  CHECK_FALSE(keep_alive("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n"));
  CHECK_FALSE(keep_alive("GET / HTTP/1.0\r\n\r\n"));
  CHECK(keep_alive("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  CHECK(keep_alive("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
}

TEST_CASE("RequestParser: Expect: 100-continue only matters with a body", "[http1_parser]") {
  auto with_body = parse_whole({},
                               "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                               "Content-Length: 2\r\n\r\nhi");
  require_clean(with_body);
  CHECK(with_body.messages[0].head.expect_continue);

  auto chunked = parse_whole({},
                             "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  require_clean(chunked);
  CHECK(chunked.messages[0].head.expect_continue);

  auto empty = parse_whole({},
                           "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                           "Content-Length: 0\r\n\r\n");
  require_clean(empty);
  CHECK_FALSE(empty.messages[0].head.expect_continue);

  auto none = parse_whole({}, "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n");
  require_clean(none);
  CHECK_FALSE(none.messages[0].head.expect_continue);
}

// A client that sent a whole request waits for the answer: the parser must say the message
// is complete from the bytes it has, without waiting for a byte of the next request. The end
// may take one more parse() of no bytes (the connection makes it), but no more bytes.
TEST_CASE("RequestParser: a message ending with the input is complete", "[http1_parser]") {
  Limits limits;
  test::ParserDriver driver(limits);
  SECTION("Content-Length body") {
    driver.feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi");
  }
  SECTION("Content-Length body in its own read") {
    driver.feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n");
    driver.feed("hi");
  }
  SECTION("chunked body") {
    driver.feed(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n");
  }
  SECTION("no body") {
    driver.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  }
  INFO(describe(driver.run()));
  REQUIRE(driver.run().messages.size() == 1);
  if (!driver.run().messages[0].complete) {
    const std::string empty;  // as from a buffer: a valid pointer, no bytes
    auto result = driver.parser().parse(empty);
    CHECK(result.event == RequestParser::Event::end);
    CHECK(result.consumed == 0);
  }
  CHECK_FALSE(driver.parser().in_message());
  CHECK(driver.parser().body_complete());
}

// The contract says need_more means "everything given was consumed"; an empty input in the
// middle of a body must not come back as an empty body piece that consumed nothing (a caller
// looping on events would spin on it).
TEST_CASE("RequestParser: empty input in a body needs more", "[http1_parser]") {
  Limits limits;
  test::ParserDriver driver(limits);
  driver.feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhi");
  REQUIRE(driver.run().messages.size() == 1);
  REQUIRE(driver.run().messages[0].body == "hi");
  const std::string empty;  // as from a buffer: a valid pointer, no bytes
  auto result = driver.parser().parse(empty);
  CHECK(result.event == RequestParser::Event::need_more);
  CHECK(result.consumed == 0);
}

TEST_CASE("RequestParser: finish() is clean only between messages", "[http1_parser]") {
  Limits limits;
  SECTION("before any byte") {
    RequestParser parser(limits);
    CHECK(parser.finish());
  }
  SECTION("after a complete request") {
    test::ParserDriver driver(limits);
    driver.feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi");
    REQUIRE(driver.run().messages.size() == 1);
    const std::string empty;
    if (!driver.run().messages[0].complete) driver.parser().parse(empty);  // takes the end
    CHECK(driver.parser().finish());
  }
  SECTION("after a complete bodyless request") {
    test::ParserDriver driver(limits);
    driver.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    REQUIRE(driver.run().messages.size() == 1);
    CHECK_FALSE(driver.parser().in_message());
    CHECK(driver.parser().finish());
  }
  SECTION("inside a request line") {
    test::ParserDriver driver(limits);
    driver.feed("GET / HT");
    CHECK(driver.parser().in_message());
    CHECK_FALSE(driver.parser().finish());
    CHECK(driver.parser().status() == 400);
  }
  SECTION("inside the header fields") {
    test::ParserDriver driver(limits);
    driver.feed("GET / HTTP/1.1\r\nHost: a\r\n");
    CHECK_FALSE(driver.parser().finish());
  }
  SECTION("inside a body") {
    test::ParserDriver driver(limits);
    driver.feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhi");
    REQUIRE(driver.run().messages.size() == 1);
    CHECK(driver.parser().body_received() == 2);
    CHECK_FALSE(driver.parser().body_complete());
    CHECK_FALSE(driver.parser().finish());
  }
  SECTION("inside a chunked body") {
    test::ParserDriver driver(limits);
    driver.feed("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n");
    CHECK_FALSE(driver.parser().finish());
  }
  SECTION("between two pipelined requests") {
    test::ParserDriver driver(limits);
    driver.feed("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
    REQUIRE(driver.run().messages.size() == 2);
    CHECK(driver.parser().finish());
  }
}

TEST_CASE("RequestParser: 100-continue is ignored for HTTP/1.0", "[http1_parser]") {
  Limits limits;
  RequestParser parser(limits);
  std::string request = "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc";
  auto result = parser.parse(request);
  REQUIRE(result.event == RequestParser::Event::head);
  CHECK_FALSE(parser.take_head().expect_continue);

  RequestParser parser11(limits);
  std::string request11 =
      "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc";
  result = parser11.parse(request11);
  REQUIRE(result.event == RequestParser::Event::head);
  CHECK(parser11.take_head().expect_continue);
}

}  // namespace
}  // namespace junction::http1
