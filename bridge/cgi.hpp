// The CGI-style pieces of a WSGI environ (PEP 3333 "environ Variables", RFC 3875 §4.1) that
// need no Python: kept apart so they can be tested on their own.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace junction::bridge {

// Decodes %XX escapes; a '%' not followed by two hex digits stays as it is (as gunicorn and
// uvicorn do). The result is bytes, which WSGI hands over as a latin-1 str (PEP 3333).
std::string percent_decode(std::string_view text);

// "X-Forwarded-For" -> "HTTP_X_FORWARDED_FOR"; Content-Type and Content-Length lose the prefix
// (RFC 3875 §4.1.2-3). nullopt for a name with '_': once '-' becomes '_' it could pose as
// another header (X_Forwarded_For as X-Forwarded-For), so it is dropped, as nginx and
// uvicorn's WSGI middleware do.
std::optional<std::string> cgi_header_name(std::string_view field_name);

struct HostPort {
  std::string host;
  std::string port;  // empty when the authority has none
};

// Splits "host", "host:port", "[v6]" or "[v6]:port".
HostPort split_authority(std::string_view authority);

}  // namespace junction::bridge
