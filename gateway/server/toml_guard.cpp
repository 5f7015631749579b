#include "gateway/server/toml_guard.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace junction::gateway {
namespace {

constexpr char32_t kStandIns = 0xF0000;

struct Decoded {
  char32_t c;
  std::size_t length;  // bytes; 1 for a byte that starts no UTF-8 sequence (toml++ reports it)
};

Decoded decode(std::string_view text, std::size_t at) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[at + i]); };
  unsigned char lead = byte(0);
  std::size_t length = lead < 0x80    ? 1
                       : lead >= 0xF8 ? 0
                       : lead >= 0xF0 ? 4
                       : lead >= 0xE0 ? 3
                       : lead >= 0xC0 ? 2
                                      : 0;
  if (length <= 1 || at + length > text.size()) return {lead, 1};
  char32_t c = lead & (0x3F >> (length - 1));
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return {lead, 1};
    c = (c << 6) | (byte(i) & 0x3F);
  }
  return {c, length};
}

void encode(char32_t c, std::string& out) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

bool is_stand_in(char32_t c) {
  return c >= kStandIns && toml_misclassifies(c - kStandIns);
}

// `text` with every code point `from` maps (to a value other than 0) replaced; empty when
// there is none, so the common text is not copied.
template <class Map>
std::string replaced(std::string_view text, Map from) {
  std::string out;
  std::size_t copied = 0;
  for (std::size_t at = 0; at < text.size();) {
    auto [c, length] = decode(text, at);
    if (char32_t to = c >= 0x80 ? from(c) : 0) {
      if (out.empty()) out.reserve(text.size() + 16);
      out.append(text.substr(copied, at - copied));
      encode(to, out);
      copied = at + length;
    }
    at += length;
  }
  if (!out.empty()) out.append(text.substr(copied));
  return out;
}

std::string restored(std::string_view text) {
  auto out = replaced(text, [](char32_t c) { return is_stand_in(c) ? c - kStandIns : 0; });
  return out.empty() ? std::string(text) : out;
}

void restore(toml::node& node);

void restore(toml::table& table) {
  std::vector<std::pair<toml::key, toml::key>> renamed;
  for (auto&& [key, value] : table) {
    restore(value);
    if (auto name = restored(key.str()); name != key.str())
      renamed.emplace_back(key, toml::key(std::move(name), key.source()));
  }
  for (auto& names : renamed) {
    table.get(names.first)->visit([&](auto& value) {
      table.insert_or_assign(names.second, std::move(value));
    });
    table.erase(names.first);
  }
}

void restore(toml::node& node) {
  if (auto* table = node.as_table()) {
    restore(*table);
  } else if (auto* array = node.as_array()) {
    for (auto& element : *array) restore(element);
  } else if (auto* string = node.as_string()) {
    string->get() = restored(string->get());
  }
}

}  // namespace

bool toml_misclassifies(char32_t c) noexcept {
  // toml++ 3.3's is_non_ascii_horizontal_whitespace, whose default case is unreachable.
  if (c <= 0xA0 || c >= 0xFEFF || c == 0x3000) return false;
  auto index = (static_cast<std::uint64_t>(c) - 0xA0) / 0x3FA;
  if ((std::uint64_t{1} << index) & 0x7FFFFFFFFFFFF75Eull) return false;
  return index != 5 && index != 7;
}

toml::table parse_toml(std::string_view text, const std::string& path) {
  // A stand-in in the file itself could not be told from one of ours.
  int line = 1, column = 0;
  for (std::size_t at = 0; at < text.size();) {
    auto [c, length] = decode(text, at);
    ++column;
    if (is_stand_in(c))
      throw toml::parse_error(
          fmt::format("U+{:05X} (a private-use code point) is not read in this file",
                      static_cast<std::uint32_t>(c))
              .c_str(),
          toml::source_position{static_cast<toml::source_index>(line),
                                static_cast<toml::source_index>(column)},
          std::make_shared<const std::string>(path));
    if (c == '\n') {
      ++line;
      column = 0;
    }
    at += length;
  }
  auto substituted =
      replaced(text, [](char32_t c) { return toml_misclassifies(c) ? c + kStandIns : 0; });
  if (substituted.empty()) return toml::parse(text, path);
  toml::table table;
  try {
    table = toml::parse(substituted, path);
  } catch (const toml::parse_error& e) {
    throw toml::parse_error(restored(e.description()).c_str(), e.source());
  }
  restore(table);
  return table;
}

}  // namespace junction::gateway
