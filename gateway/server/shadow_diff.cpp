#include "gateway/server/shadow_diff.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>

#include "gateway/text.hpp"

namespace junction::gateway {

namespace json = boost::json;

namespace {

constexpr std::size_t kExcerpt = 120;  // characters of each side in a report

// Headers that differ between any two answers, whichever app gives them.
constexpr std::string_view kAlwaysIgnored[] = {"date",           "server",           "etag",
                                               "content-length", "x-request-id",     "connection",
                                               "keep-alive",     "transfer-encoding"};

// Printable ASCII as is; the rest escaped, so that a report is one readable line.
std::string printable(std::string_view bytes, std::size_t limit = kExcerpt) {
  std::string out;
  for (unsigned char c : bytes.substr(0, limit)) {
    if (c >= 0x20 && c < 0x7f && c != '\\')
      out.push_back(static_cast<char>(c));
    else if (c == '\\')
      out += "\\\\";
    else
      out += fmt::format("\\x{:02x}", c);
  }
  if (bytes.size() > limit) out += "...";
  return out;
}

// The values of each compared header, in the order the names first appear. Set-Cookie is
// compared by cookie names: the values (session ids, tokens) differ by design.
std::vector<std::pair<std::string, std::vector<std::string>>> comparable(
    const Headers& headers, const ShadowCompareOptions& options) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (const auto& [raw_name, raw_value] : headers) {
    auto name = ascii_lowered(raw_name);
    if (std::find(std::begin(kAlwaysIgnored), std::end(kAlwaysIgnored), name) !=
            std::end(kAlwaysIgnored) ||
        std::find(options.ignore_headers.begin(), options.ignore_headers.end(), name) !=
            options.ignore_headers.end())
      continue;
    std::string value = raw_value;
    if (name == "set-cookie") value = value.substr(0, value.find('=')) + "=...";
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& e) { return e.first == name; });
    if (it == out.end()) it = out.insert(out.end(), {name, {}});
    it->second.push_back(std::move(value));
  }
  for (auto& [name, values] : out)
    if (name == "set-cookie") std::sort(values.begin(), values.end());
  return out;
}

std::string joined(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& value : values) out += (out.empty() ? "" : ", ") + value;
  return out;
}

void compare_headers(const CapturedAnswer& primary, const CapturedAnswer& shadow,
                     const ShadowCompareOptions& options, ShadowDifference& difference) {
  auto mine = comparable(primary.headers, options);
  auto theirs = comparable(shadow.headers, options);
  auto values_of = [](const auto& list,
                      const std::string& name) -> const std::vector<std::string>* {
    for (const auto& [n, values] : list)
      if (n == name) return &values;
    return nullptr;
  };
  auto report = [&](const std::string& name, const std::vector<std::string>* a,
                    const std::vector<std::string>* b) {
    difference.header = name;
    difference.primary = a ? printable(joined(*a)) : "(absent)";
    difference.shadow = b ? printable(joined(*b)) : "(absent)";
  };
  for (const auto& [name, values] : mine) {
    const auto* other = values_of(theirs, name);
    if (!other || *other != values) return report(name, &values, other);
  }
  for (const auto& [name, values] : theirs)
    if (!values_of(mine, name)) return report(name, nullptr, &values);
}

std::string path_text(const std::vector<std::string>& steps) {
  std::string out = "$";
  for (const auto& step : steps) out += step.starts_with('[') ? step : "." + step;
  return out;
}

std::string excerpt(const json::value* value) {
  return value ? printable(json::serialize(*value)) : "(absent)";
}

bool same_number(const json::value& a, const json::value& b) {
  if (!a.is_number() || !b.is_number()) return false;
  if (a.is_double() || b.is_double()) return a.to_number<double>() == b.to_number<double>();
  if (a.is_int64() && b.is_int64()) return a.get_int64() == b.get_int64();
  if (a.is_uint64() && b.is_uint64()) return a.get_uint64() == b.get_uint64();
  // One int64 and one uint64: equal only when both are the same non-negative number.
  auto i = a.is_int64() ? a.get_int64() : b.get_int64();
  auto u = a.is_uint64() ? a.get_uint64() : b.get_uint64();
  return i >= 0 && static_cast<std::uint64_t>(i) == u;
}

// Walks both values together; true (with `difference` filled) at the first difference that no
// ignored path covers.
class JsonWalk {
 public:
  JsonWalk(const ShadowCompareOptions& options, ShadowDifference& difference)
      : options_(options), difference_(difference) {}

  bool differs(const json::value* a, const json::value* b) {
    if (ignored()) return false;
    if (!a || !b) return found(a, b);
    if (a->kind() != b->kind() && !same_number(*a, *b)) return found(a, b);
    if (a->is_object()) {
      const auto& x = a->get_object();
      const auto& y = b->get_object();
      for (const auto& [key, value] : x)
        if (step(std::string(key), &value, y.if_contains(key))) return true;
      for (const auto& [key, value] : y)
        if (!x.contains(key) && step(std::string(key), nullptr, &value)) return true;
      return false;
    }
    if (a->is_array()) {
      const auto& x = a->get_array();
      const auto& y = b->get_array();
      for (std::size_t i = 0; i < std::max(x.size(), y.size()); ++i)
        if (step(fmt::format("[{}]", i), i < x.size() ? &x[i] : nullptr,
                 i < y.size() ? &y[i] : nullptr))
          return true;
      return false;
    }
    if (a->is_number()) return same_number(*a, *b) ? false : found(a, b);
    return *a == *b ? false : found(a, b);
  }

 private:
  bool step(std::string name, const json::value* a, const json::value* b) {
    steps_.push_back(std::move(name));
    bool result = differs(a, b);
    steps_.pop_back();
    return result;
  }
  bool ignored() const {
    return std::any_of(options_.ignore_json.begin(), options_.ignore_json.end(),
                       [&](const JsonPath& path) { return path.matches(steps_); });
  }
  bool found(const json::value* a, const json::value* b) {
    difference_.body = path_text(steps_);
    difference_.primary = excerpt(a);
    difference_.shadow = excerpt(b);
    return true;
  }

  const ShadowCompareOptions& options_;
  ShadowDifference& difference_;
  std::vector<std::string> steps_;
};

std::optional<json::value> parse_json(const std::string& body) {
  json::error_code ec;
  auto value = json::parse(body, ec);
  if (ec) return std::nullopt;
  return value;
}

std::string_view content_type(const Headers& headers) {
  for (const auto& [name, value] : headers)
    if (iequals(name, "content-type")) return value;
  return {};
}

void compare_bodies(const CapturedAnswer& primary, const CapturedAnswer& shadow,
                    const ShadowCompareOptions& options, ShadowDifference& difference) {
  std::string a = primary.body;
  std::string b = shadow.body;
  for (const auto& pattern : options.scrub) {
    a = boost::regex_replace(a, pattern, "<scrubbed>");
    b = boost::regex_replace(b, pattern, "<scrubbed>");
  }
  if (is_json_type(content_type(primary.headers)) && is_json_type(content_type(shadow.headers))) {
    auto x = parse_json(a);
    auto y = parse_json(b);
    if (x && y) {
      JsonWalk(options, difference).differs(&*x, &*y);
      return;
    }
  }
  auto mismatch = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  if (mismatch.first == a.end() && mismatch.second == b.end()) return;
  auto offset = static_cast<std::size_t>(mismatch.first - a.begin());
  // Some context before the first differing byte, then what follows it on each side.
  auto from = offset > 30 ? offset - 30 : 0;
  difference.body = fmt::format("byte {}", offset);
  difference.primary = printable(std::string_view(a).substr(from));
  difference.shadow = printable(std::string_view(b).substr(from));
}

}  // namespace

std::optional<JsonPath> JsonPath::parse(std::string_view text, std::string& error) {
  JsonPath path;
  path.text_ = text;
  if (!text.starts_with('$')) {
    error = "a JSON path starts with '$' (\"$.generated_at\")";
    return std::nullopt;
  }
  text.remove_prefix(1);
  while (!text.empty()) {
    if (text.front() == '.') {
      text.remove_prefix(1);
      auto end = std::min(text.find_first_of(".["), text.size());
      if (end == 0) {
        error = "a name follows each '.' of a JSON path";
        return std::nullopt;
      }
      path.steps_.emplace_back(text.substr(0, end));
      text.remove_prefix(end);
    } else if (text.front() == '[') {
      auto end = text.find(']');
      auto inside = text.substr(1, end == std::string_view::npos ? 0 : end - 1);
      bool index = !inside.empty() && std::all_of(inside.begin(), inside.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      });
      if (end == std::string_view::npos || (inside != "*" && !index)) {
        error = "brackets in a JSON path hold an index or '*' (\"$.orders[*].id\")";
        return std::nullopt;
      }
      path.steps_.push_back(inside == "*" ? "*" : "[" + std::string(inside) + "]");
      text.remove_prefix(end + 1);
    } else {
      error = "a JSON path is '$' then .name, [N] or [*] steps (\"$.orders[*].created_at\")";
      return std::nullopt;
    }
  }
  return path;
}

bool JsonPath::matches(const std::vector<std::string>& steps) const noexcept {
  if (steps.size() != steps_.size()) return false;
  for (std::size_t i = 0; i < steps.size(); ++i)
    if (steps_[i] != "*" && steps_[i] != steps[i]) return false;
  return true;
}

bool is_json_type(std::string_view type) noexcept {
  type = trim(type.substr(0, type.find(';')));
  if (iequals(type, "application/json")) return true;
  return type.size() > 5 && iequals(type.substr(type.size() - 5), "+json");
}

ShadowDifference compare_answers(const CapturedAnswer& primary, const CapturedAnswer& shadow,
                                 const ShadowCompareOptions& options) {
  ShadowDifference difference;
  difference.status = primary.status != shadow.status;
  compare_headers(primary, shadow, options, difference);
  ShadowDifference body;
  compare_bodies(primary, shadow, options, body);
  if (!body.body.empty()) {
    difference.body = std::move(body.body);
    difference.primary = std::move(body.primary);
    difference.shadow = std::move(body.shadow);
  } else if (difference.header.empty() && difference.status) {
    difference.primary = std::to_string(primary.status);
    difference.shadow = std::to_string(shadow.status);
  }
  return difference;
}

}  // namespace junction::gateway
