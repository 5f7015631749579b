// RequestParser and the WebSocket opening handshake (RFC 6455 §4.2.1): which requests are
// flagged RequestHead::websocket, which are refused (400, 426), and which stay plain HTTP.
#include <catch2/catch.hpp>
#include <string>

#include "http1/parser.hpp"
#include "support/parser_driver.hpp"

namespace junction::http1 {
namespace {

using namespace junction::gateway;

using test::describe;
using test::parse_bytewise;
using test::parse_whole;
using test::ParseRun;

const std::string kKey = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
const std::string kVersion = "Sec-WebSocket-Version: 13\r\n";

std::string request(const std::string& fields, const std::string& line = "GET /chat HTTP/1.1") {
  return line + "\r\nHost: example.com\r\n" + fields + "\r\n";
}

// The one message of a clean run.
const RequestHead& head_of(const ParseRun& run) {
  INFO(describe(run));
  REQUIRE(run.contract_violations.empty());
  REQUIRE_FALSE(run.error_status);
  REQUIRE(run.messages.size() == 1);
  return run.messages[0].head;
}

TEST_CASE("RequestParser: a valid opening handshake is flagged and not kept alive",
          "[http1_parser][websocket]") {
  auto text = request("Upgrade: websocket\r\nConnection: Upgrade\r\n" + kKey + kVersion);
  auto run = parse_whole({}, text);
  CHECK(head_of(run).websocket);
  CHECK_FALSE(run.messages[0].keep_alive);
  // However the bytes arrive.
  auto bytewise = parse_bytewise({}, text);
  CHECK(head_of(bytewise).websocket);
}

TEST_CASE("RequestParser: handshake tokens are case-insensitive list elements",
          "[http1_parser][websocket]") {
  auto run = parse_whole(
      {},
      request("upgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n"
              "sec-websocket-key:  dGhlIHNhbXBsZSBub25jZQ==  \r\nsec-websocket-version: 13\r\n"));
  CHECK(head_of(run).websocket);
}

TEST_CASE("RequestParser: Upgrade requests that are not a WebSocket handshake stay plain HTTP",
          "[http1_parser][websocket]") {
  SECTION("h2c") {
    auto run = parse_whole({}, request("Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                                       "HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n"));
    CHECK_FALSE(head_of(run).websocket);
    CHECK(run.messages[0].keep_alive);
  }
  SECTION("Upgrade: websocket not listed in Connection (RFC 9110 §7.8)") {
    auto run = parse_whole({}, request("Upgrade: websocket\r\n" + kKey + kVersion));
    CHECK_FALSE(head_of(run).websocket);
    CHECK(run.messages[0].keep_alive);
  }
  SECTION("HTTP/1.0 (RFC 9110 §7.8: Upgrade is ignored)") {
    auto run =
        parse_whole({}, request("Upgrade: websocket\r\nConnection: upgrade\r\n" + kKey + kVersion,
                                "GET /chat HTTP/1.0"));
    CHECK_FALSE(head_of(run).websocket);
  }
  SECTION("no Upgrade at all") {
    auto run = parse_whole({}, request("Connection: upgrade\r\n" + kKey + kVersion));
    CHECK_FALSE(head_of(run).websocket);
  }
}

TEST_CASE("RequestParser: a malformed WebSocket handshake is refused",
          "[http1_parser][websocket]") {
  const std::string asks = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
  struct Case {
    const char* what;
    std::string text;
    int status;
  };
  const Case cases[] = {
      {"version 12 (RFC 6455 §4.4)", request(asks + kKey + "Sec-WebSocket-Version: 12\r\n"), 426},
      {"no version", request(asks + kKey), 426},
      {"two versions", request(asks + kKey + kVersion + "Sec-WebSocket-Version: 8\r\n"), 426},
      {"no key", request(asks + kVersion), 400},
      {"a key that is not 16 bytes of base64",
       request(asks + "Sec-WebSocket-Key: c2hvcnQ=\r\n" + kVersion), 400},
      {"a key with a character outside base64",
       request(asks + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j*Q==\r\n" + kVersion), 400},
      {"two keys", request(asks + kKey + kKey + kVersion), 400},
      {"POST", request(asks + kKey + kVersion, "POST /chat HTTP/1.1"), 400},
      {"a body", request(asks + kKey + kVersion + "Content-Length: 2\r\n") + "hi", 400},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto run = parse_whole({}, c.text);
    INFO(describe(run));
    CHECK(run.contract_violations.empty());
    REQUIRE(run.error_status);
    CHECK(*run.error_status == c.status);
  }
}

}  // namespace
}  // namespace junction::http1
