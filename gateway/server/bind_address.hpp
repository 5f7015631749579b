// --bind ADDRESS (and [[listen]] bind = ..., --admin-bind): where a listener is, as written.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "gateway/options.hpp"

namespace junction::gateway {

struct BindAddress {
  enum class Kind { tcp, unix_socket };
  Kind kind = Kind::tcp;
  // http://HOST:PORT is plain text, https://HOST:PORT TLS; a bare address (and a unix socket)
  // is TLS when certificates are given.
  enum class Security { automatic, plain, tls };
  Security security = Security::automatic;
  std::string host;  // literal IPv4/IPv6 address or a host name, without brackets
  std::uint16_t port = 0;
  std::string path;  // unix socket path
  std::string text;  // as the user wrote it, for messages
  int fd = -1;       // socket activation: a listening socket systemd passed (systemd.hpp)
  // A [[listen]] table's own settings; unset: --http and --proxy-protocol.
  std::optional<HttpMode> http;
  std::optional<bool> proxy_protocol;
};

// Parses "[http://|https://]HOST:PORT", "[http://|https://][V6]:PORT" or "unix:PATH"; nullopt
// with `error` set when malformed.
std::optional<BindAddress> parse_bind_address(const std::string& text, std::string& error);

}  // namespace junction::gateway
