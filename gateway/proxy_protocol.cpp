#include "gateway/proxy_protocol.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <string_view>

namespace junction::gateway {

namespace {

// One step of a field parser: the field so far can still become valid (its bytes ran out), it
// is complete, or it can no longer be valid. A header is `need_more` only while every field
// read so far is `more` or `ok`, which is what lets a non-header fail on its first bad byte.
enum class Step { more, ok, bad };

// §2.2: the 12 bytes that start every version 2 header.
constexpr std::array<unsigned char, 12> kV2Signature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                        0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::size_t kV2FixedSize = 16;

// §2.2, the 13th byte: version 2 in the high nibble, the command in the low one.
constexpr unsigned kV2Version = 0x2;
constexpr unsigned kCommandLocal = 0x0;
constexpr unsigned kCommandProxy = 0x1;
// §2.2, the 14th byte: the address family (high nibble) and transport (low nibble).
constexpr unsigned kFamilyUnspec = 0x0;
constexpr unsigned kFamilyInet = 0x1;
constexpr unsigned kFamilyInet6 = 0x2;
constexpr unsigned kFamilyUnix = 0x3;
constexpr unsigned kTransportStream = 0x1;
constexpr unsigned kTransportDgram = 0x2;
constexpr std::size_t kUnixPathSize = 108;

ProxyParse fail(ProxyHeader& out, std::string error) {
  out.error = std::move(error);
  return ProxyParse::invalid;
}

// Matches `literal` at `pos`, as far as the bytes go.
Step expect(std::string_view s, std::size_t& pos, std::string_view literal) {
  for (char c : literal) {
    if (pos == s.size()) return Step::more;
    if (s[pos] != c) return Step::bad;
    ++pos;
  }
  return Step::ok;
}

// A decimal number up to `max`, then `end`. §2.1: "Heading zeroes are not permitted".
Step parse_decimal(std::string_view s, std::size_t& pos, char end, unsigned max, unsigned& value) {
  value = 0;
  std::size_t digits = 0;
  for (; pos < s.size(); ++pos) {
    char c = s[pos];
    if (c == end) {
      if (digits == 0) return Step::bad;
      ++pos;
      return Step::ok;
    }
    if (c < '0' || c > '9' || (digits > 0 && value == 0)) return Step::bad;
    value = value * 10 + unsigned(c - '0');
    if (value > max) return Step::bad;
    ++digits;
  }
  return Step::more;
}

// §2.1: "exactly 4 integers in the range [0..255] ... separated by exactly one dot", no
// heading zeroes; then `end`.
Step parse_ipv4_text(std::string_view s, std::size_t& pos, char end,
                     std::span<std::uint8_t, 4> out) {
  for (std::size_t i = 0; i < 4; ++i) {
    unsigned octet = 0;
    auto step = parse_decimal(s, pos, i == 3 ? end : '.', 255, octet);
    if (step != Step::ok) return step;
    out[i] = std::uint8_t(octet);
  }
  return Step::ok;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// §2.1: groups of up to 4 hex digits separated by colons, one "::" for a run of zero groups,
// 128 bits in all; then `end`. As inet_pton (which haproxy's own parser uses) also reads, the
// last 32 bits may be a dotted IPv4 address ("::ffff:192.0.2.1", what inet_ntop writes for an
// IPv4-mapped peer). Each character is checked as it arrives, so a prefix that cannot end
// well is `bad` at once.
Step parse_ipv6_text(std::string_view s, std::size_t& pos, char end,
                     std::array<std::uint8_t, 16>& out) {
  std::array<std::uint16_t, 8> words{};
  std::size_t count = 0;  // complete groups
  int gap = -1;           // where "::" stands among them
  std::size_t digits = 0;
  unsigned value = 0;
  int colons = 0;  // colons just read: 1 needs a group or a second colon next
  const std::size_t start = pos;
  std::size_t group_start = pos;
  // How many groups may be written: a "::" stands for at least one zero group (RFC 4291 §2.2).
  auto room = [&] { return gap >= 0 ? std::size_t(7) : std::size_t(8); };
  auto finish = [&] {
    out.fill(0);
    std::size_t head = gap >= 0 ? std::size_t(gap) : count;
    std::size_t tail_at = 8 - (count - head);
    for (std::size_t i = 0; i < count; ++i) {
      std::size_t at = i < head ? i : tail_at + (i - head);
      out[2 * at] = std::uint8_t(words[i] >> 8);
      out[2 * at + 1] = std::uint8_t(words[i] & 0xFF);
    }
  };
  for (; pos < s.size(); ++pos) {
    char c = s[pos];
    if (int h = hex_digit(c); h >= 0) {
      if (colons == 1 && pos == start + 1) return Step::bad;  // ":x": a lone leading colon
      if (digits == 0) {
        if (count + 1 > room()) return Step::bad;
        group_start = pos;
      }
      if (++digits > 4) return Step::bad;
      value = value * 16 + unsigned(h);
      colons = 0;
    } else if (c == ':') {
      if (colons == 2) return Step::bad;  // ":::"
      if (colons == 1) {
        if (gap >= 0) return Step::bad;  // a second "::"
        gap = int(count);
        colons = 2;
        continue;
      }
      if (digits > 0) {
        words[count++] = std::uint16_t(value);
        digits = 0;
        value = 0;
        // Another group must follow, or (if there is none yet) a "::".
        if (gap >= 0 ? count + 1 > room() : count > 7) return Step::bad;
      } else if (pos != start) {
        return Step::bad;
      }
      colons = 1;
    } else if (c == '.') {
      // The group being read is the first octet of a dotted IPv4 tail: 32 bits, the last ones.
      if (digits == 0) return Step::bad;
      if (gap >= 0 ? count + 2 > room() : count + 2 != 8) return Step::bad;
      pos = group_start;
      std::array<std::uint8_t, 4> v4{};
      auto step = parse_ipv4_text(s, pos, end, v4);
      if (step != Step::ok) return step;
      words[count++] = std::uint16_t(v4[0] << 8 | v4[1]);
      words[count++] = std::uint16_t(v4[2] << 8 | v4[3]);
      finish();
      return Step::ok;
    } else if (c == end) {
      if (colons == 1 || pos == start) return Step::bad;  // "1:" or empty
      if (digits > 0) words[count++] = std::uint16_t(value);
      if (gap < 0 && count != 8) return Step::bad;
      ++pos;
      finish();
      return Step::ok;
    } else {
      return Step::bad;
    }
  }
  return Step::more;
}

std::string format_ipv4(std::span<const std::uint8_t, 4> b) {
  std::string text;
  for (std::size_t i = 0; i < 4; ++i) {
    if (i) text += '.';
    text += std::to_string(b[i]);
  }
  return text;
}

// The text inet_ntop writes (RFC 5952 §4: lower case, no leading zeros, the longest run of two
// or more zero groups as "::", the first of equal runs), so an address from a header reads as
// one the socket reports, IPv4-mapped and IPv4-compatible ones in dotted form as glibc does.
std::string format_ipv6(const std::array<std::uint8_t, 16>& b) {
  std::array<unsigned, 8> words{};
  for (std::size_t i = 0; i < 8; ++i) words[i] = unsigned(b[2 * i]) << 8 | b[2 * i + 1];
  std::size_t best = 8, best_len = 0;
  for (std::size_t i = 0; i < 8;) {
    if (words[i] != 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < 8 && words[j] == 0) ++j;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  if (best_len < 2) best = 8;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  for (std::size_t i = 0; i < 8; ++i) {
    if (i == best) {
      text += "::";
      i += best_len - 1;
      continue;
    }
    if (i > 0 && !(best < 8 && i == best + best_len)) text += ':';
    if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xFFFF))) {
      text += format_ipv4(std::span<const std::uint8_t, 4>(b.data() + 12, 4));
      break;
    }
    bool leading = true;
    for (int shift = 12; shift >= 0; shift -= 4) {
      unsigned nibble = (words[i] >> shift) & 0xF;
      if (leading && nibble == 0 && shift > 0) continue;
      leading = false;
      text += kHex[nibble];
    }
  }
  return text;
}

// §2.1, version 1: "PROXY" SP ("TCP4" | "TCP6") SP src SP dst SP sport SP dport CRLF, or
// "PROXY UNKNOWN" and anything up to the CRLF; at most 107 bytes.
ProxyParse parse_v1(std::string_view s, ProxyHeader& out) {
  std::size_t pos = 0;
  // The whole line, or as much as there is, must fit the bound.
  auto more = [&] {
    if (s.size() >= kProxyV1MaxSize) return fail(out, "PROXY v1: no CRLF in the first 107 bytes");
    return ProxyParse::need_more;
  };
  auto step_result = [&](Step step, const char* what) {
    return step == Step::more ? more() : fail(out, std::string("PROXY v1: bad ") + what);
  };
  if (auto step = expect(s, pos, "PROXY "); step != Step::ok) return step_result(step, "magic");
  if (pos == s.size()) return more();
  if (s[pos] == 'U') {
    if (auto step = expect(s, pos, "UNKNOWN"); step != Step::ok)
      return step_result(step, "protocol");
    // "the receiver must ignore anything presented before the CRLF", which must be a CRLF:
    // "must not tolerate a single CR or LF character to end the line".
    for (std::size_t i = pos; i < s.size() && i < kProxyV1MaxSize; ++i) {
      if (i == pos && s[i] != ' ' && s[i] != '\r') return fail(out, "PROXY v1: bad protocol");
      if (s[i] == '\n') return fail(out, "PROXY v1: LF without CR");
      if (s[i] != '\r') continue;
      if (i + 1 == s.size()) return more();
      if (s[i + 1] != '\n') return fail(out, "PROXY v1: CR without LF");
      if (i + 2 > kProxyV1MaxSize) return fail(out, "PROXY v1: no CRLF in the first 107 bytes");
      out.size = i + 2;
      out.version = 1;
      return ProxyParse::done;
    }
    return more();
  }
  if (auto step = expect(s, pos, "TCP"); step != Step::ok) return step_result(step, "protocol");
  if (pos == s.size()) return more();
  const char family = s[pos++];
  if (family != '4' && family != '6') return fail(out, "PROXY v1: bad protocol");
  if (auto step = expect(s, pos, " "); step != Step::ok) return step_result(step, "protocol");

  Address client, server;
  for (Address* address : {&client, &server}) {
    if (family == '4') {
      std::array<std::uint8_t, 4> ip{};
      if (auto step = parse_ipv4_text(s, pos, ' ', ip); step != Step::ok)
        return step_result(step, "IPv4 address");
      address->host = format_ipv4(ip);
    } else {
      std::array<std::uint8_t, 16> ip{};
      if (auto step = parse_ipv6_text(s, pos, ' ', ip); step != Step::ok)
        return step_result(step, "IPv6 address");
      address->host = format_ipv6(ip);
    }
  }
  unsigned port = 0;
  if (auto step = parse_decimal(s, pos, ' ', 65535, port); step != Step::ok)
    return step_result(step, "source port");
  client.port = int(port);
  if (auto step = parse_decimal(s, pos, '\r', 65535, port); step != Step::ok)
    return step_result(step, "destination port");
  server.port = int(port);
  if (auto step = expect(s, pos, "\n"); step != Step::ok) return step_result(step, "CRLF");
  if (pos > kProxyV1MaxSize) return fail(out, "PROXY v1: no CRLF in the first 107 bytes");
  out.size = pos;
  out.version = 1;
  out.client = std::move(client);
  out.server = std::move(server);
  return ProxyParse::done;
}

std::uint16_t be16(const unsigned char* p) {
  return std::uint16_t(p[0] << 8 | p[1]);
}

// §2.2, version 2: the signature, version and command, family and transport, the length of
// what follows (addresses, then TLVs, §2.2 "Type-Length-Value").
ProxyParse parse_v2(std::span<const unsigned char> b, ProxyHeader& out) {
  auto n = std::min(b.size(), kV2Signature.size());
  if (!std::equal(b.begin(), b.begin() + std::ptrdiff_t(n), kV2Signature.begin()))
    return fail(out, "PROXY v2: bad signature");
  if (b.size() < 13) return ProxyParse::need_more;
  // "the receiver must only accept this value"; other commands: "Receivers must drop
  // connections presenting unexpected values here."
  if ((b[12] >> 4) != kV2Version) return fail(out, "PROXY v2: bad version");
  const unsigned command = b[12] & 0xF;
  if (command != kCommandLocal && command != kCommandProxy)
    return fail(out, "PROXY v2: bad command");
  if (b.size() < 14) return ProxyParse::need_more;
  const unsigned family = b[13] >> 4;
  const unsigned transport = b[13] & 0xF;
  // LOCAL: "discard the protocol block including the family which is ignored".
  if (command == kCommandProxy && (family > kFamilyUnix || transport > kTransportDgram))
    return fail(out, "PROXY v2: bad address family or transport");
  if (b.size() < kV2FixedSize) return ProxyParse::need_more;
  const std::size_t size = kV2FixedSize + be16(&b[14]);
  if (size > kProxyV2MaxSize) return fail(out, "PROXY v2: header longer than 4096 bytes");
  std::size_t addresses = 0;
  if (command == kCommandProxy) {
    switch (family) {
      case kFamilyInet:
        addresses = 12;
        break;
      case kFamilyInet6:
        addresses = 36;
        break;
      case kFamilyUnix:
        addresses = 2 * kUnixPathSize;
        break;
      default:
        break;
    }
    if (size - kV2FixedSize < addresses)
      return fail(out, "PROXY v2: length too short for the address family");
  }
  if (b.size() < size) return ProxyParse::need_more;
  out.size = size;
  out.version = 2;
  // Where the address block's extent is known, the rest must be whole TLVs (skipped: none
  // changes what we do; CRC32C is optional for a receiver, §2.2.3). With LOCAL or UNSPEC the
  // block is ignored whole.
  if (addresses > 0) {
    for (std::size_t at = kV2FixedSize + addresses; at < size;) {
      if (size - at < 3 || size - at - 3 < be16(&b[at + 1]))
        return fail(out, "PROXY v2: TLV overruns the header");
      at += 3 + be16(&b[at + 1]);
    }
  }
  if (command == kCommandLocal) {
    out.local = true;
    return ProxyParse::done;
  }
  // UNSPEC: "The receiver should ignore address information"; a DGRAM transport falls back to
  // UNSPEC ("falls back to the UNSPEC mode for the valid combinations ... it does not support").
  if (family == kFamilyUnspec || transport != kTransportStream) return ProxyParse::done;
  const unsigned char* a = &b[kV2FixedSize];
  if (family == kFamilyInet) {
    out.client = Address{format_ipv4(std::span<const std::uint8_t, 4>(a, 4)), be16(a + 8)};
    out.server = Address{format_ipv4(std::span<const std::uint8_t, 4>(a + 4, 4)), be16(a + 10)};
  } else if (family == kFamilyInet6) {
    std::array<std::uint8_t, 16> src{}, dst{};
    std::copy(a, a + 16, src.begin());
    std::copy(a + 16, a + 32, dst.begin());
    out.client = Address{format_ipv6(src), be16(a + 32)};
    out.server = Address{format_ipv6(dst), be16(a + 34)};
  } else {
    // A path of up to 108 bytes, NUL-padded (or not, when it fills them); an abstract socket
    // (a leading NUL) reads as an empty path, as the socket's own peer name does.
    const char* path = reinterpret_cast<const char*>(a);
    out.client = Address{std::string(path, std::find(path, path + kUnixPathSize, '\0')), 0};
  }
  return ProxyParse::done;
}

}  // namespace

ProxyParse parse_proxy_header(std::span<const char> bytes, ProxyHeader& out) {
  out = ProxyHeader{};
  if (bytes.empty()) return ProxyParse::need_more;
  // §2.2 "identifying the protocol version": the v2 signature starts with CR, v1 with 'P'.
  if (bytes[0] == '\r')
    return parse_v2({reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()}, out);
  if (bytes[0] == 'P') return parse_v1({bytes.data(), bytes.size()}, out);
  return fail(out, "not a PROXY protocol header");
}

}  // namespace junction::gateway
