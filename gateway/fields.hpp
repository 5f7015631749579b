// Header-field rules every protocol session and both bridges apply, in one place: what a field
// name and value may contain, which fields describe a connection rather than the message (an
// app may not send them), and how Content-Length is read.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace junction::gateway {

// RFC 9110 §5.1: a field name is a token.
bool valid_field_name(std::string_view name) noexcept;

// RFC 9110 §5.5: a field value we send has no CR, LF or NUL (obs-text is passed on).
bool valid_field_value(std::string_view value) noexcept;

// RFC 9110 §5.5: a field value we receive is VCHAR, obs-text, SP and HTAB; any other control
// character (CR and LF included, which is what obs-fold and a bare CR leave behind) is refused.
bool valid_received_field_value(std::string_view value) noexcept;

// Hop-by-hop fields (RFC 9110 §7.6.1; RFC 2616 §13.5.1, which PEP 3333 cites): they describe one
// connection, not the message, so the protocol session owns them. A WSGI app may not send them
// (PEP 3333, "Other HTTP Features"); from an ASGI app or over HTTP/2 (RFC 9113 §8.2.2, which
// forbids them) they are dropped.
bool is_hop_by_hop(std::string_view name) noexcept;

// A Content-Length value (RFC 9110 §8.6): digits, with optional whitespace around them;
// nullopt when it is anything else or overflows.
std::optional<std::uint64_t> parse_content_length(std::string_view value) noexcept;

}  // namespace junction::gateway
