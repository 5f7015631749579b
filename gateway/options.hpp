// The model layer's options: the bounds and timeouts every protocol session enforces, and which
// protocols a listener speaks. Each layer above keeps its own options beside its code
// (http2/options.hpp, tls/options.hpp, bridge/options.hpp); the server's Config aggregates them.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace junction::gateway {

using seconds_d = std::chrono::duration<double>;

// Bounds on what one client may make us hold (docs/architecture.md, "Bounded everything").
struct Limits {
  std::size_t request_line = 8190;                  // 414 past it
  std::size_t header_fields = 100;                  // 431 past it
  std::size_t header_field_size = 8190;             // one "name: value" line; 431 past it
  std::size_t header_block_size = 65536;            // the whole head; 431 past it
  std::uint64_t max_body_size = 1ull << 30;         // 413 past it
  std::uint64_t ws_max_message_size = 16ull << 20;  // a larger WebSocket message closes 1009
};

struct Timeouts {
  seconds_d keep_alive{5.0};       // idle between requests: closed silently
  seconds_d request_header{10.0};  // from the first byte of a head to its end: 408
  seconds_d request_body{30.0};    // a stall while the app waits for body bytes: 408
  seconds_d send{30.0};            // a client that takes none of our output this long is cut
  seconds_d graceful{30.0};        // in-flight work after SIGTERM before connections are cut
  // Minimum rates in bytes a second after min_rate_grace (gateway/min_rate.hpp); 0: none.
  double min_request_body_rate = 512;  // a body arriving slower: 408
  double min_response_rate = 512;      // a client taking its response slower: cut
  seconds_d min_rate_grace{10.0};
};

// --http: which protocols a listener speaks. automatic: HTTP/1.1, and HTTP/2 by ALPN over TLS
// or, in plain text, for a client that opens with the connection preface (h2c "prior
// knowledge", RFC 9113 §3.3) or upgrades (RFC 7540 §3.2). http1: HTTP/1.1 only. http2: HTTP/2
// only.
enum class HttpMode { automatic, http1, http2 };

}  // namespace junction::gateway
