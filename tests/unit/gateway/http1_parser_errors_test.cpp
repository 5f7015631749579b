// RequestParser on bad input: each limit and each request-smuggling vector gets its status,
// whether the bytes arrive whole, split in two anywhere, or one at a time.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "gateway/http1_parser.hpp"
#include "support/parser_driver.hpp"

namespace junction::gateway {
namespace {

using test::describe;
using test::ParseRun;

struct BadRequest {
  const char* name;
  std::string request;
  int status;
};

// Small limits, so each is easy to cross.
Limits small_limits() {
  return {.request_line = 64,
          .header_fields = 4,
          .header_field_size = 64,
          .header_block_size = 256,
          .max_body_size = 16};
}

std::string repeat(std::string_view piece, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += piece;
  return out;
}

std::string many_fields(int count, std::string_view value) {
  std::string out;
  for (int i = 0; i < count; ++i) out += fmt::format("X-F{}: {}\r\n", i, value);
  return out;
}

const std::vector<BadRequest>& limit_vectors() {
  static const std::vector<BadRequest> vectors = {
      {"request line too long", "GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n",
       414},
      {"too many fields", "GET / HTTP/1.1\r\nHost: a\r\n" + many_fields(4, "v") + "\r\n", 431},
      {"field value too large",
       "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(80, 'b') + "\r\n\r\n", 431},
      {"field name too large",
       "GET / HTTP/1.1\r\nHost: a\r\nX-" + std::string(80, 'n') + ": v\r\n\r\n", 431},
      {"content-length over max_body_size",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n\r\n", 413},
      {"chunked body growing over max_body_size",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
       "a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n",
       413},
      {"one chunk over max_body_size",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
       "20\r\n0123456789abcdef0123456789abcdef\r\n0\r\n\r\n",
       413},
      {"too many trailer fields",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n" +
           many_fields(5, "v") + "\r\n",
       431},
  };
  return vectors;
}

// RFC 9112 §6.3, §7.1, §5: framing and field syntax a front end must refuse, not repair.
const std::vector<BadRequest>& smuggling_vectors() {
  static const std::string post = "POST / HTTP/1.1\r\nHost: a\r\n";
  static const std::vector<BadRequest> vectors = {
      {"Content-Length with Transfer-Encoding",
       post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"Transfer-Encoding with Content-Length",
       post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400},
      {"two different Content-Length", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
       400},
      {"two identical Content-Length", post + "Content-Length: 5\r\nContent-Length: 5\r\n\r\n",
       400},
      {"Content-Length abc", post + "Content-Length: abc\r\n\r\n", 400},
      {"Content-Length -1", post + "Content-Length: -1\r\n\r\n", 400},
      {"Content-Length 1,2", post + "Content-Length: 1,2\r\n\r\n", 400},
      {"Content-Length 5,5", post + "Content-Length: 5,5\r\n\r\nhello", 400},
      {"Content-Length ' 12 3'", post + "Content-Length:  12 3\r\n\r\n", 400},
      {"Content-Length +5", post + "Content-Length: +5\r\n\r\nhello", 400},
      {"Content-Length overflowing 64 bits",
       post + "Content-Length: 99999999999999999999999\r\n\r\n", 400},
      {"Transfer-Encoding gzip, chunked",
       post + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
      {"Transfer-Encoding gzip", post + "Transfer-Encoding: gzip\r\n\r\n", 501},
      {"Transfer-Encoding chunked, gzip",
       post + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400},
      {"Transfer-Encoding chunked, chunked",
       post + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400},
      {"Transfer-Encoding chunked twice",
       post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"Transfer-Encoding chunked then gzip in two fields",
       post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n", 400},
      {"Transfer-Encoding on HTTP/1.0",
       "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"chunk size zz", post + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400},
      {"chunk size too long",
       post + "Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\nhello\r\n0\r\n\r\n", 400},
      {"chunk size with a sign", post + "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n", 400},
      {"chunk extension with a control character",
       post + "Transfer-Encoding: chunked\r\n\r\n5;\x01\r\nhello\r\n0\r\n\r\n", 400},
      {"chunk extension with DEL",
       post + "Transfer-Encoding: chunked\r\n\r\n5;a=\x7f\r\nhello\r\n0\r\n\r\n", 400},
      {"chunk extension with a bare LF",
       post + "Transfer-Encoding: chunked\r\n\r\n5;a\nhello\r\n0\r\n\r\n", 400},
      {"chunk data longer than its size",
       post + "Transfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n", 400},
      {"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400},
      {"obs-fold with a tab", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400},
      {"bare CR in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
      {"bare LF ending a field", "GET / HTTP/1.1\r\nHost: a\r\nX: a\nY: b\r\n\r\n", 400},
      {"\\x01 in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n", 400},
      {"\\x7f in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fz\r\n\r\n", 400},
      {"NUL in a value", std::string("GET / HTTP/1.1\r\nHost: a\r\nX: a\0z\r\n\r\n", 38), 400},
      {"whitespace before the colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
      {"tab before the colon", "GET / HTTP/1.1\r\nHost: a\r\nX\t: b\r\n\r\n", 400},
      {"missing Host on HTTP/1.1", "GET / HTTP/1.1\r\nX: a\r\n\r\n", 400},
      {"duplicate Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"duplicate identical Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},
      {"duplicate Host on HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"Expect something-else", "GET / HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\n\r\n", 417},
      {"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501},
      {"target without a leading slash", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"absolute-form with an unknown scheme", "GET ftp://a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"absolute-form without authority", "GET http:///b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"asterisk-form on GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"space in the target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
      {"missing version", "GET /\r\nHost: a\r\n\r\n", 400},
  };
  return vectors;
}

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

TEST_CASE("RequestParser: HTTP/2.0 and other versions are refused", "[http1_parser]") {
  Limits limits;
  for (std::string version : {"2.0", "0.9", "1.2", "3.0"}) {
    auto run = test::parse_whole(limits, "GET / HTTP/" + version + "\r\nHost: a\r\n\r\n");
    INFO("HTTP/" << version << ": " << describe(run));
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
}  // namespace junction::gateway
