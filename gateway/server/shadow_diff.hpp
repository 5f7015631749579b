// What a shadow route (docs/migration.md, "Shadow") compares: the primary app's answer and the
// shadow app's to the same request. Status first; then the headers, except those that differ
// between any two answers (Date, Server, ETag, Content-Length, Set-Cookie's values: compared by
// cookie name) and the route's shadow_ignore_headers; then the bodies, after the route's
// shadow_scrub patterns have blanked what legitimately differs (a CSRF token): as JSON values,
// compared structurally and skipping the shadow_ignore_json paths, when both are JSON; else as
// bytes. The result names the first difference of each kind, with a short excerpt of each side.
#pragma once

#include <boost/regex.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/exchange.hpp"

namespace junction::gateway {

// A JSON path to ignore: "$.generated_at", "$.orders[*].created_at", "$.items[0]", "$.meta.*".
class JsonPath {
 public:
  // nullopt (and `error`) for a path this syntax cannot say.
  static std::optional<JsonPath> parse(std::string_view text, std::string& error);

  // Whether the value at `steps` (keys, and array indexes as "[N]") is this path.
  bool matches(const std::vector<std::string>& steps) const noexcept;
  const std::string& text() const noexcept { return text_; }

 private:
  std::string text_;
  std::vector<std::string> steps_;  // "name", "[3]", or "*" (any key or index)
};

struct ShadowCompareOptions {
  std::vector<std::string> ignore_headers;  // lower case, beside the built-in ones
  std::vector<JsonPath> ignore_json;
  std::vector<boost::regex> scrub;
};

// One answer as the comparison sees it.
struct CapturedAnswer {
  int status = 0;
  Headers headers;
  std::string body;
};

struct ShadowDifference {
  bool status = false;  // the statuses differ
  std::string header;   // the first header that differs (its lower-case name); empty: none
  std::string body;     // "$.orders[2].quantity", "byte 1234", "length"; empty: none
  std::string primary;  // excerpts of the first difference, each side (bounded)
  std::string shadow;
  bool any() const noexcept { return status || !header.empty() || !body.empty(); }
};

ShadowDifference compare_answers(const CapturedAnswer& primary, const CapturedAnswer& shadow,
                                 const ShadowCompareOptions& options);

// Whether a Content-Type is JSON (application/json, or a +json suffix: RFC 6839 §3.1).
bool is_json_type(std::string_view content_type) noexcept;

}  // namespace junction::gateway
