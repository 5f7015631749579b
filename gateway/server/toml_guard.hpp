// toml::parse without the undefined behaviour of Debian 12's toml++ (3.3). It tells whether a
// non-ASCII code point is whitespace with a lookup whose switch reaches __builtin_unreachable
// for most code points of U+00A1..U+0499, U+2C8E..U+3057 and U+FC06..U+FEFE (upstream
// marzer/tomlplusplus#295, fixed after 3.4.0; found here by tests/fuzz/config_file_fuzz). It
// asks wherever whitespace could stand, which is also inside the bytes of a malformed value, so
// no lexer of ours can tell those places beforehand. Instead each such code point is handed to
// toml++ as a stand-in it classifies soundly, U+F0000 plus the code point (Supplementary
// Private Use Area-A), and put back in every string, key and error message it parsed.
#pragma once

// toml++ 3.3 also asserts things of the input that malformed input breaks (parse_key, for a table
// header such as `[/a"`): a release build compiles its checks out, a debug build would abort on a
// user's bad file. Every file that includes toml++ does so through this header, with its checks
// off in every build, as in release (where a file such as that one is a syntax error).
#ifndef TOML_ASSERT
#define TOML_ASSERT(expr) static_cast<void>(0)
#endif
#include <toml++/toml.h>

#include <string>
#include <string_view>

namespace junction::gateway {

// As toml::parse(text, path): the table, or toml::parse_error (with its place). A text that
// holds a stand-in itself is refused (a private-use code point no configuration needs).
toml::table parse_toml(std::string_view text, const std::string& path);

// Whether toml++ 3.3's whitespace lookup is undefined for `c` (the code points above).
bool toml_misclassifies(char32_t c) noexcept;

}  // namespace junction::gateway
