// Serialising HTTP/1.1 responses: the status line and head, chunked framing, error replies.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/exchange.hpp"

namespace junction::http1 {

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

// Appends "HTTP/1.1 <status> <reason>", the app's fields (minus the hop-by-hop ones and
// Content-Length, which the framing decides: gateway/fields.hpp), Date and Server where the app
// set none, the framing field, and Connection where it is needed. `hsts`, when not empty, is the
// Strict-Transport-Security value added where the app set none (a TLS connection's --hsts);
// `request_id` (name, value), when the value is not empty, the request's ID, echoed where the
// app set none.
void append_response_head(std::string& out, gateway::HttpVersion version, int status,
                          const gateway::Headers& fields, Framing framing, bool keep_alive,
                          std::string_view hsts = {},
                          std::pair<std::string_view, std::string_view> request_id = {});

// A chunk's size line (RFC 9112 §7.1): the size in hex and CRLF. The bytes and their CRLF follow.
void append_chunk_size(std::string& out, std::uint64_t size);
// A whole chunk: its size line, `data` and CRLF; nothing for empty data (it would end the body).
void append_chunk(std::string& out, std::string_view data);
void append_last_chunk(std::string& out, const gateway::Headers& trailers);

// A complete response that ends the connection: status, a short text body, Connection: close.
// Returns the body's size (the access log counts body bytes). `request_id` as for
// append_response_head: a request the server answers itself (a failed app's 500, a 413) still
// tells the client its ID.
std::size_t append_error_response(std::string& out, int status, std::string_view detail = {},
                                  std::pair<std::string_view, std::string_view> request_id = {});

}  // namespace junction::http1
