// Reading the messages an ASGI app sends (plain dicts by the spec, any mapping accepted). Loop
// thread, GIL held.
#pragma once

#include <pybind11/pybind11.h>

#include <string>
#include <string_view>

#include "gateway/exchange.hpp"

namespace junction::bridge {

// The interned str for `text`: a key or type looked up once, whose hash is computed once.
pybind11::object interned(const char* text);

// message.get(key): a null object when absent (or None).
pybind11::object message_get(pybind11::handle message, pybind11::handle key);
bool truthy(const pybind11::object& value);

// A message's "type" as UTF-8, without a copy (valid while `type` lives); TypeError if not a str.
std::string_view message_type(pybind11::handle type);

// bytes, bytearray or memoryview as bytes; anything else raises TypeError naming `what` (the
// spec wants byte strings, and taking a str as latin-1 would hide a bug).
std::string byte_string(pybind11::handle value, const char* what);

// An iterable of [name, value] byte-string pairs; an absent value gives no headers.
gateway::Headers header_list(pybind11::handle value, const char* what);
// Raises ValueError for a field that cannot be sent (gateway/fields.hpp): a name that is not a
// token, a value with CR, LF or NUL. Hop-by-hop fields pass: the protocol session owns them
// (HTTP/1.1 honours Connection: close, then drops them; HTTP/2 drops them, RFC 9113 §8.2.2).
void check_fields(const gateway::Headers& fields, const char* message);

}  // namespace junction::bridge
