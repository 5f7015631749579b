// The header-field rules every protocol session and both bridges share (gateway/fields.hpp).
#include "gateway/fields.hpp"

#include <catch2/catch.hpp>
#include <string_view>

namespace junction::gateway {
namespace {

TEST_CASE("valid_field_name: RFC 9110 tokens only", "[fields]") {
  for (auto name : {"Content-Type", "x", "X-A_b.c", "!#$%&'*+-.^_`|~09azAZ"}) {
    INFO(name);
    CHECK(valid_field_name(name));
  }
  for (auto name : {"", "X A", "X:A", "X\r\nY", "X\"", "X(", "X/", "X@", "X\t", "Ä"}) {
    INFO(name);
    CHECK_FALSE(valid_field_name(name));
  }
}

TEST_CASE("valid_field_value: no CR, LF or NUL", "[fields]") {
  CHECK(valid_field_value(""));
  CHECK(valid_field_value("text/plain; charset=utf-8"));
  CHECK(valid_field_value("tab\there"));
  CHECK(valid_field_value("caf\xc3\xa9"));
  CHECK_FALSE(valid_field_value("a\r\nX-Injected: 1"));
  CHECK_FALSE(valid_field_value("a\rb"));
  CHECK_FALSE(valid_field_value("a\nb"));
  CHECK_FALSE(valid_field_value(std::string_view("a\0b", 3)));
}

TEST_CASE("valid_received_field_value: no control characters but HTAB", "[fields]") {
  CHECK(valid_received_field_value(""));
  CHECK(valid_received_field_value("tab\there, caf\xc3\xa9"));
  CHECK_FALSE(valid_received_field_value("a\rb"));
  CHECK_FALSE(valid_received_field_value("a\x01b"));
  CHECK_FALSE(valid_received_field_value("a\x7f"));
}

TEST_CASE("is_hop_by_hop: the fields of one connection, RFC 2616 §13.5.1", "[fields]") {
  for (auto name : {"Connection", "transfer-encoding", "KEEP-ALIVE", "Upgrade", "Proxy-Connection",
                    "TE", "Trailer", "Trailers", "Proxy-Authenticate", "proxy-authorization"}) {
    INFO(name);
    CHECK(is_hop_by_hop(name));
  }
  for (auto name : {"Content-Type", "Content-Length", "Date", "Server", "X-Connection", "Tee"}) {
    INFO(name);
    CHECK_FALSE(is_hop_by_hop(name));
  }
}

TEST_CASE("parse_content_length: digits with optional whitespace", "[fields]") {
  CHECK(parse_content_length("0") == 0u);
  CHECK(parse_content_length(" 42\t") == 42u);
  CHECK(parse_content_length("18446744073709551615") == 18446744073709551615ull);
  for (auto text : {"", " ", "-1", "+1", "1 2", "0x10", "1,1", "18446744073709551616", "12a"}) {
    INFO(text);
    CHECK_FALSE(parse_content_length(text));
  }
}

}  // namespace
}  // namespace junction::gateway
