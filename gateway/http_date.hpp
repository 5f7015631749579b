// The IMF-fixdate for the Date header (RFC 9110 §5.6.7), formatted once per second per thread.
#pragma once

#include <string_view>

namespace junction::gateway {

// "Tue, 24 Nov 2026 07:43:59 GMT"; valid until the calling thread asks again.
std::string_view http_date_now() noexcept;

}  // namespace junction::gateway
