// The PROXY protocol parser (proxy-protocol.txt §2.1, §2.2): what each version says, that a
// prefix of a header waits for more and anything else fails at its first bad byte, and that
// bytes after the header are left alone.
#include "gateway/proxy_protocol.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace junction::gateway {
namespace {

using namespace std::string_literals;

const std::string kSignature = "\r\n\r\n\0\r\nQUIT\n"s;

ProxyParse parse(std::string_view bytes, ProxyHeader& out) {
  return parse_proxy_header(std::span<const char>(bytes.data(), bytes.size()), out);
}

ProxyParse parse(std::string_view bytes) {
  ProxyHeader out;
  return parse(bytes, out);
}

std::string be16(unsigned v) {
  return {char(v >> 8), char(v & 0xFF)};
}

// A version 2 header: signature, version/command, family/transport, length, then `body`.
std::string v2(unsigned ver_cmd, unsigned family, const std::string& body) {
  return kSignature + char(ver_cmd) + char(family) + be16(unsigned(body.size())) + body;
}

std::string tlv(unsigned type, const std::string& value) {
  return char(type) + be16(unsigned(value.size())) + value;
}

std::string ipv4_block() {  // 192.0.2.1:56324 -> 198.51.100.2:443
  return "\xC0\x00\x02\x01"s + "\xC6\x33\x64\x02"s + be16(56324) + be16(443);
}

std::string ipv6_block() {  // [2001:db8::1]:1 -> [::ffff:192.0.2.9]:65535
  std::string src(16, '\0'), dst(16, '\0');
  src[0] = '\x20', src[1] = '\x01', src[2] = '\x0D', src[3] = '\xB8', src[15] = '\x01';
  dst[10] = dst[11] = '\xFF', dst[12] = '\xC0', dst[14] = '\x02', dst[15] = '\x09';
  return src + dst + be16(1) + be16(65535);
}

std::string unix_block(const std::string& src, const std::string& dst) {
  auto pad = [](std::string path) {
    path.resize(108, '\0');
    return path;
  };
  return pad(src) + pad(dst);
}

std::string v1_tcp6(std::string_view src, std::string_view dst = "::1") {
  return "PROXY TCP6 " + std::string(src) + " " + std::string(dst) + " 1 2\r\n";
}

// Every valid header, parsed alone and with bytes after it.
std::vector<std::string> valid_headers() {
  return {
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
      "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
      "PROXY TCP4 0.0.0.0 10.0.0.1 0 80\r\n",
      "PROXY TCP6 2001:db8::1 ::1 1 65535\r\n",
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
      "65535 65535\r\n",
      "PROXY TCP6 ::ffff:192.0.2.1 ::ffff:10.0.0.1 4000 443\r\n",
      "PROXY UNKNOWN\r\n",
      "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:"
      "ffff 65535 65535\r\n",
      v2(0x21, 0x11, ipv4_block()),
      v2(0x21, 0x21, ipv6_block()),
      v2(0x21, 0x31, unix_block("/run/client.sock", "/run/lb.sock")),
      v2(0x21, 0x00, ""),
      v2(0x20, 0x00, ""),
      v2(0x20, 0x11, ipv4_block()),
      v2(0x21, 0x11, ipv4_block() + tlv(0x01, "h2") + tlv(0x04, "") + tlv(0xEA, "vpce-1")),
      v2(0x21, 0x12, ipv4_block()),
  };
}

TEST_CASE("PROXY v1 TCP4 names the client and the server", "[proxy]") {
  ProxyHeader h;
  std::string line = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
  REQUIRE(parse(line + "GET / HTTP/1.1\r\n\r\n", h) == ProxyParse::done);
  CHECK(h.size == line.size());
  CHECK(h.version == 1);
  CHECK_FALSE(h.local);
  REQUIRE(h.client);
  CHECK(h.client->host == "192.0.2.1");
  CHECK(h.client->port == 56324);
  REQUIRE(h.server);
  CHECK(h.server->host == "198.51.100.2");
  CHECK(h.server->port == 443);
}

TEST_CASE("PROXY v1 TCP6 addresses read as the socket would report them", "[proxy]") {
  ProxyHeader h;
  REQUIRE(parse("PROXY TCP6 2001:DB8:0:0:0:0:0:1 0:0::1 1 65535\r\n", h) == ProxyParse::done);
  CHECK(h.client->host == "2001:db8::1");
  CHECK(h.client->port == 1);
  CHECK(h.server->host == "::1");
  CHECK(h.server->port == 65535);

  auto client = [](std::string_view src) {
    ProxyHeader out;
    auto result = parse(v1_tcp6(src), out);
    return result == ProxyParse::done ? out.client->host : "invalid: " + out.error;
  };
  CHECK(client("::") == "::");
  CHECK(client("::1") == "::1");
  CHECK(client("1::") == "1::");
  CHECK(client("1:0:0:2:0:0:0:3") == "1:0:0:2::3");    // the longest zero run
  CHECK(client("1:0:0:2:0:0:3:4") == "1::2:0:0:3:4");  // the first of equal runs
  CHECK(client("1:0:2:3:4:5:6:7") == "1:0:2:3:4:5:6:7");
  CHECK(client("1:2:3:4:5:6:7::") == "1:2:3:4:5:6:7:0");
  CHECK(client("::FFFF:c000:0201") == "::ffff:192.0.2.1");
  CHECK(client("::ffff:192.0.2.1") == "::ffff:192.0.2.1");
  CHECK(client("1:2:3:4:5:6:192.0.2.1") == "1:2:3:4:5:6:c000:201");
  CHECK(client("fe80::a:b") == "fe80::a:b");
}

TEST_CASE("PROXY v1 UNKNOWN keeps the socket's addresses", "[proxy]") {
  ProxyHeader h;
  REQUIRE(parse("PROXY UNKNOWN\r\nGET", h) == ProxyParse::done);
  CHECK(h.size == 15);
  CHECK_FALSE(h.client);
  CHECK_FALSE(h.server);
  // "the receiver must ignore anything presented before the CRLF"
  REQUIRE(parse("PROXY UNKNOWN whatever 1.2.3.4 x\r\n", h) == ProxyParse::done);
  CHECK_FALSE(h.client);
  std::string worst = valid_headers()[7];
  REQUIRE(worst.size() == 107);
  REQUIRE(parse(worst, h) == ProxyParse::done);
  CHECK(h.size == 107);
}

TEST_CASE("PROXY v1 lines are at most 107 bytes", "[proxy]") {
  // The longest valid lines of §2.1.
  CHECK(valid_headers()[1].size() == 56);
  CHECK(valid_headers()[4].size() == 104);
  std::string long_unknown = "PROXY UNKNOWN " + std::string(92, 'x') + "\r\n";
  REQUIRE(long_unknown.size() == 108);
  ProxyHeader h;
  CHECK(parse(long_unknown, h) == ProxyParse::invalid);
  CHECK(h.error.find("107") != std::string::npos);
  // Without its CRLF, refused once 107 bytes have come.
  CHECK(parse(long_unknown.substr(0, 106)) == ProxyParse::need_more);
  CHECK(parse(long_unknown.substr(0, 107)) == ProxyParse::invalid);
  // A dotted IPv6 tail is valid text, but two of the longest overflow the line.
  std::string wide = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
  CHECK(parse(v1_tcp6(wide, "::1")) == ProxyParse::done);
  CHECK(parse(v1_tcp6(wide, wide)) == ProxyParse::invalid);
}

TEST_CASE("PROXY v2 over IPv4 and IPv6", "[proxy]") {
  ProxyHeader h;
  auto header = v2(0x21, 0x11, ipv4_block());
  REQUIRE(parse(header + "PRI * HTTP/2.0", h) == ProxyParse::done);
  CHECK(h.size == 28);
  CHECK(h.version == 2);
  CHECK_FALSE(h.local);
  CHECK(h.client->host == "192.0.2.1");
  CHECK(h.client->port == 56324);
  CHECK(h.server->host == "198.51.100.2");
  CHECK(h.server->port == 443);

  header = v2(0x21, 0x21, ipv6_block());
  REQUIRE(parse(header, h) == ProxyParse::done);
  CHECK(h.size == 52);
  CHECK(h.client->host == "2001:db8::1");
  CHECK(h.client->port == 1);
  CHECK(h.server->host == "::ffff:192.0.2.9");
  CHECK(h.server->port == 65535);
}

TEST_CASE("PROXY v2 AF_UNIX names the client's path only", "[proxy]") {
  ProxyHeader h;
  REQUIRE(parse(v2(0x21, 0x31, unix_block("/run/client.sock", "/run/lb.sock")), h) ==
          ProxyParse::done);
  CHECK(h.size == 16 + 216);
  REQUIRE(h.client);
  CHECK(h.client->host == "/run/client.sock");
  CHECK(h.client->port == 0);
  CHECK_FALSE(h.server);
  // A path that fills all 108 bytes has no NUL.
  std::string full(108, 'p');
  REQUIRE(parse(v2(0x21, 0x31, full + full), h) == ProxyParse::done);
  CHECK(h.client->host == full);
}

TEST_CASE("PROXY v2 LOCAL, UNSPEC and DGRAM keep the socket's addresses", "[proxy]") {
  ProxyHeader h;
  REQUIRE(parse(v2(0x20, 0x00, ""), h) == ProxyParse::done);
  CHECK(h.size == 16);
  CHECK(h.local);
  CHECK_FALSE(h.client);
  // LOCAL: "discard the protocol block including the family which is ignored", whatever it
  // says, and skip `len` bytes whatever they are.
  REQUIRE(parse(v2(0x20, 0x11, ipv4_block()), h) == ProxyParse::done);
  CHECK(h.local);
  CHECK(h.size == 28);
  CHECK_FALSE(h.client);
  REQUIRE(parse(v2(0x20, 0xFF, "junk"), h) == ProxyParse::done);
  CHECK(h.size == 20);
  // PROXY with AF_UNSPEC: "The receiver should ignore address information".
  REQUIRE(parse(v2(0x21, 0x00, "\x01\x02\x03"), h) == ProxyParse::done);
  CHECK_FALSE(h.local);
  CHECK_FALSE(h.client);
  CHECK(h.size == 19);
  // UDP and a transport-less INET fall back to UNSPEC.
  REQUIRE(parse(v2(0x21, 0x12, ipv4_block()), h) == ProxyParse::done);
  CHECK_FALSE(h.client);
  REQUIRE(parse(v2(0x21, 0x10, ipv4_block()), h) == ProxyParse::done);
  CHECK_FALSE(h.client);
}

TEST_CASE("PROXY v2 TLVs are skipped", "[proxy]") {
  ProxyHeader h;
  std::string tlvs = tlv(0x01, "h2") + tlv(0x02, "example.com") + tlv(0x04, "") +
                     tlv(0x05, std::string(128, 'u')) +
                     tlv(0x20, "\x01\x00\x00\x00\x00"s + tlv(0x21, "TLSv1.3"));
  std::string header = v2(0x21, 0x11, ipv4_block() + tlvs);
  REQUIRE(parse(header + "GET / HTTP/1.1\r\n", h) == ProxyParse::done);
  CHECK(h.size == header.size());
  CHECK(h.client->host == "192.0.2.1");
  // Up to the bound: one padding TLV that fills the header to 4096 bytes.
  std::string big = v2(0x21, 0x11, ipv4_block() + tlv(0x04, std::string(4096 - 28 - 3, '\0')));
  REQUIRE(big.size() == kProxyV2MaxSize);
  REQUIRE(parse(big, h) == ProxyParse::done);
  CHECK(h.size == 4096);
}

TEST_CASE("PROXY: every prefix of a header asks for more, bytes after it are left", "[proxy]") {
  for (const auto& header : valid_headers()) {
    CAPTURE(header);
    for (std::size_t n = 0; n < header.size(); ++n) {
      CAPTURE(n);
      ProxyHeader h;
      CHECK(parse(header.substr(0, n), h) == ProxyParse::need_more);
    }
    for (std::string after : {"", "GET / HTTP/1.1\r\n\r\n", "\x16\x03\x01\x02\x00", "\r\n\r\n"}) {
      ProxyHeader h;
      REQUIRE(parse(header + after, h) == ProxyParse::done);
      CHECK(h.size == header.size());
    }
  }
}

TEST_CASE("PROXY: a client that sends no header fails on its first bytes", "[proxy]") {
  ProxyHeader h;
  CHECK(parse("G", h) == ProxyParse::invalid);
  CHECK(h.error == "not a PROXY protocol header");
  CHECK(parse("\x16") == ProxyParse::invalid);  // a TLS ClientHello
  CHECK(parse("PO") == ProxyParse::invalid);    // POST
  CHECK(parse("PU") == ProxyParse::invalid);    // PUT
  CHECK(parse("PA") == ProxyParse::invalid);    // PATCH
  CHECK(parse("PRI") == ProxyParse::invalid);   // the HTTP/2 preface
  CHECK(parse("\r\n") == ProxyParse::need_more);
  CHECK(parse("\r\n\r\n\x01") == ProxyParse::invalid);
  CHECK(parse("\r\nGET") == ProxyParse::invalid);  // a stray CRLF before a request
  for (std::string plain :
       {"GET / HTTP/1.1\r\nHost: x\r\n\r\n"s, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"s,
        "POST /x HTTP/1.1\r\n"s, "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"s}) {
    CAPTURE(plain);
    CHECK(parse(plain) == ProxyParse::invalid);
  }
}

TEST_CASE("PROXY v1: malformed lines are invalid", "[proxy]") {
  std::vector<std::string> bad = {
      "PROXY  TCP4 192.0.2.1 192.0.2.2 1 2\r\n",     // two spaces
      "proxy TCP4 192.0.2.1 192.0.2.2 1 2\r\n",      // case
      "PROXY TCP5 192.0.2.1 192.0.2.2 1 2\r\n",      // protocol
      "PROXY UDP4 192.0.2.1 192.0.2.2 1 2\r\n",      // protocol
      "PROXY UNKNOWNX\r\n",                          // protocol
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n",        // LF alone
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\rX",       // CR alone
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 2 \r\n",     // trailing space
      "PROXY UNKNOWN\n",                             // LF alone
      "PROXY UNKNOWN x\ny\r\n",                      // LF alone
      "PROXY UNKNOWN\rx\r\n",                        // CR alone
      "PROXY TCP4 192.0.2.1 192.0.2.2 65536 2\r\n",  // port range
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 99999\r\n",  // port range
      "PROXY TCP4 192.0.2.1 192.0.2.2 01 2\r\n",     // heading zero
      "PROXY TCP4 192.0.2.1 192.0.2.2 -1 2\r\n",     // sign
      "PROXY TCP4 192.0.2.1 192.0.2.2  2\r\n",       // empty port
      "PROXY TCP4 192.0.2.1 192.0.2.2 1\r\n",        // missing port
      "PROXY TCP4 192.0.2.1 192.0.2.2 0x1 2\r\n",    // hex port
      "PROXY TCP4 192.0.2.256 192.0.2.2 1 2\r\n",    // octet range
      "PROXY TCP4 192.0.02.1 192.0.2.2 1 2\r\n",     // heading zero
      "PROXY TCP4 192.0.2 192.0.2.2 1 2\r\n",        // three octets
      "PROXY TCP4 192.0.2.1.5 192.0.2.2 1 2\r\n",    // five octets
      "PROXY TCP4 192..2.1 192.0.2.2 1 2\r\n",       // empty octet
      "PROXY TCP4 ::1 192.0.2.2 1 2\r\n",            // IPv6 in TCP4
      "PROXY TCP6 192.0.2.1 ::1 1 2\r\n",            // IPv4 in TCP6
      "PROXY TCP4 localhost 192.0.2.2 1 2\r\n",      // a name
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 2 3\r\n",    // one field too many
      "PROXY TCP4\r\n",                              // no addresses
      v1_tcp6(":::"),                                // three colons
      v1_tcp6("1::2::3"),                            // two gaps
      v1_tcp6(":1::2"),                              // lone leading colon
      v1_tcp6("1::2:"),                              // lone trailing colon
      v1_tcp6("1:2:3:4:5:6:7"),                      // seven groups
      v1_tcp6("1:2:3:4:5:6:7:8:9"),                  // nine groups
      v1_tcp6("1:2:3:4:5:6:7:8::"),                  // a gap beside eight groups
      v1_tcp6("::1:2:3:4:5:6:7:8"),                  // a gap beside eight groups
      v1_tcp6("12345::"),                            // five hex digits
      v1_tcp6("g::"),                                // not hex
      v1_tcp6("[::1]"),                              // brackets
      v1_tcp6("fe80::1%eth0"),                       // zone
      v1_tcp6("::ffff:192.0.2.256"),                 // octet range
      v1_tcp6("::ffff:192.0.2"),                     // short tail
      v1_tcp6("::192.0.2.1:1"),                      // tail not last
      v1_tcp6("1:2:3:4:5:6:7:1.2.3.4"),              // tail past 128 bits
      v1_tcp6("1:2:3:4:5::6:1.2.3.4"),               // tail past 128 bits with a gap
      v1_tcp6("1:2:3:4:5:1.2.3.4"),                  // tail short of 128 bits
      v1_tcp6("::ff.1.2.3"),                         // hex in the tail
  };
  for (const auto& line : bad) {
    CAPTURE(line);
    ProxyHeader h;
    CHECK(parse(line, h) == ProxyParse::invalid);
    CHECK_FALSE(h.error.empty());
  }
}

TEST_CASE("PROXY v1: a bad field fails before the line ends", "[proxy]") {
  CHECK(parse("PROXY TCP4 256") == ProxyParse::invalid);
  CHECK(parse("PROXY TCP4 01") == ProxyParse::invalid);
  CHECK(parse("PROXY TCP4 1.2.3.4 5.6.7.8 65536") == ProxyParse::invalid);
  CHECK(parse("PROXY TCP6 :::") == ProxyParse::invalid);
  CHECK(parse("PROXY TCP6 1:2:3:4:5:6:7:8:") == ProxyParse::invalid);
  CHECK(parse("PROXY TCP6 12345") == ProxyParse::invalid);
  CHECK(parse("PROXY TCP6 ::1 ") == ProxyParse::need_more);
  CHECK(parse("PROXY TCP6 ::ffff:1.2") == ProxyParse::need_more);
}

TEST_CASE("PROXY v2: malformed headers are invalid", "[proxy]") {
  struct Case {
    std::string bytes;
    std::string_view error;
  };
  std::string ok = v2(0x21, 0x11, ipv4_block());
  auto with = [&](std::size_t at, char value) {
    std::string bytes = ok;
    bytes[at] = value;
    return bytes;
  };
  std::vector<Case> bad = {
      {with(4, '\x01'), "signature"},
      {with(11, '\r'), "signature"},
      {with(12, '\x11'), "version"},  // version 1 in the binary form
      {with(12, '\x31'), "version"},
      {with(12, '\x22'), "command"},
      {with(12, '\x2F'), "command"},
      {with(13, '\x41'), "family"},  // no family 4
      {with(13, '\x13'), "family"},  // no transport 3
      {v2(0x21, 0x11, ipv4_block().substr(0, 11)), "too short"},
      {v2(0x21, 0x21, ipv6_block().substr(0, 35)), "too short"},
      {v2(0x21, 0x21, ipv4_block()), "too short"},
      {v2(0x21, 0x31, std::string(215, '\0')), "too short"},
      {v2(0x21, 0x11, ipv4_block() + "\x04\x00"), "TLV"},
      {v2(0x21, 0x11, ipv4_block() + tlv(0x01, "h2").substr(0, 4)), "TLV"},
      {v2(0x21, 0x11, ipv4_block() + tlv(0x04, "") + "\x01"), "TLV"},
  };
  for (const auto& c : bad) {
    CAPTURE(c.bytes, c.error);
    ProxyHeader h;
    CHECK(parse(c.bytes, h) == ProxyParse::invalid);
    CHECK(h.error.find(c.error) != std::string::npos);
  }
  // A length past the bound fails on the 16 fixed bytes, before any of the rest has come.
  ProxyHeader h;
  CHECK(parse(kSignature + "\x21\x11" + be16(4096 - 16 + 1), h) == ProxyParse::invalid);
  CHECK(h.error.find("4096") != std::string::npos);
  CHECK(parse(kSignature + "\x21\x11" + be16(65535)) == ProxyParse::invalid);
  CHECK(parse(kSignature + "\x21\x11" + be16(4096 - 16)) == ProxyParse::need_more);
  // So does a length too short for the family.
  CHECK(parse(kSignature + "\x21\x21" + be16(12)) == ProxyParse::invalid);
  // And a bad version, before the family.
  CHECK(parse(kSignature + "\x01") == ProxyParse::invalid);
}

// A bad byte anywhere in a valid header: the answer, read a byte at a time, never goes back
// from invalid or done, and a header that parses whole was need_more on every shorter prefix.
TEST_CASE("PROXY: answers on growing prefixes are consistent", "[proxy]") {
  std::mt19937 random(20240611);
  auto headers = valid_headers();
  for (int round = 0; round < 4000; ++round) {
    std::string bytes = headers[random() % headers.size()];
    int changes = 1 + int(random() % 3);
    for (int i = 0; i < changes; ++i) bytes[random() % bytes.size()] = char(random() % 256);
    bytes += "GET";
    ProxyParse last = ProxyParse::need_more;
    std::size_t size = 0;
    for (std::size_t n = 0; n <= bytes.size(); ++n) {
      ProxyHeader h;
      auto result = parse(std::string_view(bytes).substr(0, n), h);
      if (last == ProxyParse::invalid) {
        REQUIRE(result == ProxyParse::invalid);
      } else if (last == ProxyParse::done) {
        REQUIRE(result == ProxyParse::done);
        REQUIRE(h.size == size);
      } else if (result == ProxyParse::done) {
        REQUIRE(h.size == n);
        size = h.size;
      } else if (result == ProxyParse::invalid) {
        REQUIRE_FALSE(h.error.empty());
      }
      REQUIRE(h.size <= n);
      last = result;
    }
  }
}

}  // namespace
}  // namespace junction::gateway
