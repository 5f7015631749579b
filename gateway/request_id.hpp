// --request-id-header (X-Request-ID by default): every request gets an ID that follows it
// through the proxy in front, the app and the logs. A trusted proxy's ID is kept (the
// --forwarded-allow-ips peers, which may have logged it already); any other request gets a new
// one, and a client's own value is replaced, so that an untrusted client cannot choose what
// the logs say. The app sees the ID in the header (WSGI HTTP_X_REQUEST_ID, an ASGI header), the
// response carries it unless the app set one, and the access log has {request_id}.
#pragma once

#include <string>
#include <string_view>

#include "gateway/exchange.hpp"

namespace junction::gateway {

// What a kept ID may be: 1 to kMaxRequestId characters of visible ASCII (no spaces, nothing a
// log line or a header could be split on).
inline constexpr std::size_t kMaxRequestId = 200;
bool valid_request_id(std::string_view value) noexcept;

// 32 lower-case hex digits (128 random bits, as a UUID without its dashes): from a generator
// each thread seeds once from the OS.
std::string new_request_id();

// Sets head.request_id: the last `name` field's value when `trusted` and it is valid, else a
// new ID. Afterwards head.headers has exactly one `name` field (case-insensitive), carrying it.
void assign_request_id(RequestHead& head, std::string_view name, bool trusted);

}  // namespace junction::gateway
