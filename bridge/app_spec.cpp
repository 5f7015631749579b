#include "bridge/app_spec.hpp"

#include <algorithm>
#include <cctype>

namespace junction::bridge {

std::string AppSettings::key() const {
  std::string out = name;
  if (request_timeout) out += "|" + std::to_string(*request_timeout);
  return out;
}

namespace {

bool is_identifier(std::string_view name) {
  if (name.empty()) return false;
  auto head = static_cast<unsigned char>(name.front());
  // Python identifiers may be non-ASCII; anything at or above 0x80 is left for Python to judge.
  if (!(std::isalpha(head) || head == '_' || head >= 0x80)) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) || u == '_' || u >= 0x80;
  });
}

bool split_dotted(std::string_view text, std::vector<std::string>& parts) {
  parts.clear();
  std::size_t start = 0;
  while (true) {
    auto dot = text.find('.', start);
    auto part = text.substr(start, dot == std::string_view::npos ? text.npos : dot - start);
    if (!is_identifier(part)) return false;
    parts.emplace_back(part);
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

}  // namespace

std::string AppSpec::target() const {
  std::string out = module;
  for (std::size_t i = 0; i < attr.size(); ++i) out += (i ? "." : ":") + attr[i];
  return out;
}

std::optional<AppSpec> parse_app_spec(std::string_view text, std::string& error) {
  AppSpec spec;
  spec.text = std::string(text);
  auto fail = [&](std::string why) {
    error = "bad APP '" + spec.text + "': " + std::move(why);
    return std::nullopt;
  };
  std::string_view rest = text;
  spec.prefix = "/";
  if (auto eq = rest.find('='); eq != std::string_view::npos) {
    auto prefix = rest.substr(0, eq);
    rest = rest.substr(eq + 1);
    if (!prefix.starts_with('/')) return fail("the mount prefix must start with '/'");
    if (prefix.find_first_of("?#% ") != std::string_view::npos)
      return fail("the mount prefix must be a plain path");
    while (prefix.size() > 1 && prefix.ends_with('/')) prefix.remove_suffix(1);
    spec.prefix = std::string(prefix);
  }
  // "wsgi:app" is the module wsgi (gunicorn's docs name it so): the interface prefix needs a
  // MODULE:ATTR after it, so it takes two colons.
  bool two_colons = rest.find(':') != rest.rfind(':');
  if (two_colons && rest.starts_with("wsgi:")) {
    spec.interface = Interface::wsgi;
    rest.remove_prefix(5);
  } else if (two_colons && rest.starts_with("asgi:")) {
    spec.interface = Interface::asgi;
    rest.remove_prefix(5);
  }
  auto colon = rest.find(':');
  // A module alone ("mysite.wsgi") names its `app` or, failing that, its `application`
  // (gunicorn's default; support.py looks them up).
  if (colon == std::string_view::npos) {
    std::vector<std::string> parts;
    if (rest.empty() || !split_dotted(rest, parts))
      return fail("'" + std::string(rest) + "' is not a module name (expected MODULE[:ATTR])");
    spec.module = std::string(rest);
    return spec;
  }
  auto module = rest.substr(0, colon);
  auto attr = rest.substr(colon + 1);
  if (attr.ends_with("()")) {
    spec.call_factory = true;
    attr.remove_suffix(2);
  }
  std::vector<std::string> parts;
  if (!split_dotted(module, parts))
    return fail("'" + std::string(module) + "' is not a module name");
  spec.module = std::string(module);
  if (!split_dotted(attr, spec.attr))
    return fail("'" + std::string(attr) + "' is not an attribute name (expected MODULE:ATTR)");
  return spec;
}

}  // namespace junction::bridge
