// Small text helpers for protocol parsing: ASCII case folding, OWS trimming, list elements.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace junction::gateway {

constexpr char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? char(c + 32) : c;
}

// A copy of `text` in ASCII lower case.
inline std::string ascii_lowered(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

// Case-insensitive ASCII comparison, as field names and tokens are compared (RFC 9110 §5.1).
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

// Strips optional whitespace (SP and HTAB, RFC 9110 §5.6.3) from both ends.
constexpr std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(element) for each non-empty, trimmed element of a list split at `separator`.
template <class F>
constexpr void for_each_list_element_sep(std::string_view list, char separator, F&& f) {
  while (!list.empty()) {
    auto end = list.find(separator);
    auto element = trim(list.substr(0, end));
    if (!element.empty()) f(element);
    if (end == std::string_view::npos) break;
    list.remove_prefix(end + 1);
  }
}

// A comma-separated field value (RFC 9110 §5.6.1).
template <class F>
constexpr void for_each_list_element(std::string_view list, F&& f) {
  for_each_list_element_sep(list, ',', std::forward<F>(f));
}

}  // namespace junction::gateway
