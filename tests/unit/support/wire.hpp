// Reads HTTP/1.1 responses back from the bytes a server wrote, the way a client would, so
// tests can assert on status lines, fields and bodies in order. Header-only.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/exchange.hpp"
#include "gateway/text.hpp"

namespace junction::test {

struct WireResponse {
  std::string status_line;
  int status = 0;
  gateway::Headers headers;
  std::string body;
  gateway::Headers trailers;
  bool chunked = false;
  bool until_close = false;  // no framing: the body ran to the end of the bytes

  // The first value of a field, by case-insensitive name.
  std::optional<std::string> field(std::string_view name) const {
    for (const auto& [n, v] : headers)
      if (gateway::iequals(n, name)) return v;
    return std::nullopt;
  }
  int count(std::string_view name) const {
    int n = 0;
    for (const auto& header : headers) n += gateway::iequals(header.first, name);
    return n;
  }
  bool closes() const {
    auto connection = field("Connection");
    return connection && gateway::iequals(*connection, "close");
  }
};

struct WireParse {
  std::vector<WireResponse> responses;
  std::string error;  // empty when every byte made whole responses
};

// IMF-fixdate (RFC 9110 §5.6.7), as in "Sun, 06 Nov 1994 08:49:37 GMT".
inline bool is_http_date(const std::string& text) {
  static const std::regex date(
      R"((Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) )"
      R"(\d{4} \d\d:\d\d:\d\d GMT)");
  return std::regex_match(text, date);
}

namespace wire_detail {

inline bool take_line(std::string_view& bytes, std::string_view& line) {
  auto end = bytes.find("\r\n");
  if (end == std::string_view::npos) return false;
  line = bytes.substr(0, end);
  bytes.remove_prefix(end + 2);
  return true;
}

// Field lines up to the empty line; false when the bytes end first or a line is malformed.
inline bool take_fields(std::string_view& bytes, gateway::Headers& fields, std::string& error) {
  std::string_view line;
  while (take_line(bytes, line)) {
    if (line.empty()) return true;
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      error = fmt::format("malformed field line [{}]", line);
      return false;
    }
    fields.emplace_back(std::string(line.substr(0, colon)),
                        std::string(gateway::trim(line.substr(colon + 1))));
  }
  error = "the bytes end inside a head";
  return false;
}

inline bool take_chunked(std::string_view& bytes, WireResponse& response, std::string& error) {
  std::string_view line;
  for (;;) {
    if (!take_line(bytes, line)) {
      error = "the bytes end inside a chunk size line";
      return false;
    }
    std::size_t size = 0;
    auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
    if (ec != std::errc() || end != line.data() + line.size()) {
      error = fmt::format("bad chunk size line [{}]", line);
      return false;
    }
    if (size == 0) return take_fields(bytes, response.trailers, error);
    if (bytes.size() < size + 2 || bytes.substr(size, 2) != "\r\n") {
      error = "the bytes end inside a chunk, or it lacks its CRLF";
      return false;
    }
    response.body.append(bytes.substr(0, size));
    bytes.remove_prefix(size + 2);
  }
}

}  // namespace wire_detail

// Parses every response in `bytes`. `head_responses` lists which final responses (counted
// from 0, 1xx responses not counted) answer HEAD requests and so carry no body. A response
// whose body is cut short is kept, last, with `error` saying so.
inline WireParse parse_responses(std::string_view bytes,
                                 const std::vector<std::size_t>& head_responses = {}) {
  WireParse out;
  std::size_t finals = 0;
  while (!bytes.empty()) {
    WireResponse response;
    std::string_view line;
    if (!wire_detail::take_line(bytes, line)) {
      out.error = "the bytes end inside a status line";
      return out;
    }
    response.status_line = std::string(line);
    static const std::regex status_line(R"(HTTP/1\.1 (\d\d\d) [^\r\n]*)");
    std::smatch match;
    if (!std::regex_match(response.status_line, match, status_line)) {
      out.error = fmt::format("bad status line [{}]", line);
      return out;
    }
    response.status = std::stoi(match[1]);
    if (!wire_detail::take_fields(bytes, response.headers, out.error)) return out;
    bool informational = response.status < 200;
    bool head = !informational && std::find(head_responses.begin(), head_responses.end(), finals) !=
                                      head_responses.end();
    if (!informational) ++finals;
    auto length = response.field("Content-Length");
    auto coding = response.field("Transfer-Encoding");
    if (informational || head || response.status == 204 || response.status == 304) {
      // no body
    } else if (coding) {
      response.chunked = true;
      if (*coding != "chunked") {
        out.error = "unexpected Transfer-Encoding " + *coding;
        return out;
      }
      if (!wire_detail::take_chunked(bytes, response, out.error)) {
        out.responses.push_back(std::move(response));  // cut short: kept, with the error
        return out;
      }
    } else if (length) {
      std::size_t size = std::stoul(*length);
      if (bytes.size() < size) {
        out.error = fmt::format("the bytes end inside a body: {} of {}", bytes.size(), size);
        response.body = std::string(bytes);
        out.responses.push_back(std::move(response));
        return out;
      }
      response.body = std::string(bytes.substr(0, size));
      bytes.remove_prefix(size);
    } else {
      response.until_close = true;
      response.body = std::string(bytes);
      bytes = {};
    }
    out.responses.push_back(std::move(response));
  }
  return out;
}

// The bytes with every Date value replaced, so runs at different times compare equal.
inline std::string without_dates(std::string_view bytes) {
  static const std::regex date_field(R"(\r\nDate: [^\r\n]*)");
  return std::regex_replace(std::string(bytes), date_field, "\r\nDate: (date)");
}

// One line per response, for readable comparisons: status line, fields, body, trailers.
inline std::string describe(const WireParse& parse) {
  std::string out;
  for (const auto& response : parse.responses) {
    out += response.status_line + "\n";
    for (const auto& [name, value] : response.headers)
      out += fmt::format("  {}: {}\n", name, name == "Date" ? "(date)" : value);
    out += fmt::format("  body [{}]\n", response.body);
    for (const auto& [name, value] : response.trailers)
      out += fmt::format("  trailer {}: {}\n", name, value);
  }
  if (!parse.error.empty()) out += "ERROR " + parse.error + "\n";
  return out;
}

}  // namespace junction::test
