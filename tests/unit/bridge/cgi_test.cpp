// The CGI pieces of the WSGI environ: percent-decoding PATH_INFO, header names as environ keys,
// and splitting the authority into SERVER_NAME and SERVER_PORT.
#include "bridge/cgi.hpp"

#include <catch2/catch.hpp>
#include <string>

namespace junction::bridge {
namespace {

using namespace std::string_literals;

TEST_CASE("percent_decode decodes %XX escapes", "[cgi]") {
  CHECK(percent_decode("/a%20b") == "/a b");
  CHECK(percent_decode("%41%42%43") == "ABC");
  CHECK(percent_decode("%2F") == "/");  // an encoded slash is decoded, as PEP 3333 servers do
  CHECK(percent_decode("%2f") == "/");
  CHECK(percent_decode("%e2%82%AC") == "\xe2\x82\xac");  // upper and lower hex mixed
  CHECK(percent_decode("%7e%7E") == "~~");
  CHECK(percent_decode("%25") == "%");
  CHECK(percent_decode("%2541") == "%41");  // decoded once only
  CHECK(percent_decode("/plain/path") == "/plain/path");
  CHECK(percent_decode("").empty());
}

TEST_CASE("percent_decode keeps a '%' without two hex digits", "[cgi]") {
  CHECK(percent_decode("%") == "%");
  CHECK(percent_decode("a%") == "a%");
  CHECK(percent_decode("a%4") == "a%4");
  CHECK(percent_decode("%4") == "%4");
  CHECK(percent_decode("%zz") == "%zz");
  CHECK(percent_decode("%4g") == "%4g");
  CHECK(percent_decode("%g4") == "%g4");
  CHECK(percent_decode("%%41") == "%A");
  CHECK(percent_decode("100%") == "100%");
  CHECK(percent_decode("%-1") == "%-1");
  CHECK(percent_decode("50% off%21") == "50% off!");
}

TEST_CASE("percent_decode yields bytes: %00 and UTF-8 stay as they are", "[cgi]") {
  auto nul = percent_decode("a%00b");
  CHECK(nul == "a\0b"s);
  CHECK(nul.size() == 3);
  CHECK(percent_decode("%ff%FE") == "\xff\xfe");  // not UTF-8: still passed through
  // Raw UTF-8 in the path is not touched, and encoded UTF-8 becomes the same bytes.
  CHECK(percent_decode("/caf\xc3\xa9") == "/caf\xc3\xa9");
  CHECK(percent_decode("/caf%C3%A9") == "/caf\xc3\xa9");
  CHECK(percent_decode("/caf%c3%a9").size() == 6);
}

TEST_CASE("cgi_header_name: fields become HTTP_ keys", "[cgi]") {
  CHECK(cgi_header_name("X-Forwarded-For") == "HTTP_X_FORWARDED_FOR");
  CHECK(cgi_header_name("x-forwarded-for") == "HTTP_X_FORWARDED_FOR");
  CHECK(cgi_header_name("Host") == "HTTP_HOST");
  CHECK(cgi_header_name("accept-encoding") == "HTTP_ACCEPT_ENCODING");
  CHECK(cgi_header_name("Cookie") == "HTTP_COOKIE");
  CHECK(cgi_header_name("X-123-Id") == "HTTP_X_123_ID");
  CHECK(cgi_header_name("Content-MD5") == "HTTP_CONTENT_MD5");
  CHECK(cgi_header_name("Content-Types") == "HTTP_CONTENT_TYPES");
}

TEST_CASE("cgi_header_name: Content-Type and Content-Length have no prefix", "[cgi]") {
  CHECK(cgi_header_name("Content-Type") == "CONTENT_TYPE");
  CHECK(cgi_header_name("content-type") == "CONTENT_TYPE");
  CHECK(cgi_header_name("CONTENT-TYPE") == "CONTENT_TYPE");
  CHECK(cgi_header_name("Content-Length") == "CONTENT_LENGTH");
  CHECK(cgi_header_name("content-length") == "CONTENT_LENGTH");
}

TEST_CASE("cgi_header_name: a name with '_' is dropped", "[cgi]") {
  CHECK_FALSE(cgi_header_name("X_Forwarded_For"));
  CHECK_FALSE(cgi_header_name("x_forwarded-for"));
  CHECK_FALSE(cgi_header_name("Content_Type"));
  CHECK_FALSE(cgi_header_name("_"));
  CHECK_FALSE(cgi_header_name("Trailing_"));
}

TEST_CASE("split_authority: host and optional port", "[cgi]") {
  auto plain = split_authority("example.com");
  CHECK(plain.host == "example.com");
  CHECK(plain.port.empty());

  auto with_port = split_authority("example.com:8080");
  CHECK(with_port.host == "example.com");
  CHECK(with_port.port == "8080");

  auto v4 = split_authority("127.0.0.1:8000");
  CHECK(v4.host == "127.0.0.1");
  CHECK(v4.port == "8000");

  auto empty = split_authority("");
  CHECK(empty.host.empty());
  CHECK(empty.port.empty());
}

TEST_CASE("split_authority: bracketed IPv6 keeps its brackets", "[cgi]") {
  auto bare = split_authority("[::1]");
  CHECK(bare.host == "[::1]");
  CHECK(bare.port.empty());

  auto with_port = split_authority("[::1]:8080");
  CHECK(with_port.host == "[::1]");
  CHECK(with_port.port == "8080");

  auto full = split_authority("[2001:db8::42]:443");
  CHECK(full.host == "[2001:db8::42]");
  CHECK(full.port == "443");
}

}  // namespace
}  // namespace junction::bridge
