// Text helpers for protocol parsing: ASCII case folding, OWS trimming, list elements.
#include "gateway/text.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace junction::gateway {
namespace {

std::vector<std::string> elements(std::string_view list) {
  std::vector<std::string> out;
  for_each_list_element(list, [&](std::string_view e) { out.emplace_back(e); });
  return out;
}

using List = std::vector<std::string>;

TEST_CASE("iequals compares ASCII case-insensitively", "[text]") {
  CHECK(iequals("Content-Length", "content-length"));
  CHECK(iequals("CHUNKED", "chunked"));
  CHECK(iequals("", ""));
  CHECK_FALSE(iequals("chunked", "chunke"));
  CHECK_FALSE(iequals("chunked", "chunkedx"));
  CHECK_FALSE(iequals("a-b", "a_b"));
  // Only ASCII letters fold: '@' (0x40) and '`' (0x60) differ by 32 but are not letters.
  CHECK_FALSE(iequals("@", "`"));
  CHECK_FALSE(iequals("[", "{"));
  CHECK_FALSE(iequals("\xc4", "\xe4"));
  static_assert(iequals("Host", "hOST"));
}

TEST_CASE("trim strips spaces and tabs from both ends only", "[text]") {
  CHECK(trim("  a b \t") == "a b");
  CHECK(trim("\t\tx") == "x");
  CHECK(trim("x  ") == "x");
  CHECK(trim("   ").empty());
  CHECK(trim("").empty());
  CHECK(trim("\r\nx\r\n") == "\r\nx\r\n");  // CR and LF are not optional whitespace
  static_assert(trim(" a ") == "a");
}

TEST_CASE("for_each_list_element yields trimmed, non-empty elements", "[text]") {
  CHECK(elements("gzip, chunked") == List{"gzip", "chunked"});
  CHECK(elements("chunked") == List{"chunked"});
  CHECK(elements(" a ,\tb\t, c") == List{"a", "b", "c"});
  CHECK(elements(",, a,,b ,") == List{"a", "b"});
  CHECK(elements("").empty());
  CHECK(elements(" , ,").empty());
  CHECK(elements("a b, c") == List{"a b", "c"});
}

TEST_CASE("for_each_list_element_sep splits at any separator", "[text]") {
  std::vector<std::string> out;
  for_each_list_element_sep("echo&sleep=1&&x", '&',
                            [&](std::string_view e) { out.emplace_back(e); });
  CHECK(out == List{"echo", "sleep=1", "x"});
}

}  // namespace
}  // namespace junction::gateway
