// --access-log-format: named formats and {atom} templates (access_log_format.hpp).
#include "gateway/access_log_format.hpp"

#include <unistd.h>

#include <array>
#include <cstring>
#include <ctime>
#include <iterator>

#include "gateway/fields.hpp"
#include "gateway/text.hpp"

namespace junction::gateway {
namespace {

struct AtomName {
  std::string_view name;
  int atom;  // AccessLogFormat::Atom, which is private
};

// Apache's LogFormat "common" and "combined" (mod_log_config), which log analysers (GoAccess,
// AWStats) read as they are: %h %l %u %t "%r" %>s %b ["%{Referer}i" "%{User-Agent}i"].
constexpr std::string_view kCommon =
    "{client_host} - - [{time_clf}] \"{method} {target} {protocol}\" {status} {bytes_clf}";
constexpr std::string_view kCombined =
    "{client_host} - - [{time_clf}] \"{method} {target} {protocol}\" {status} {bytes_clf} "
    "\"{header:Referer}\" \"{header:User-Agent}\"";
// What the log said before there were formats, in the shape uvicorn users know.
constexpr std::string_view kDefault =
    "{client} - \"{method} {target} {protocol}\" {status} {bytes} {duration_ms}ms";
// One JSON object a line, its keys in this order.
constexpr std::string_view kJson =
    "{time}{client}{method}{target}{path}{query}{protocol}{status}{bytes}{duration_ms}"
    "{header:Referer}{header:User-Agent}{tls_version}{scheme}{pid}{request_id}";

// Appends bytes. fmt's buffer::append is an out-of-line loop that copies through its growth
// check; a JSON line is some thirty small pieces, so the common case here (the room is there:
// the log's buffer keeps 64 KiB) is one inline memcpy.
[[gnu::noinline]] void grow(fmt::memory_buffer& out, std::size_t size) {
  out.reserve(size);
}

inline void append_bytes(const char* data, std::size_t size, fmt::memory_buffer& out) {
  const auto used = out.size();
  if (used + size > out.capacity()) [[unlikely]]
    grow(out, used + size);
  out.try_resize(used + size);
  std::memcpy(out.data() + used, data, size);
}

void append_bytes(std::string_view bytes, fmt::memory_buffer& out) {
  append_bytes(bytes.data(), bytes.size(), out);
}

// Appends a number without a format string: fmt's format_int is a table-driven conversion,
// several times cheaper than format_to's parsing of "{}".
void append_int(std::uint64_t value, fmt::memory_buffer& out) {
  fmt::format_int digits(value);
  append_bytes(digits.data(), digits.size(), out);
}

// Most values need no escaping: copied in one piece when none of their bytes does.
template <class NeedsEscape>
bool append_plain(std::string_view value, fmt::memory_buffer& out, NeedsEscape needs_escape) {
  for (char c : value)
    if (needs_escape(static_cast<unsigned char>(c))) return false;
  append_bytes(value, out);
  return true;
}

// Writes `value` as text inside a line: a quote, a backslash and control characters are escaped
// (Apache's rule, so a request cannot forge a line or a field); other bytes stay.
void append_text(std::string_view value, fmt::memory_buffer& out) {
  if (append_plain(value, out,
                   [](unsigned char b) { return b == '"' || b == '\\' || b < 0x20 || b == 0x7f; }))
    return;
  for (char c : value) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte < 0x20 || byte == 0x7f) {
      fmt::format_to(std::back_inserter(out), "\\x{:02x}", byte);
    } else {
      out.push_back(c);
    }
  }
}

// The value of a request field, several of them joined with ", " (RFC 9110 §5.3); false when
// there is none. Joins only into `scratch`, and only for a repeated field.
bool field(const Headers& headers, std::string_view name, std::string_view& value,
           std::string& scratch) {
  bool found = false;
  for (const auto& [field_name, field_value] : headers) {
    if (!iequals(field_name, name)) continue;
    if (!found) {
      value = field_value;
      found = true;
      continue;
    }
    if (scratch.empty()) scratch.assign(value);
    scratch += ", ";
    scratch += field_value;
    value = scratch;
  }
  return found;
}

}  // namespace

void append_json(std::string_view value, fmt::memory_buffer& out) {
  if (append_plain(value, out,
                   [](unsigned char b) { return b == '"' || b == '\\' || b < 0x20 || b >= 0x7f; }))
    return;
  for (char c : value) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte < 0x20 || byte >= 0x7f) {
      fmt::format_to(std::back_inserter(out), "\\u{:04x}", byte);
    } else {
      out.push_back(c);
    }
  }
}

// The atoms by name, in the order --help lists them. (clang-format 14 cannot settle on a layout
// for a list of macro calls: each run moves the backslashes.)
// clang-format off
#define JUNCTION_ATOMS(X) \
  X(time) \
  X(time_clf) \
  X(client) \
  X(client_host) \
  X(method) \
  X(target) \
  X(path) \
  X(query) \
  X(protocol) \
  X(status) \
  X(bytes) \
  X(bytes_clf) \
  X(duration_ms) \
  X(tls_version) \
  X(scheme) \
  X(pid) \
  X(request_id) \
  X(app) \
  X(route)
// clang-format on

std::string_view AccessLogFormat::atoms_list() noexcept {
  return "{time} {time_clf} {client} {client_host} {method} {target} {path} {query} "
         "{protocol} {status} {bytes} {bytes_clf} {duration_ms} {header:NAME} {tls_version} "
         "{scheme} {pid} {request_id} {app} {route}";
}

std::optional<AccessLogFormat> AccessLogFormat::parse(std::string_view text, std::string& error) {
  AccessLogFormat format;
  std::string_view source = text;
  if (text == "default") {
    source = kDefault;
  } else if (text == "common") {
    source = kCommon;
  } else if (text == "combined") {
    source = kCombined;
  } else if (text == "json") {
    source = kJson;
    format.json_ = true;
  }
  static constexpr AtomName kNames[] = {
#define JUNCTION_ATOM_NAME(a) {#a, static_cast<int>(Atom::a)},
      JUNCTION_ATOMS(JUNCTION_ATOM_NAME)
#undef JUNCTION_ATOM_NAME
  };
  std::string literal;  // the text since the last atom: the next piece's prefix
  for (std::size_t i = 0; i < source.size(); ++i) {
    char c = source[i];
    if (c == '}') {
      if (i + 1 < source.size() && source[i + 1] == '}') {
        literal.push_back('}');
        ++i;
        continue;
      }
      error = "a '}' without its '{' (write '}}' for a brace)";
      return std::nullopt;
    }
    if (c != '{') {
      literal.push_back(c);
      continue;
    }
    if (i + 1 < source.size() && source[i + 1] == '{') {
      literal.push_back('{');
      ++i;
      continue;
    }
    auto close = source.find('}', i);
    if (close == std::string_view::npos) {
      error = "a '{' without its '}' (write '{{' for a brace)";
      return std::nullopt;
    }
    auto name = source.substr(i + 1, close - i - 1);
    i = close;
    Piece piece;
    if (name.starts_with("header:")) {
      piece.atom = Atom::header;
      piece.text = std::string(name.substr(7));
      if (piece.text.empty() || !valid_field_name(piece.text)) {
        error =
            "{" + std::string(name) + "}: a header atom names a field, as in {header:User-Agent}";
        return std::nullopt;
      }
    } else {
      bool known = false;
      for (const auto& entry : kNames) {
        if (entry.name != name) continue;
        piece.atom = static_cast<Atom>(entry.atom);
        known = true;
      }
      if (!known) {
        error =
            "unknown atom {" + std::string(name) + "} (atoms: " + std::string(atoms_list()) + ")";
        return std::nullopt;
      }
    }
    if (format.json_) {
      // The key, with its punctuation, as one literal: the atom's own name, a header's in lower
      // case with '_' ("user_agent").
      literal += format.pieces_.empty() ? "{\"" : ",\"";
      if (piece.atom == Atom::header) {
        for (char ch : piece.text) literal.push_back(ch == '-' ? '_' : ascii_lower(ch));
      } else {
        literal += name;
      }
      literal += "\":";
    }
    piece.prefix = std::move(literal);
    literal.clear();
    format.pieces_.push_back(std::move(piece));
  }
  if (format.json_) literal = "}";
  literal.push_back('\n');
  format.pieces_.push_back({Atom::literal, std::move(literal), {}});
  for (const auto& piece : format.pieces_)
    if (piece.atom == Atom::time || piece.atom == Atom::time_clf) format.needs_time_ = true;
  return format;
}

const AccessLogFormat::Clock& AccessLogFormat::clock_for(std::time_t second) const {
  if (clock_.second != second) {
    std::tm tm{};
    gmtime_r(&second, &tm);
    std::strftime(clock_.iso.data(), clock_.iso.size(), "%Y-%m-%dT%H:%M:%S", &tm);
    std::strftime(clock_.clf.data(), clock_.clf.size(), "%d/%b/%Y:%H:%M:%S +0000", &tm);
    clock_.second = second;
  }
  return clock_;
}

void AccessLogFormat::write(const AccessRecord& record, fmt::memory_buffer& out) const {
  const auto escape = json_ ? Escape::json : Escape::text;
  for (const auto& piece : pieces_) {
    append_bytes(piece.prefix, out);
    write_piece(piece, record, out, escape);
  }
}

void AccessLogFormat::write_piece(const Piece& piece, const AccessRecord& record,
                                  fmt::memory_buffer& out, Escape escape) const {
  const auto& request = record.request;
  // A string value: quoted in JSON, escaped either way; `missing` stands for no value.
  auto string = [&](std::string_view value, bool present = true) {
    if (escape == Escape::json) {
      if (!present) return append_bytes("null", out);
      out.push_back('"');
      append_json(value, out);
      out.push_back('"');
      return;
    }
    if (!present) return out.push_back('-');
    append_text(value, out);
  };
  switch (piece.atom) {
    case Atom::literal:
      return append_bytes(piece.text, out);
    case Atom::time:
    case Atom::time_clf: {
      auto since = record.time.time_since_epoch();
      auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since);
      const auto& clock = clock_for(static_cast<std::time_t>(seconds.count()));
      if (escape == Escape::json) out.push_back('"');
      if (piece.atom == Atom::time_clf) {
        append_bytes(std::string_view(clock.clf.data()), out);
      } else {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since - seconds).count();
        append_bytes(std::string_view(clock.iso.data()), out);
        char tail[] = {'.', char('0' + ms / 100), char('0' + ms / 10 % 10), char('0' + ms % 10),
                       'Z'};
        append_bytes(tail, sizeof tail, out);
      }
      if (escape == Escape::json) out.push_back('"');
      return;
    }
    case Atom::client: {
      const auto& [host, port] = request.client;
      if (escape == Escape::json) out.push_back('"');
      if (port == 0) {
        append_text(host.empty() ? std::string_view("unix") : std::string_view(host), out);
      } else {
        bool v6 = host.find(':') != std::string::npos;
        if (v6) out.push_back('[');
        append_bytes(host, out);
        if (v6) out.push_back(']');
        out.push_back(':');
        append_int(static_cast<std::uint64_t>(port), out);
      }
      if (escape == Escape::json) out.push_back('"');
      return;
    }
    case Atom::client_host:
      return string(request.client.host.empty() ? std::string_view("unix")
                                                : std::string_view(request.client.host));
    case Atom::method:
      return string(request.method);
    case Atom::target:
      return string(request.target);
    case Atom::path:
      return string(request.path);
    case Atom::query:
      return string(request.query, escape == Escape::text || !request.query.empty());
    case Atom::protocol: {
      const bool json = escape == Escape::json;
      char text[] = {'"',
                     'H',
                     'T',
                     'T',
                     'P',
                     '/',
                     char('0' + request.version.major % 10),
                     '.',
                     char('0' + request.version.minor % 10),
                     '"'};
      append_bytes(text + (json ? 0 : 1), sizeof text - (json ? 0 : 2), out);
      return;
    }
    case Atom::status:
      return append_int(static_cast<std::uint64_t>(record.status), out);
    case Atom::bytes:
      return append_int(record.body_bytes, out);
    case Atom::bytes_clf:
      if (record.body_bytes == 0) return out.push_back('-');
      return append_int(record.body_bytes, out);
    case Atom::duration_ms: {
      // Milliseconds to the microsecond, in integers: "1.500".
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(record.duration).count();
      if (us < 0) us = 0;
      append_int(static_cast<std::uint64_t>(us / 1000), out);
      char fraction[] = {'.', char('0' + us / 100 % 10), char('0' + us / 10 % 10),
                         char('0' + us % 10)};
      append_bytes(fraction, sizeof fraction, out);
      return;
    }
    case Atom::header: {
      std::string_view value;
      std::string scratch;
      bool present = field(request.headers, piece.text, value, scratch);
      return string(value, present);
    }
    case Atom::tls_version:
      return string(request.tls ? std::string_view(request.tls->protocol) : std::string_view(),
                    request.tls != nullptr);
    case Atom::scheme:
      return string(request.tls ? std::string_view("https") : std::string_view(request.scheme));
    case Atom::pid:
      // The log knows it (getpid(2) is a system call per line otherwise).
      return append_int(
          static_cast<std::uint64_t>(record.pid != 0 ? record.pid : static_cast<int>(::getpid())),
          out);
    case Atom::request_id:
      return string(request.request_id, !request.request_id.empty());
    case Atom::app:
      return string(record.route ? std::string_view(record.route->app) : std::string_view(),
                    record.route != nullptr);
    case Atom::route:
      return string(record.route ? std::string_view(record.route->route) : std::string_view(),
                    record.route && !record.route->route.empty());
  }
}

}  // namespace junction::gateway
