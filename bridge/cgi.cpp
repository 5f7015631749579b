#include "bridge/cgi.hpp"

namespace junction::bridge {
namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      int high = hex_value(text[i + 1]);
      int low = hex_value(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

std::optional<std::string> cgi_header_name(std::string_view field_name) {
  if (field_name.find('_') != std::string_view::npos) return std::nullopt;
  std::string name;
  name.reserve(field_name.size() + 5);
  auto upper = [&name](std::string_view from) {
    for (char c : from) name.push_back(c == '-' ? '_' : (c >= 'a' && c <= 'z') ? c - 32 : c);
  };
  upper(field_name);
  if (name == "CONTENT_TYPE" || name == "CONTENT_LENGTH") return name;
  name.insert(0, "HTTP_");
  return name;
}

HostPort split_authority(std::string_view authority) {
  HostPort out;
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) {
      out.host = std::string(authority);
      return out;
    }
    out.host = std::string(authority.substr(0, close + 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':')
      out.port = std::string(authority.substr(close + 2));
    return out;
  }
  auto colon = authority.rfind(':');
  if (colon == std::string_view::npos) {
    out.host = std::string(authority);
  } else {
    out.host = std::string(authority.substr(0, colon));
    out.port = std::string(authority.substr(colon + 1));
  }
  return out;
}

}  // namespace junction::bridge
