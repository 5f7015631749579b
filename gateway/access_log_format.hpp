// --access-log-format: what one access-log line says, compiled once from a named format or a
// template of {atoms}, then written for every request into a caller's buffer without a heap
// allocation (docs/operations.md, "Access log").
#pragma once

#include <fmt/format.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/exchange.hpp"
#include "gateway/router.hpp"

namespace junction::gateway {

// What a line is made of: the request as the app saw it (after trusted proxy headers), and how
// it ended.
struct AccessRecord {
  const RequestHead& request;
  int status = 0;
  std::uint64_t body_bytes = 0;  // body bytes that left
  std::chrono::steady_clock::duration duration{};
  std::chrono::system_clock::time_point time;  // when the response ended
  const RouteLabel* route = nullptr;           // the route that answered; null: not known
  int pid = 0;                                 // the process that served it; 0: getpid()
};

class AccessLogFormat {
 public:
  // "default" (uvicorn's shape: `127.0.0.1:5000 - "GET / HTTP/1.1" 200 2 0.210ms`), "common"
  // and "combined" (Apache's, as log analysers read them), "json" (one object a line), or a
  // template: text with {atoms} ("{{" and "}}" are braces). nullopt, with `error` naming the
  // unknown atom or the stray brace, when it is none of these.
  static std::optional<AccessLogFormat> parse(std::string_view text, std::string& error);

  // Appends one line, with its '\n'. Not for two threads at once: the time's text is cached
  // for the second it is in (AccessLog calls it under its lock).
  void write(const AccessRecord& record, fmt::memory_buffer& out) const;

  // Whether a line says when it was written ({time}, {time_clf}): only then is the clock read.
  bool needs_time() const noexcept { return needs_time_; }

  // The atoms a template may use, for --help and error messages.
  static std::string_view atoms_list() noexcept;

 private:
  enum class Atom {
    literal,
    time,         // ISO 8601 UTC with milliseconds: 2026-12-06T09:18:28.123Z
    time_clf,     // Apache's: 06/Dec/2026:09:18:28 +0000
    client,       // host:port, [v6]:port, or the host alone without a port ("unix" on a socket)
    client_host,  // the host alone
    method,
    target,  // as received, query included
    path,    // still percent-encoded
    query,
    protocol,  // HTTP/1.1, HTTP/2.0
    status,
    bytes,        // body bytes that left
    bytes_clf,    // the same, "-" for none (Apache's %b)
    duration_ms,  // until the last byte left, to the microsecond
    header,       // {header:NAME}: the request's field (several joined with ", "), "-" if none
    tls_version,  // TLSv1.3, or "-" in plain text
    scheme,       // http or https, after trusted proxy headers
    pid,          // the process that served it (a worker, with --workers)
    request_id,   // --request-id-header's ID, "-" when IDs are off
    app,          // the app that answered (its MODULE:ATTR; static, health, none: /metrics' app)
    route,        // its route: the mount prefix, "-" for none
  };
  // An atom and the literal text before it, so that a line is one step per atom (the last
  // piece is the literal after the last atom and the '\n').
  struct Piece {
    Atom atom = Atom::literal;
    std::string text;    // the literal, or the header name
    std::string prefix;  // the literal before the atom
  };
  enum class Escape { text, json };

  // The UTC time in the two forms, for the second `clock_` holds.
  struct Clock {
    std::time_t second = -1;
    std::array<char, 32> iso{};  // 2026-12-06T09:18:28 (the milliseconds are added per line)
    std::array<char, 32> clf{};  // 06/Dec/2026:09:18:28 +0000
  };

  void write_piece(const Piece& piece, const AccessRecord& record, fmt::memory_buffer& out,
                   Escape escape) const;
  const Clock& clock_for(std::time_t second) const;

  std::vector<Piece> pieces_;
  bool json_ = false;  // the json format: values are JSON, the literals its keys
  bool needs_time_ = false;
  mutable Clock clock_;
};

// Writes `value` as the contents of a JSON string (RFC 8259 §7; bytes from 0x80 up as their
// latin-1 code points, as the request model reads field bytes). Also /status and /metrics.json.
void append_json(std::string_view value, fmt::memory_buffer& out);
// The same in double quotes: a whole JSON string.
inline void append_json_quoted(fmt::memory_buffer& out, std::string_view value) {
  out.push_back('"');
  append_json(value, out);
  out.push_back('"');
}

}  // namespace junction::gateway
