// Trusted proxy headers (--forwarded-allow-ips): which peers may speak for the client, and what
// a request from one of them says about it. From a trusted peer, X-Forwarded-For (the
// rightmost address that is not itself trusted is the client), X-Forwarded-Proto or
// X-Forwarded-Scheme (the scheme), RFC 7239 Forwarded (for, proto, host) and, only with
// --forwarded-host, X-Forwarded-Host and X-Forwarded-Port replace what the socket says. From
// any other peer the headers are left for the app and change nothing (gunicorn's and uvicorn's
// rule). The same list decides who may send a PROXY protocol header.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/exchange.hpp"

namespace junction::gateway {

class TrustedProxies {
 public:
  // A comma-separated list of IPv4/IPv6 addresses, CIDR ranges ("10.0.0.0/8", "fd00::/8"),
  // "*" (every peer) and "unix" (peers on a unix socket). Spaces around entries are ignored;
  // an empty list trusts nobody. nullopt, with `error` naming the bad entry, when malformed.
  static std::optional<TrustedProxies> parse(std::string_view list, std::string& error);

  // `peer` as the socket reports it: a numeric IP, or (port 0, not an IP) a unix socket peer.
  bool trusts(const Address& peer) const noexcept;
  // An address from a header: a numeric IPv4 or IPv6 address (no brackets, no port).
  bool trusts_ip(std::string_view ip) const noexcept;
  bool trusts_nobody() const noexcept { return !all_ && !unix_ && ranges_.empty(); }

 private:
  struct Range {
    std::array<std::uint8_t, 16> bytes{};  // IPv4 as IPv4-mapped IPv6
    unsigned prefix_bits = 0;              // of the 128
  };
  bool all_ = false;
  bool unix_ = false;
  std::vector<Range> ranges_;
};

struct ForwardedPolicy {
  TrustedProxies trusted;
  bool forwarded_host = false;  // --forwarded-host: X-Forwarded-Host/-Port and Forwarded host
};

// What the connection from `peer` applies to its requests: `policy` when it trusts the peer,
// else null. Decided once per connection (the peer does not change), so a request from an
// untrusted peer pays nothing.
inline const ForwardedPolicy* forwarded_for_peer(const ForwardedPolicy* policy,
                                                 const Address& peer) noexcept {
  return policy && policy->trusted.trusts(peer) ? policy : nullptr;
}

// Applies what the headers of a trusted peer's request say to `head`, before the head reaches
// an app: the client (X-Forwarded-For, else Forwarded for=), the scheme (X-Forwarded-Proto,
// X-Forwarded-Scheme, else Forwarded proto=) and, with forwarded_host, the authority and the
// Host field (X-Forwarded-Host/-Port, else Forwarded host=). The headers themselves stay for
// the app. Malformed values are ignored (logged at debug). Idempotent. The caller has checked
// that head.client is trusted (forwarded_for_peer).
void apply_forwarded(RequestHead& head, const ForwardedPolicy& policy);

}  // namespace junction::gateway
