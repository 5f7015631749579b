// The pure rules of the static file server (static_files.hpp), apart from any I/O so that each
// can be tested on its own: which file a request path names, its media type, its validators
// (RFC 9110 §8.8), conditional requests (§13), byte ranges (§14) and content-coding
// negotiation (§12.5.3).
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/exchange.hpp"

namespace junction::gateway::statics {

// What a request path names below a mount, once percent-decoded and checked.
struct RelativePath {
  std::string path;        // "css/site.css"; "" for the mount's directory itself
  bool directory = false;  // the request ended in '/' (or named the mount's root with "/")
};

// The file a request path (still percent-encoded, without the query) names below `prefix`
// ("/static", or "/" for the root), or nullopt when the path is refused: not under the prefix,
// a bad escape, an empty segment ("//"), a "." or ".." segment (plain or encoded), or a decoded
// '/', '\', NUL or other control character. Refusing these instead of normalising them gives
// every file exactly one URL and makes traversal impossible by construction: what is left is a
// list of plain names, which the opener then resolves beneath the root.
std::optional<RelativePath> relative_path(std::string_view path, std::string_view prefix);

// The Content-Type for a file name, from its extension (ASCII case-insensitive); text types
// carry "; charset=utf-8". Unknown: application/octet-stream.
std::string_view content_type(std::string_view file_name) noexcept;

// A strong entity tag from the file's size and modification time in nanoseconds, plus the
// content coding of a precompressed sibling (RFC 9110 §8.8.3: each representation, and so each
// coding, gets its own tag): "\"1a2b-17f3c...\"" or "\"1a2b-17f3c...-br\"".
std::string make_etag(std::uint64_t size, std::int64_t mtime_ns, std::string_view coding = {});

// RFC 9110 §5.6.7: IMF-fixdate, or the obsolete RFC 850 and asctime forms a recipient must
// also accept; nullopt when the text is none of them.
std::optional<std::time_t> parse_http_date(std::string_view text) noexcept;
// IMF-fixdate of `t`, "Sun, 06 Nov 1994 08:49:37 GMT".
std::string format_http_date(std::time_t t);

// Whether an If-Match / If-None-Match list (RFC 9110 §13.1.1, §13.1.2) names `etag`: "*"
// matches any current representation; `weak` selects the weak comparison of §8.8.3.2, else
// the strong one. A malformed list matches nothing.
bool etag_list_matches(std::string_view list, std::string_view etag, bool weak) noexcept;

// The outcome of the preconditions of a GET or HEAD, in the order of RFC 9110 §13.2.2.
enum class Precondition { proceed, not_modified, failed };
Precondition evaluate_preconditions(const Headers& request_headers, std::string_view etag,
                                    std::time_t last_modified);

// RFC 9110 §13.1.5: whether an If-Range value lets the Range apply: an entity tag must match
// strongly, a date must equal Last-Modified exactly.
bool if_range_holds(std::string_view value, std::string_view etag,
                    std::time_t last_modified) noexcept;

// What a Range field (RFC 9110 §14.2) asks of a representation of `size` bytes.
struct RangeAnswer {
  enum class Kind {
    whole,          // no usable Range: 200 with everything
    partial,        // one satisfiable range: 206 with bytes first..last
    unsatisfiable,  // 416 with Content-Range: bytes */size
  };
  Kind kind = Kind::whole;
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
};
// One range "a-b", "a-" or "-n" of the unit "bytes". Several ranges, another unit, invalid
// syntax and an empty file are answered whole (§14.2 lets a server ignore Range), which also
// spares us multipart/byteranges and its overlap attacks (§14.1.1).
RangeAnswer evaluate_range(std::string_view value, std::uint64_t size) noexcept;

// The quality (RFC 9110 §12.3.1) an Accept-Encoding value gives `coding` (§12.5.3): the
// coding's own entry, else "*"'s; 0 when neither is listed. "x-gzip" counts as "gzip".
double coding_quality(std::string_view accept_encoding, std::string_view coding) noexcept;

// The value of a request field, several fields of that name joined with ", " (RFC 9110
// §5.3); nullopt when absent.
std::optional<std::string> field_value(const Headers& headers, std::string_view name);

}  // namespace junction::gateway::statics
