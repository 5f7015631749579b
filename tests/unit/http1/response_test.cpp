// Serialising HTTP/1.1 responses: status line, fields, framing, chunks, error replies.
#include "http1/response.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "support/wire.hpp"

namespace junction::http1 {
namespace {

using namespace junction::gateway;

using Kind = Framing::Kind;

std::string head(int status, const Headers& fields, Framing framing, bool keep_alive,
                 HttpVersion version = {1, 1}) {
  std::string out;
  append_response_head(out, version, status, fields, framing, keep_alive);
  return test::without_dates(out);
}

TEST_CASE("append_response_head: status line, fields in order, Date and Server",
          "[http1_response]") {
  std::string out;
  append_response_head(out, {1, 1}, 200, {{"Content-Type", "text/plain"}, {"X-A", "1"}},
                       {Kind::content_length, 5}, true);
  CHECK(test::without_dates(out) ==
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: 1\r\nDate: (date)\r\n"
        "Server: junction\r\nContent-Length: 5\r\n\r\n");
  auto parsed = test::parse_responses(out + "hello");
  REQUIRE(parsed.error.empty());
  REQUIRE(parsed.responses.size() == 1);
  CHECK(test::is_http_date(*parsed.responses[0].field("Date")));
}

TEST_CASE("append_response_head: each framing kind", "[http1_response]") {
  CHECK(head(200, {}, {Kind::content_length, 0}, true) ==
        "HTTP/1.1 200 OK\r\nDate: (date)\r\nServer: junction\r\nContent-Length: 0\r\n\r\n");
  CHECK(head(200, {}, {Kind::content_length, 123456789012}, true) ==
        "HTTP/1.1 200 OK\r\nDate: (date)\r\nServer: junction\r\nContent-Length: 123456789012"
        "\r\n\r\n");
  CHECK(head(200, {}, {Kind::chunked, 0}, true) ==
        "HTTP/1.1 200 OK\r\nDate: (date)\r\nServer: junction\r\nTransfer-Encoding: chunked"
        "\r\n\r\n");
  CHECK(head(200, {}, {Kind::until_close, 0}, false, {1, 0}) ==
        "HTTP/1.1 200 OK\r\nDate: (date)\r\nServer: junction\r\nConnection: close\r\n\r\n");
  CHECK(head(204, {}, {Kind::none, 0}, true) ==
        "HTTP/1.1 204 No Content\r\nDate: (date)\r\nServer: junction\r\n\r\n");
  CHECK(head(304, {}, {Kind::none, 0}, true) ==
        "HTTP/1.1 304 Not Modified\r\nDate: (date)\r\nServer: junction\r\n\r\n");
}

TEST_CASE("append_response_head: the app's connection fields are dropped", "[http1_response]") {
  Headers fields{{"Connection", "keep-alive"},
                 {"Transfer-Encoding", "gzip"},
                 {"Content-Length", "99"},
                 {"Keep-Alive", "timeout=5"},
                 {"Upgrade", "h2c"},
                 {"Proxy-Connection", "close"},
                 {"transfer-encoding", "chunked"},
                 {"X-Kept", "yes"}};
  CHECK(head(200, fields, {Kind::content_length, 3}, true) ==
        "HTTP/1.1 200 OK\r\nX-Kept: yes\r\nDate: (date)\r\nServer: junction\r\n"
        "Content-Length: 3\r\n\r\n");
}

TEST_CASE("append_response_head: the app's Date and Server win", "[http1_response]") {
  std::string out;
  append_response_head(out, {1, 1}, 200,
                       {{"server", "custom/1"}, {"DATE", "Sun, 06 Nov 1994 08:49:37 GMT"}},
                       {Kind::content_length, 0}, true);
  CHECK(out ==
        "HTTP/1.1 200 OK\r\nserver: custom/1\r\nDATE: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        "Content-Length: 0\r\n\r\n");
}

TEST_CASE("append_response_head: Connection follows keep_alive and the version",
          "[http1_response]") {
  const Framing empty{Kind::content_length, 0};
  const std::string base =
      "HTTP/1.1 200 OK\r\nDate: (date)\r\nServer: junction\r\nContent-Length: 0\r\n";
  CHECK(head(200, {}, empty, true, {1, 1}) == base + "\r\n");
  CHECK(head(200, {}, empty, false, {1, 1}) == base + "Connection: close\r\n\r\n");
  CHECK(head(200, {}, empty, true, {1, 0}) == base + "Connection: keep-alive\r\n\r\n");
  CHECK(head(200, {}, empty, false, {1, 0}) == base + "Connection: close\r\n\r\n");
}

TEST_CASE("append_response_head: appends to what is there", "[http1_response]") {
  std::string out = "HTTP/1.1 100 Continue\r\n\r\n";
  append_response_head(out, {1, 1}, 200, {}, {Kind::content_length, 0}, true);
  CHECK(out.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"));
}

TEST_CASE("append_response_head: an unknown status has an empty reason", "[http1_response]") {
  CHECK(head(599, {}, {Kind::content_length, 0}, true).starts_with("HTTP/1.1 599 \r\n"));
}

TEST_CASE("append_chunk and append_last_chunk", "[http1_response]") {
  std::string out;
  append_chunk(out, "hello");
  CHECK(out == "5\r\nhello\r\n");
  append_chunk(out, "");  // would end the body: nothing is written
  CHECK(out == "5\r\nhello\r\n");
  append_chunk(out, std::string(26, 'x'));
  CHECK(out == "5\r\nhello\r\n1a\r\n" + std::string(26, 'x') + "\r\n");

  // The size line alone, as a gathered or file piece gets it (lower-case hex, no padding).
  std::string line;
  append_chunk_size(line, 0x10000);
  append_chunk_size(line, 16383);
  append_chunk_size(line, UINT64_MAX);
  CHECK(line == "10000\r\n3fff\r\nffffffffffffffff\r\n");

  std::string last;
  append_last_chunk(last, {});
  CHECK(last == "0\r\n\r\n");
  std::string with_trailers;
  append_last_chunk(with_trailers, {{"X-Checksum", "abc"}, {"X-Count", "2"}});
  CHECK(with_trailers == "0\r\nX-Checksum: abc\r\nX-Count: 2\r\n\r\n");
}

TEST_CASE("chunked framing reads back as the body and trailers", "[http1_response]") {
  std::string out;
  append_response_head(out, {1, 1}, 200, {}, {Kind::chunked, 0}, true);
  append_chunk(out, "hello ");
  append_chunk(out, "world");
  append_last_chunk(out, {{"X-T", "1"}});
  auto parsed = test::parse_responses(out);
  REQUIRE(parsed.error.empty());
  REQUIRE(parsed.responses.size() == 1);
  CHECK(parsed.responses[0].body == "hello world");
  REQUIRE(parsed.responses[0].trailers.size() == 1);
  CHECK(parsed.responses[0].trailers[0].first == "X-T");
  CHECK(parsed.responses[0].trailers[0].second == "1");
}

TEST_CASE("append_error_response: a whole response that closes", "[http1_response]") {
  std::string out;
  const std::string body = "Content Too Large: request body too large\n";
  CHECK(append_error_response(out, 413, "request body too large") == body.size());
  CHECK(test::without_dates(out) ==
        "HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Date: (date)\r\nServer: junction\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);

  std::string plain;
  append_error_response(plain, 400);
  auto parsed = test::parse_responses(plain);
  REQUIRE(parsed.error.empty());
  REQUIRE(parsed.responses.size() == 1);
  CHECK(parsed.responses[0].status == 400);
  CHECK(parsed.responses[0].body == "Bad Request\n");
  CHECK(parsed.responses[0].closes());
}

TEST_CASE("reason_phrase: the statuses Junction sends", "[http1_response]") {
  CHECK(reason_phrase(100) == "Continue");
  CHECK(reason_phrase(200) == "OK");
  CHECK(reason_phrase(204) == "No Content");
  CHECK(reason_phrase(400) == "Bad Request");
  CHECK(reason_phrase(404) == "Not Found");
  CHECK(reason_phrase(405) == "Method Not Allowed");
  CHECK(reason_phrase(408) == "Request Timeout");
  CHECK(reason_phrase(413) == "Content Too Large");
  CHECK(reason_phrase(414) == "URI Too Long");
  CHECK(reason_phrase(417) == "Expectation Failed");
  CHECK(reason_phrase(431) == "Request Header Fields Too Large");
  CHECK(reason_phrase(500) == "Internal Server Error");
  CHECK(reason_phrase(501) == "Not Implemented");
  CHECK(reason_phrase(503) == "Service Unavailable");
  CHECK(reason_phrase(505) == "HTTP Version Not Supported");
  CHECK(reason_phrase(299).empty());
  CHECK(reason_phrase(0).empty());
}

TEST_CASE("append_response_head: the request ID is echoed unless the app set one",
          "[http1_response]") {
  std::string out;
  append_response_head(out, {1, 1}, 200, {}, {Kind::content_length, 0}, true, {},
                       {"X-Request-ID", "abc"});
  CHECK(out.find("\r\nX-Request-ID: abc\r\n") != std::string::npos);
  out.clear();
  append_response_head(out, {1, 1}, 200, {{"x-request-id", "the-app's"}}, {Kind::content_length, 0},
                       true, {}, {"X-Request-ID", "abc"});
  CHECK(out.find("abc") == std::string::npos);
  CHECK(out.find("x-request-id: the-app's") != std::string::npos);
  out.clear();
  append_response_head(out, {1, 1}, 200, {}, {Kind::content_length, 0}, true, {}, {});
  CHECK(out.find("equest") == std::string::npos);
}

TEST_CASE("append_error_response: the server's own answer to a request carries its ID",
          "[http1_response]") {
  std::string out;
  auto body = append_error_response(out, 500, {}, {"X-Request-ID", "abc"});
  CHECK(out.starts_with("HTTP/1.1 500 Internal Server Error\r\n"));
  CHECK(out.find("\r\nX-Request-ID: abc\r\n") < out.find("\r\n\r\n"));
  CHECK(out.ends_with("\r\n\r\nInternal Server Error\n"));
  CHECK(body == 22);
  out.clear();
  append_error_response(out, 400, "bad request line", {"X-Request-ID", ""});
  CHECK(out.find("X-Request-ID") == std::string::npos);
}

}  // namespace
}  // namespace junction::http1
