#include "gateway/fields.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "gateway/text.hpp"

namespace junction::gateway {

bool valid_field_name(std::string_view name) noexcept {
  static constexpr std::string_view specials = "!#$%&'*+-.^_`|~";
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           specials.find(c) != std::string_view::npos;
  });
}

bool valid_field_value(std::string_view value) noexcept {
  return std::none_of(value.begin(), value.end(),
                      [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

bool valid_received_field_value(std::string_view value) noexcept {
  return std::none_of(value.begin(), value.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && u != '\t') || u == 0x7f;
  });
}

bool is_hop_by_hop(std::string_view name) noexcept {
  // "trailers" as RFC 2616 §13.5.1 spells it, and "trailer" as the field is named (its errata).
  static constexpr std::array<std::string_view, 10> names = {
      "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
      "te",         "trailer",    "trailers",           "transfer-encoding",   "upgrade"};
  return std::any_of(names.begin(), names.end(),
                     [name](std::string_view hop) { return iequals(name, hop); });
}

std::optional<std::uint64_t> parse_content_length(std::string_view value) noexcept {
  auto text = trim(value);
  std::uint64_t length = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), length);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return length;
}

}  // namespace junction::gateway
