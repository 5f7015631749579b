// parse_toml: toml++ 3.3 never sees a code point its whitespace lookup cannot classify (the
// inputs are the ones tests/fuzz/config_file_fuzz found), and what it parses comes back as
// written. Under the sanitizer build a lookup of such a code point is a UBSan report.
#include "gateway/server/toml_guard.hpp"

#include <catch2/catch.hpp>
#include <string>

namespace junction::gateway {
namespace {

// The description of the parse error `text` raises ("" when it parses).
std::string error_of(const std::string& text) {
  try {
    parse_toml(text, "f.toml");
  } catch (const toml::parse_error& e) {
    return std::string(e.description());
  }
  return {};
}

TEST_CASE("toml_misclassifies: the code points toml++ 3.3 has no answer for", "[toml_guard]") {
  CHECK(toml_misclassifies(U'\u00E9'));  // é
  CHECK(toml_misclassifies(U'\uFEF7'));
  CHECK(toml_misclassifies(U'\u3001'));
  // Whitespace it knows, code points outside its table, and the ranges its table answers.
  CHECK_FALSE(toml_misclassifies(U'\u00A0'));
  CHECK_FALSE(toml_misclassifies(U'\u3000'));
  CHECK_FALSE(toml_misclassifies(U'\uFEFF'));
  CHECK_FALSE(toml_misclassifies(U'\u2000'));
  CHECK_FALSE(toml_misclassifies(U'\u1680'));
  CHECK_FALSE(toml_misclassifies(U'\u4E2D'));  // 中
  CHECK_FALSE(toml_misclassifies(U'a'));
  CHECK_FALSE(toml_misclassifies(U'\U0001F600'));
}

TEST_CASE("parse_toml: what made toml++ reach undefined behaviour is parsed or refused",
          "[toml_guard]") {
  // U+FEF7 where a key must start (config_file_fuzz, crash-3c1583a3...).
  CHECK_FALSE(error_of("\xEF\xBB\xB7R").empty());
  // U+FEFB inside a malformed value that toml++ reads on past a quote (crash-f8375556...).
  CHECK_FALSE(error_of(std::string("J=5~9___x_\"*\0__\xEF\xBB\xBBYYY\0__", 24)).empty());
  // After a backslash in a multi-line basic string, and after a value.
  CHECK(error_of("s = \"\"\"\\\n\xC2\xA7\"\"\"\n").empty());      // a line-ending backslash
  CHECK_FALSE(error_of("s = \"\"\"\\\xC3\xA9\"\"\"\n").empty());  // no such escape
  CHECK_FALSE(error_of("a = 1\xC3\xA9\n").empty());
  // A table header toml++'s own assertion did not expect (a debug build aborted;
  // crash-eed15be2...).
  CHECK_FALSE(error_of("\n[/or&ers\"\napp = \"nowhere\"\n").empty());
}

TEST_CASE("parse_toml: strings, keys and messages keep their characters", "[toml_guard]") {
  auto table = parse_toml(
      "name = \"caf\xC3\xA9 \xEF\xBB\xB7\"\n"
      "\"cl\xC3\xA9\" = '\xC3\xA9t\xC3\xA9'\n"
      "[\"t\xC3\xA9\".\"\xC3\xA9\"]\nlist = [\"\xC3\xBC\", { \"\xC3\xB1\" = \"\xC3\xB1\" }]\n",
      "f.toml");
  CHECK(table["name"].value<std::string>() == "caf\xC3\xA9 \xEF\xBB\xB7");
  CHECK(table["cl\xC3\xA9"].value<std::string>() == "\xC3\xA9t\xC3\xA9");
  CHECK(table["t\xC3\xA9"]["\xC3\xA9"]["list"][0].value<std::string>() == "\xC3\xBC");
  CHECK(table["t\xC3\xA9"]["\xC3\xA9"]["list"][1]["\xC3\xB1"].value<std::string>() == "\xC3\xB1");
  // A message quotes the character as written, at its place.
  try {
    parse_toml("a = 1\n\xC3\xA9 = 2\n", "f.toml");
    FAIL("parsed");
  } catch (const toml::parse_error& e) {
    CHECK(e.source().begin.line == 2);
    CHECK(std::string(e.description()).find("\xF3\xB0") == std::string::npos);
  }
  // A stand-in in the file itself is refused with its place.
  try {
    parse_toml("a = \"\xF3\xB0\x83\xA9\"\n", "f.toml");  // U+F00E9
    FAIL("parsed");
  } catch (const toml::parse_error& e) {
    CHECK(e.source().begin.line == 1);
    CHECK(e.source().begin.column == 6);
    CHECK(std::string(e.description()).find("U+F00E9") != std::string::npos);
  }
}

}  // namespace
}  // namespace junction::gateway
