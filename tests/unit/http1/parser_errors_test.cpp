// RequestParser on bad input: each limit and each request-smuggling vector gets its status,
// whether the bytes arrive whole, split in two anywhere, or one at a time.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "http1/parser.hpp"
#include "support/bad_requests.hpp"
#include "support/parser_driver.hpp"

namespace junction::http1 {
namespace {

using namespace junction::gateway;

using test::BadRequest;
using test::describe;
using test::limit_vectors;
using test::many_fields;
using test::ParseRun;
using test::repeat;
using test::small_limits;
using test::smuggling_vectors;

// The status of the first error, and that it comes the same however the input is split.
void require_status(const Limits& limits, const BadRequest& bad) {
  INFO(bad.name << ": " << bad.request);
  auto whole = test::parse_whole(limits, bad.request);
  INFO("whole: " << describe(whole));
  REQUIRE(whole.contract_violations.empty());
  REQUIRE(whole.error_status == bad.status);
  auto bytewise = test::parse_bytewise(limits, bad.request);
  INFO("byte by byte: " << describe(bytewise));
  REQUIRE(bytewise.error_status == bad.status);
  for (std::size_t cut = 1; cut < bad.request.size(); ++cut) {
    auto split = test::parse_split(limits, bad.request, cut);
    INFO("cut at " << cut << ": " << describe(split));
    REQUIRE(split.error_status == bad.status);
  }
}

TEST_CASE("RequestParser: each limit gets its status", "[http1_parser][limits]") {
  auto limits = small_limits();
  for (const auto& bad : limit_vectors()) {
    DYNAMIC_SECTION(bad.name) {
      require_status(limits, bad);
    }
  }
}

TEST_CASE("RequestParser: a head too large in total gets 431", "[http1_parser][limits]") {
  auto limits = small_limits();
  limits.header_fields = 100;  // only the head's total size is crossed
  require_status(
      limits,
      {"head too large",
       "GET / HTTP/1.1\r\nHost: a\r\n" + many_fields(12, std::string(30, 'v')) + "\r\n", 431});
}

TEST_CASE("RequestParser: endless empty lines before a request get 431", "[http1_parser][limits]") {
  auto limits = small_limits();
  auto run = test::parse_whole(limits, repeat("\r\n", 400));
  CHECK(run.error_status == 431);
  CHECK(test::parse_bytewise(limits, repeat("\r\n", 400)).error_status == 431);
}

TEST_CASE("RequestParser: requests within the limits pass", "[http1_parser][limits]") {
  auto limits = small_limits();
  auto ok = [&](const std::string& request) {
    auto run = test::parse_whole(limits, request);
    INFO(describe(run));
    CHECK_FALSE(run.error_status);
    CHECK(run.messages.size() == 1);
  };
  ok("GET / HTTP/1.1\r\nHost: a\r\n" + many_fields(3, "v") + "\r\n");
  ok("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 16\r\n\r\n0123456789abcdef");
  ok("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     "8\r\n01234567\r\n8\r\n89abcdef\r\n0\r\n\r\n");
}

// --limit-request-line is "the longest request line in bytes" and --limit-request-field-size
// "the longest header field (name and value)": a line of exactly the limit passes, one byte
// more does not.
TEST_CASE("RequestParser: the line limits count the whole line", "[http1_parser][limits]") {
  auto limits = small_limits();
  auto status = [&](const std::string& request) {
    auto run = test::parse_whole(limits, request);
    INFO(describe(run));
    return run.error_status.value_or(0);
  };
  auto line = [](std::size_t length) {  // "GET /aaa HTTP/1.1", `length` bytes without CRLF
    return "GET /" + std::string(length - 14, 'a') + " HTTP/1.1";
  };
  CHECK(status(line(64) + "\r\nHost: a\r\n\r\n") == 0);
  CHECK(status(line(65) + "\r\nHost: a\r\n\r\n") == 414);

  auto field = [](std::size_t length) {  // "X: vvv", `length` bytes without CRLF
    return "X: " + std::string(length - 3, 'v');
  };
  CHECK(status("GET / HTTP/1.1\r\nHost: a\r\n" + field(64) + "\r\n\r\n") == 0);
  CHECK(status("GET / HTTP/1.1\r\nHost: a\r\n" + field(65) + "\r\n\r\n") == 431);
}

TEST_CASE("RequestParser: each smuggling vector gets its status", "[http1_parser][smuggling]") {
  Limits limits;
  for (const auto& bad : smuggling_vectors()) {
    DYNAMIC_SECTION(bad.name) {
      require_status(limits, bad);
    }
  }
}

// A missing version is HTTP/0.9 to llhttp: 505 or 400 are both fair answers.
TEST_CASE("RequestParser: HTTP/2.0 and other versions are refused", "[http1_parser]") {
  Limits limits;
  for (std::string version : {" HTTP/2.0", " HTTP/0.9", " HTTP/1.2", " HTTP/3.0", ""}) {
    auto run = test::parse_whole(limits, "GET /" + version + "\r\nHost: a\r\n\r\n");
    INFO("GET /" << version << ": " << describe(run));
    REQUIRE(run.error_status);
    CHECK((*run.error_status == 505 || *run.error_status == 400));
    CHECK(run.messages.empty());
  }
}

TEST_CASE("RequestParser: an error is final", "[http1_parser]") {
  Limits limits;
  test::ParserDriver driver(limits);
  driver.feed("GET / HTTP/1.1\r\nHost : a\r\n\r\n");
  REQUIRE(driver.run().error_status == 400);
  auto again = driver.parser().parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(again.event == RequestParser::Event::error);
  CHECK(again.consumed == 0);
  CHECK(driver.parser().status() == 400);
  CHECK_FALSE(driver.parser().reason().empty());
}

TEST_CASE("RequestParser: the error comes before the message reaches the app",
          "[http1_parser][smuggling]") {
  // No head event may precede the refusal of a head: the app must never see these requests.
  Limits limits;
  for (const auto& bad : smuggling_vectors()) {
    if (bad.request.find("Transfer-Encoding: chunked\r\n\r\n") != std::string::npos &&
        bad.request.find("Content-Length") == std::string::npos)
      continue;  // body errors come after a valid head
    if (std::string_view(bad.name).starts_with("chunk")) continue;
    auto run = test::parse_whole(limits, bad.request);
    INFO(bad.name << ": " << describe(run));
    CHECK(run.messages.empty());
  }
}

}  // namespace
}  // namespace junction::http1
