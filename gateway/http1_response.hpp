// Serialising HTTP/1.1 responses: the status line and head, chunked framing, error replies.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/exchange.hpp"

namespace junction::gateway {

// How the body of a response is delimited on the wire (RFC 9112 §6).
struct Framing {
  enum class Kind {
    content_length,  // Content-Length: length
    chunked,         // Transfer-Encoding: chunked
    until_close,     // HTTP/1.0 peer, unknown length: the close ends the body
    none,            // no body by definition (1xx, 204, 304)
  };
  Kind kind = Kind::none;
  std::uint64_t length = 0;
};

std::string_view reason_phrase(int status) noexcept;

// RFC 9110 §5.1 token characters, and §5.5 field-value characters (no CR, LF or NUL).
bool valid_field_name(std::string_view name) noexcept;
bool valid_response_field_value(std::string_view value) noexcept;

// Fields the connection owns: an app may not set framing or connection management (RFC 9110
// §7.6.1); Date and Server are added by us unless the app set them.
bool is_connection_field(std::string_view name) noexcept;

// Appends "HTTP/1.1 <status> <reason>", the app's fields (minus connection fields), Date and
// Server where the app set none, the framing field, and Connection where it is needed.
void append_response_head(std::string& out, HttpVersion version, int status, const Headers& fields,
                          Framing framing, bool keep_alive);

void append_chunk(std::string& out, std::string_view data);
void append_last_chunk(std::string& out, const Headers& trailers);

// A complete response that ends the connection: status, a short text body, Connection: close.
void append_error_response(std::string& out, int status, std::string_view detail = {});

}  // namespace junction::gateway
