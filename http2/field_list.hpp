// Header fields as nghttp2 takes them: name/value pairs kept alive for one nghttp2_submit_*
// call (it copies them), and the lower-casing HTTP/2 requires of names (RFC 9113 §8.2.1).
// Internal to http2/.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/text.hpp"

namespace junction::http2 {

inline std::string lower(std::string_view name) {
  std::string out(name);
  for (auto& c : out) c = gateway::ascii_lower(c);
  return out;
}

// Name/value pairs for nghttp2_submit_*: it copies them, so they only live for the call.
struct FieldList {
  std::vector<std::pair<std::string, std::string>> fields;
  std::vector<nghttp2_nv> nv() {
    std::vector<nghttp2_nv> out;
    out.reserve(fields.size());
    for (auto& [name, value] : fields) {
      out.push_back({reinterpret_cast<std::uint8_t*>(name.data()),
                     reinterpret_cast<std::uint8_t*>(value.data()), name.size(), value.size(),
                     NGHTTP2_NV_FLAG_NONE});
    }
    return out;
  }
};

}  // namespace junction::http2
