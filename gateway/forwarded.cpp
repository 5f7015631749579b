// Trusted proxy headers: the --forwarded-allow-ips list and what a trusted peer's
// X-Forwarded-* and RFC 7239 Forwarded fields say about the client (forwarded.hpp).
#include "gateway/forwarded.hpp"

#include <arpa/inet.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstring>

#include "gateway/fields.hpp"
#include "gateway/text.hpp"

namespace junction::gateway {

namespace {

using Bytes = std::array<std::uint8_t, 16>;

// A numeric IPv4 or IPv6 address (no brackets, no port, no zone) as 16 bytes, IPv4 as
// IPv4-mapped IPv6 (RFC 4291 §2.5.5.2) so one comparison serves both families and a dual-stack
// socket's "::ffff:127.0.0.1" matches "127.0.0.1". No allocation: inet_pton wants a C string,
// and the longest IPv6 text is 45 characters.
bool parse_ip(std::string_view text, Bytes& out) noexcept {
  char buffer[64];
  if (text.empty() || text.size() >= sizeof buffer) return false;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  if (text.find(':') != std::string_view::npos) return inet_pton(AF_INET6, buffer, out.data()) == 1;
  out = {};
  out[10] = out[11] = 0xff;
  return inet_pton(AF_INET, buffer, out.data() + 12) == 1;
}

bool in_range(const Bytes& address, const Bytes& network, unsigned prefix_bits) noexcept {
  unsigned whole = prefix_bits / 8, rest = prefix_bits % 8;
  if (std::memcmp(address.data(), network.data(), whole) != 0) return false;
  if (rest == 0) return true;
  auto mask = std::uint8_t(0xff << (8 - rest));
  return (address[whole] & mask) == (network[whole] & mask);
}

}  // namespace

std::optional<TrustedProxies> TrustedProxies::parse(std::string_view list, std::string& error) {
  TrustedProxies result;
  bool ok = true;
  for_each_list_element(list, [&](std::string_view entry) {
    if (!ok) return;
    entry = trim(entry);
    if (entry == "*") {
      result.all_ = true;
      return;
    }
    if (iequals(entry, "unix")) {
      result.unix_ = true;
      return;
    }
    auto address = entry;
    std::optional<unsigned> prefix;
    if (auto slash = entry.find('/'); slash != std::string_view::npos) {
      auto digits = trim(entry.substr(slash + 1));
      address = trim(entry.substr(0, slash));
      unsigned n = 0;
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
      if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size()) {
        ok = false;
      } else {
        prefix = n;
      }
    }
    // "[::1]" as people write IPv6 in URLs and nginx's set_real_ip_from does not; accept it.
    if (address.size() > 2 && address.front() == '[' && address.back() == ']')
      address = address.substr(1, address.size() - 2);
    Range range;
    if (ok && !parse_ip(address, range.bytes)) ok = false;
    bool v4 = address.find(':') == std::string_view::npos;
    unsigned limit = v4 ? 32 : 128;
    if (ok && prefix && *prefix > limit) ok = false;
    if (!ok) {
      error = "'" + std::string(entry) + "' is not an IP address, a CIDR range, '*' or 'unix'";
      return;
    }
    range.prefix_bits = prefix ? (v4 ? 96 + *prefix : *prefix) : 128;
    // Clear the host bits, so "10.1.2.3/8" means 10.0.0.0/8 as it does for nginx.
    for (unsigned bit = range.prefix_bits; bit < 128; ++bit)
      range.bytes[bit / 8] &= std::uint8_t(~(0x80u >> (bit % 8)));
    result.ranges_.push_back(range);
  });
  if (!ok) return std::nullopt;
  return result;
}

bool TrustedProxies::trusts_ip(std::string_view ip) const noexcept {
  Bytes bytes;
  if (!parse_ip(ip, bytes)) return false;
  if (all_) return true;
  for (const auto& range : ranges_)
    if (in_range(bytes, range.bytes, range.prefix_bits)) return true;
  return false;
}

bool TrustedProxies::trusts(const Address& peer) const noexcept {
  if (all_) return true;
  Bytes bytes;
  if (!parse_ip(peer.host, bytes)) return unix_ && peer.port == 0;
  for (const auto& range : ranges_)
    if (in_range(bytes, range.bytes, range.prefix_bits)) return true;
  return false;
}

namespace {

// A node of a forwarding header (X-Forwarded-For entries, RFC 7239 §6 `for` values): a numeric
// IPv4 address, or IPv6 (bracketed or, as X-Forwarded-For writers do, bare), either with an
// optional ":port" (Azure and some CDNs add one). The host comes back as inet_ntop writes it,
// so "2001:DB8:0::1" and "2001:db8::1" are one client. nullopt for anything else: "unknown",
// an obfuscated identifier ("_hidden", RFC 7239 §6.3), a host name, garbage.
struct Node {
  Address address;
};

std::optional<int> parse_port(std::string_view digits) noexcept {
  int port = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || port < 1 ||
      port > 65535)
    return std::nullopt;
  return port;
}

std::optional<Node> parse_node(std::string_view text) {
  std::string_view ip = text, port;
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    ip = text.substr(1, close - 1);
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
      if (port.empty()) return std::nullopt;
    }
    if (ip.find(':') == std::string_view::npos) return std::nullopt;  // "[1.2.3.4]"
  } else if (auto colon = text.find(':'); colon != std::string_view::npos &&
                                          text.find(':', colon + 1) == std::string_view::npos) {
    ip = text.substr(0, colon);  // IPv4:port; a second colon makes it bare IPv6
    port = text.substr(colon + 1);
    if (port.empty()) return std::nullopt;
  }
  Node node;
  Bytes bytes;
  if (!parse_ip(ip, bytes)) return std::nullopt;
  if (!port.empty()) {
    auto number = parse_port(port);
    if (!number) return std::nullopt;
    node.address.port = *number;
  }
  char text_form[INET6_ADDRSTRLEN] = {};
  bool v4 = ip.find(':') == std::string_view::npos;
  if (v4)
    inet_ntop(AF_INET, bytes.data() + 12, text_form, sizeof text_form);
  else
    inet_ntop(AF_INET6, bytes.data(), text_form, sizeof text_form);
  node.address.host = text_form;
  return node;
}

// "http" or "https" for a scheme a proxy reports ("ws"/"wss" as their HTTP twins: the request
// model's scheme is an HTTP one, the ASGI bridge derives ws/wss from it); nullopt otherwise.
std::optional<std::string_view> parse_scheme(std::string_view text) noexcept {
  if (iequals(text, "https") || iequals(text, "wss")) return "https";
  if (iequals(text, "http") || iequals(text, "ws")) return "http";
  return std::nullopt;
}

// A uri-host with an optional port (RFC 3986 §3.2.2): a reg-name of unreserved characters
// (percent-encoding and sub-delims are legal but no real host name has them, and they are
// what a header injection would need), or a bracketed IPv6 literal. What becomes the request's
// authority and its Host field must be nothing else.
bool valid_host(std::string_view host) noexcept {
  std::string_view name = host, port;
  if (host.starts_with('[')) {
    auto close = host.find(']');
    if (close == std::string_view::npos) return false;
    Bytes ignored;
    if (!parse_ip(host.substr(1, close - 1), ignored)) return false;
    auto rest = host.substr(close + 1);
    if (rest.empty()) return true;
    return rest.front() == ':' && parse_port(rest.substr(1)).has_value();
  }
  if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
    name = host.substr(0, colon);
    port = host.substr(colon + 1);
    if (!parse_port(port)) return false;
  }
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == '~';
    if (!ok) return false;
  }
  return true;
}

// The host of an authority, without its port ("example.com", "[::1]").
std::string_view host_only(std::string_view authority) noexcept {
  auto close = authority.rfind(']');
  auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && (close == std::string_view::npos || colon > close))
    return authority.substr(0, colon);
  return authority;
}

// The elements of every field named `name`, in order (several fields are one list, RFC 9110
// §5.3). Views into `headers`.
std::vector<std::string_view> list_elements(const Headers& headers, std::string_view name) {
  std::vector<std::string_view> elements;
  for (const auto& [field, value] : headers)
    if (iequals(field, name))
      for_each_list_element(value, [&](std::string_view e) { elements.push_back(e); });
  return elements;
}

// RFC 7239 §4: forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] ), pairs of
// token "=" ( token / quoted-string ); elements separated by commas, which a quoted value may
// hold. The parameters this server reads; an element repeating one is malformed (§4: "MUST
// NOT occur more than once per forwarded-element").
struct ForwardedElement {
  std::optional<std::string> for_;
  std::optional<std::string> proto;
  std::optional<std::string> host;
};

// Parses every Forwarded field into its elements, in order; false when a field is malformed
// (then none of it is used).
bool parse_forwarded(const Headers& headers, std::vector<ForwardedElement>& out) {
  for (const auto& [field, value] : headers) {
    if (!iequals(field, "forwarded")) continue;
    std::string_view rest = value;
    ForwardedElement element;
    bool element_has_pair = false;
    for (;;) {
      rest = trim(rest);
      // A pair, or nothing before a separator (empty pairs and elements are allowed).
      if (!rest.empty() && rest.front() != ';' && rest.front() != ',') {
        auto equals = rest.find('=');
        if (equals == std::string_view::npos) return false;
        auto name = trim(rest.substr(0, equals));
        rest = trim(rest.substr(equals + 1));
        std::string parsed;
        if (rest.starts_with('"')) {
          std::size_t i = 1;
          for (; i < rest.size() && rest[i] != '"'; ++i) {
            if (rest[i] == '\\' && i + 1 < rest.size()) ++i;  // quoted-pair (RFC 9110 §5.6.4)
            parsed.push_back(rest[i]);
          }
          if (i == rest.size()) return false;  // no closing quote
          rest.remove_prefix(i + 1);
        } else {
          auto end = rest.find_first_of(";, \t");
          parsed = std::string(rest.substr(0, end));
          rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
          if (parsed.empty()) return false;
        }
        if (!valid_field_name(name)) return false;  // a token (RFC 9110 §5.6.2)
        std::optional<std::string>* slot = nullptr;
        if (iequals(name, "for"))
          slot = &element.for_;
        else if (iequals(name, "proto"))
          slot = &element.proto;
        else if (iequals(name, "host"))
          slot = &element.host;
        if (slot) {
          if (*slot) return false;
          *slot = std::move(parsed);
        }
        element_has_pair = true;
        rest = trim(rest);
      }
      if (rest.empty() || rest.front() == ',') {
        if (element_has_pair) out.push_back(std::move(element));
        element = {};
        element_has_pair = false;
        if (rest.empty()) break;
        rest.remove_prefix(1);
        continue;
      }
      if (rest.front() != ';') return false;  // text after a value
      rest.remove_prefix(1);
    }
  }
  return true;
}

// The last value of every field named `name` (the one the nearest proxy added): what a
// trusted peer says, whatever an untrusted client put before it.
std::optional<std::string_view> last_element(const Headers& headers, std::string_view name) {
  std::optional<std::string_view> last;
  for (const auto& [field, value] : headers)
    if (iequals(field, name)) for_each_list_element(value, [&](std::string_view e) { last = e; });
  return last;
}

}  // namespace

void apply_forwarded(RequestHead& head, const ForwardedPolicy& policy) {
  // Most requests carry none of the fields: one pass over the names finds out.
  bool any_x = false, any_forwarded = false;
  for (const auto& [name, value] : head.headers) {
    if (name.size() > 10 && (name[0] == 'x' || name[0] == 'X') &&
        iequals(name.substr(0, 12), "x-forwarded-"))
      any_x = true;
    else if (iequals(name, "forwarded"))
      any_forwarded = true;
  }
  if (!any_x && !any_forwarded) return;

  // RFC 7239: the element the walk below settles on, for proto= and host= too (each element
  // is one hop's view, and the chosen one was written by a trusted proxy).
  std::vector<ForwardedElement> elements;
  const ForwardedElement* chosen = nullptr;
  if (any_forwarded) {
    if (!parse_forwarded(head.headers, elements)) {
      spdlog::debug("Forwarded from {}: malformed, ignored", head.client.host);
      elements.clear();
    }
    for (auto it = elements.rbegin(); it != elements.rend(); ++it) {
      chosen = &*it;
      auto node = it->for_ ? parse_node(*it->for_) : std::nullopt;
      // "unknown", an obfuscated or missing `for`: the hop hides its client (§6.2, §6.3),
      // whose address then stays unknown; the walk cannot go past it.
      if (!node || !policy.trusted.trusts_ip(node->address.host)) break;
    }
  }

  // The client: the rightmost X-Forwarded-For entry that is not a trusted proxy (everything
  // to its left was written by whoever sent it to that proxy); the leftmost when all are
  // trusted. X-Forwarded-For wins over Forwarded: it is what nginx, HAProxy, cloud load
  // balancers and CDNs write by default, so a Forwarded field there came from the client.
  bool client_from_x = false;
  if (any_x) {
    auto entries = list_elements(head.headers, "x-forwarded-for");
    if (!entries.empty()) {
      client_from_x = true;
      std::optional<Node> client;
      for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
        client = parse_node(*it);
        if (!client) {
          spdlog::debug("X-Forwarded-For from {}: '{}' is not an IP address, ignored",
                        head.client.host, *it);
          break;
        }
        if (!policy.trusted.trusts_ip(client->address.host)) break;
      }
      if (client) head.client = std::move(client->address);
    }
  }
  if (!client_from_x && chosen && chosen->for_) {
    if (auto node = parse_node(*chosen->for_)) head.client = std::move(node->address);
  }

  // The scheme: X-Forwarded-Proto, X-Forwarded-Scheme, then Forwarded proto=. A TLS connection
  // of our own stays https (the bridges read its TLS facts); plain text takes the proxy's word.
  std::optional<std::string_view> proto;
  if (any_x) {
    proto = last_element(head.headers, "x-forwarded-proto");
    if (!proto) proto = last_element(head.headers, "x-forwarded-scheme");
  }
  if (!proto && chosen && chosen->proto) proto = *chosen->proto;
  if (proto) {
    if (auto scheme = parse_scheme(*proto))
      head.scheme = *scheme;
    else
      spdlog::debug("forwarded scheme '{}' from {} ignored", *proto, head.client.host);
  }

  if (!policy.forwarded_host) return;
  // --forwarded-host: the authority the client asked the proxy for, and the Host field the
  // apps read (WSGI HTTP_HOST and SERVER_NAME/SERVER_PORT, the ASGI host header).
  std::optional<std::string> host;
  std::optional<std::string_view> port;
  if (any_x) {
    if (auto value = last_element(head.headers, "x-forwarded-host")) host = std::string(*value);
    port = last_element(head.headers, "x-forwarded-port");
  }
  if (!host && chosen && chosen->host) host = *chosen->host;
  if (host && !valid_host(*host)) {
    spdlog::debug("forwarded host '{}' from {} ignored", *host, head.client.host);
    host.reset();
  }
  if (port && !parse_port(*port)) {
    spdlog::debug("X-Forwarded-Port '{}' from {} ignored", *port, head.client.host);
    port.reset();
  }
  if (!host && !port) return;
  std::string authority = host ? *host : head.authority;
  if (port) {
    // The port the proxy listened on replaces any in the host; the scheme's own is left out,
    // as a browser leaves it out of Host (RFC 9110 §4.2.1, §4.2.2).
    authority = std::string(host_only(authority));
    if (authority.empty()) return;
    bool default_port =
        (head.scheme == "https" && *port == "443") || (head.scheme == "http" && *port == "80");
    if (!default_port) authority += ":" + std::string(*port);
  }
  head.authority = authority;
  bool replaced = false;
  for (auto& [name, value] : head.headers) {
    if (!iequals(name, "host")) continue;
    value = authority;
    replaced = true;
  }
  if (!replaced) head.headers.emplace_back(head.version.major == 2 ? "host" : "Host", authority);
}

}  // namespace junction::gateway
