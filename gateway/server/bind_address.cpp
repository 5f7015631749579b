#include "gateway/server/bind_address.hpp"

#include <charconv>
#include <string_view>
#include <utility>

namespace junction::gateway {
namespace {

bool parse_port(std::string_view text, std::uint16_t& port) {
  if (text.empty()) return false;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

// HOST:PORT, [V6]:PORT or unix:PATH, after any scheme.
std::optional<BindAddress> parse_host_port(BindAddress bind, const std::string& text,
                                           std::string& error) {
  if (text.starts_with("unix:")) {
    bind.kind = BindAddress::Kind::unix_socket;
    bind.path = text.substr(5);
    if (bind.path.empty()) {
      error = "unix: needs a socket path, as in unix:/run/junction.sock";
      return std::nullopt;
    }
    return bind;
  }
  std::string_view port_text;
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      error = "expected [IPv6]:PORT, got '" + bind.text + "'";
      return std::nullopt;
    }
    bind.host = text.substr(1, close - 1);
    port_text = std::string_view(text).substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) {
      error = "expected HOST:PORT, [IPv6]:PORT or unix:PATH, got '" + bind.text + "'";
      return std::nullopt;
    }
    bind.host = text.substr(0, colon);
    if (bind.host.find(':') != std::string::npos) {
      error = "IPv6 addresses need brackets, as in [::1]:8000, got '" + bind.text + "'";
      return std::nullopt;
    }
    port_text = std::string_view(text).substr(colon + 1);
  }
  if (bind.host.empty()) {
    error = "missing host in '" + bind.text + "' (use 0.0.0.0:PORT for every interface)";
    return std::nullopt;
  }
  if (!parse_port(port_text, bind.port)) {
    error = "bad port in '" + bind.text + "': expected a number from 0 to 65535";
    return std::nullopt;
  }
  return bind;
}

}  // namespace

std::optional<BindAddress> parse_bind_address(const std::string& text, std::string& error) {
  BindAddress bind;
  bind.text = text;
  std::string_view rest = text;
  if (rest.starts_with("http://")) {
    bind.security = BindAddress::Security::plain;
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    bind.security = BindAddress::Security::tls;
    rest.remove_prefix(8);
  }
  if (bind.security != BindAddress::Security::automatic) {
    if (rest.starts_with("unix:")) {
      error = "a unix socket takes no scheme: unix:PATH (TLS on it follows --tls-cert), got '" +
              text + "'";
      return std::nullopt;
    }
    if (rest.ends_with('/')) rest.remove_suffix(1);  // "http://0.0.0.0:80/" as a URL
  }
  return parse_host_port(std::move(bind), std::string(rest), error);
}

}  // namespace junction::gateway
