// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2): the line or block
// a load balancer sends ahead of everything else on a connection to say whom it relays. A pure
// parser on bytes: the server peeks at the socket, asks it, and consumes exactly the header.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>

#include "gateway/exchange.hpp"

namespace junction::gateway {

// v1 (§2.1): "the CRLF sequence is not found in the first 107 characters" makes the line invalid.
inline constexpr std::size_t kProxyV1MaxSize = 107;
// v2 (§2.2): 16 bytes, then `len` bytes of addresses (at most 216, AF_UNIX) and TLVs. The spec
// sets no bound; ours keeps the whole header in one small buffer, with room for the TLVs real
// load balancers send (AWS's VPC endpoint id, haproxy's SSL block, a unique id of 128 bytes).
inline constexpr std::size_t kProxyV2MaxSize = 4096;
inline constexpr std::size_t kProxyHeaderMaxSize = kProxyV2MaxSize;

enum class ProxyParse {
  need_more,  // a prefix of a valid header: read more (bounded by kProxyHeaderMaxSize)
  done,       // a complete header of `size` bytes
  invalid,    // these bytes can no longer become a valid header: close (§2: abort at once)
};

struct ProxyHeader {
  std::size_t size = 0;  // bytes of the header; the connection's own bytes start after them
  int version = 0;       // 1 or 2
  // v2 LOCAL (§2.2): the proxy speaks for itself (a health check); the socket's addresses stay.
  bool local = false;
  // What the proxy relays: TCP4/TCP6 set both, an AF_UNIX v2 header the client only (a path
  // on the proxy's host names nothing here a server address could show). Unset for LOCAL,
  // v1 UNKNOWN and v2 UNSPEC (or DGRAM, which falls back to UNSPEC, §2.2): the socket's stay.
  std::optional<Address> client;
  std::optional<Address> server;
  std::string error;  // why, when invalid
};

// Parses the header at the start of `bytes`, either version (§2.2, "identifying the protocol
// version"); bytes after it are not looked at. Never throws on any input. A prefix is
// `need_more` only while it can still become a valid header, so a client that sends no header
// (plain HTTP, a TLS ClientHello) is `invalid` after its first bytes, not after a timeout.
ProxyParse parse_proxy_header(std::span<const char> bytes, ProxyHeader& out);

}  // namespace junction::gateway
