// HTTP/2's options (--h2-*): the settings a session announces (RFC 9113 §6.5.2) and the windows
// it keeps. The idle timeout is --timeout-keep-alive, as for HTTP/1.1.
#pragma once

#include <cstdint>
#include <optional>

namespace junction::http2 {

struct Options {
  std::uint32_t max_concurrent_streams = 100;       // SETTINGS_MAX_CONCURRENT_STREAMS
  std::uint32_t initial_window_size = 1u << 20;     // per stream: request body bytes we buffer
  std::uint32_t connection_window_size = 8u << 20;  // all streams of a connection together
  std::uint32_t max_frame_size = 16384;             // SETTINGS_MAX_FRAME_SIZE
  // SETTINGS_MAX_HEADER_LIST_SIZE; unset: --limit-request-header-size. Larger gets 431.
  std::optional<std::uint32_t> max_header_list_size;
};

}  // namespace junction::http2
