// Trusted proxy headers: the --forwarded-allow-ips list, and what a trusted peer's
// X-Forwarded-* and RFC 7239 Forwarded fields make of a request head.
#include "gateway/forwarded.hpp"

#include <catch2/catch.hpp>
#include <string>

namespace junction::gateway {
namespace {

TrustedProxies trusted(std::string_view list) {
  std::string error;
  auto parsed = TrustedProxies::parse(list, error);
  INFO(error);
  REQUIRE(parsed);
  return *parsed;
}

ForwardedPolicy policy(std::string_view list = "127.0.0.1,::1", bool forwarded_host = false) {
  return {trusted(list), forwarded_host};
}

// A request from the trusted proxy 127.0.0.1:40000 to 127.0.0.1:8000 for internal:8000.
RequestHead from_proxy(Headers headers, HttpVersion version = {1, 1}) {
  RequestHead head;
  head.version = version;
  head.authority = "internal:8000";
  head.headers.emplace_back(version.major == 2 ? "host" : "Host", "internal:8000");
  for (auto& field : headers) head.headers.push_back(std::move(field));
  head.client = {"127.0.0.1", 40000};
  head.server = {"127.0.0.1", 8000};
  return head;
}

RequestHead applied(Headers headers, const ForwardedPolicy& p = policy()) {
  auto head = from_proxy(std::move(headers));
  apply_forwarded(head, p);
  return head;
}

std::string host_field(const RequestHead& head) {
  std::string value;
  int count = 0;
  for (const auto& [name, v] : head.headers)
    if (name == "Host" || name == "host") value = v, ++count;
  CHECK(count == 1);
  return value;
}

TEST_CASE("TrustedProxies: addresses and ranges and '*' and 'unix'", "[forwarded]") {
  auto list = trusted(" 127.0.0.1 , 10.0.0.0/8, fd00::/8, [::1], 192.168.1.7/24 ");
  CHECK(list.trusts_ip("127.0.0.1"));
  CHECK(list.trusts_ip("10.200.3.4"));
  CHECK_FALSE(list.trusts_ip("11.0.0.1"));
  CHECK(list.trusts_ip("fd12::1"));
  CHECK_FALSE(list.trusts_ip("fe80::1"));
  CHECK(list.trusts_ip("::1"));
  CHECK(list.trusts_ip("192.168.1.200"));  // host bits cleared: 192.168.1.0/24
  CHECK_FALSE(list.trusts_ip("192.168.2.1"));
  // A dual-stack socket reports IPv4 peers as IPv4-mapped IPv6.
  CHECK(list.trusts({"::ffff:127.0.0.1", 5000}));
  CHECK_FALSE(list.trusts({"", 0}));  // a unix peer needs 'unix'
  CHECK_FALSE(list.trusts_ip("not-an-ip"));

  CHECK(trusted("unix").trusts({"", 0}));
  CHECK_FALSE(trusted("unix").trusts({"127.0.0.1", 5000}));
  CHECK(trusted("*").trusts({"203.0.113.9", 1}));
  CHECK(trusted("*").trusts({"", 0}));
  CHECK(trusted("").trusts_nobody());
  CHECK(trusted("0.0.0.0/0").trusts_ip("8.8.8.8"));
  CHECK_FALSE(trusted("0.0.0.0/0").trusts_ip("2001:db8::1"));
}

TEST_CASE("TrustedProxies: a bad entry is named", "[forwarded]") {
  for (std::string_view bad : {"10.0.0.0/33", "::/129", "10.0.0.1/", "10.0.0.1/x", "localhost",
                               "127.0.0.1, bogus", "1.2.3"}) {
    std::string error;
    INFO(bad);
    CHECK_FALSE(TrustedProxies::parse(bad, error));
    CHECK(error.find("is not an IP address") != std::string::npos);
  }
}

TEST_CASE("forwarded_for_peer: only a trusted peer's requests are looked at", "[forwarded]") {
  auto p = policy("10.0.0.0/8");
  CHECK(forwarded_for_peer(&p, {"10.1.1.1", 1}) == &p);
  CHECK(forwarded_for_peer(&p, {"127.0.0.1", 1}) == nullptr);
  CHECK(forwarded_for_peer(nullptr, {"10.1.1.1", 1}) == nullptr);
}

TEST_CASE("X-Forwarded-For: the rightmost untrusted entry is the client", "[forwarded]") {
  SECTION("one entry") {
    auto head = applied({{"X-Forwarded-For", "203.0.113.7"}});
    CHECK(head.client.host == "203.0.113.7");
    CHECK(head.client.port == 0);
  }
  SECTION("spoofed entries to the left of a trusted proxy's are not believed") {
    auto p = policy("127.0.0.1,10.0.0.0/8");
    auto head = applied({{"X-Forwarded-For", "6.6.6.6, 203.0.113.7, 10.0.0.2"}}, p);
    CHECK(head.client.host == "203.0.113.7");
  }
  SECTION("every entry trusted: the leftmost") {
    auto head = applied({{"X-Forwarded-For", "6.6.6.6, 203.0.113.7"}}, policy("*"));
    CHECK(head.client.host == "6.6.6.6");
  }
  SECTION("several fields make one list") {
    auto head = applied({{"X-Forwarded-For", "203.0.113.7"}, {"x-forwarded-for", "127.0.0.1"}});
    CHECK(head.client.host == "203.0.113.7");
  }
  SECTION("ports and IPv6, written as inet_ntop writes them") {
    CHECK(applied({{"X-Forwarded-For", "203.0.113.7:4711"}}).client.port == 4711);
    auto v6 = applied({{"X-Forwarded-For", "[2001:DB8:0::1]:443"}});
    CHECK(v6.client.host == "2001:db8::1");
    CHECK(v6.client.port == 443);
    CHECK(applied({{"X-Forwarded-For", "2001:db8::7"}}).client.host == "2001:db8::7");
  }
  SECTION("an entry that is not an address ends the walk, and the field is ignored") {
    for (std::string_view value : {"garbage", "203.0.113.7, unknown", "1.2.3.4:99999",
                                   "[2001:db8::1", "[1.2.3.4]", "1.2.3.4:"}) {
      INFO(value);
      CHECK(applied({{"X-Forwarded-For", std::string(value)}}).client.host == "127.0.0.1");
    }
  }
  SECTION("an untrusted left-hand entry that is garbage does not matter") {
    CHECK(applied({{"X-Forwarded-For", "garbage, 203.0.113.7"}}).client.host == "203.0.113.7");
  }
}

TEST_CASE("X-Forwarded-Proto and -Scheme set the scheme", "[forwarded]") {
  CHECK(applied({{"X-Forwarded-Proto", "https"}}).scheme == "https");
  CHECK(applied({{"X-Forwarded-Proto", "HTTPS"}}).scheme == "https");
  CHECK(applied({{"X-Forwarded-Proto", "wss"}}).scheme == "https");
  CHECK(applied({{"X-Forwarded-Scheme", "https"}}).scheme == "https");
  // The nearest proxy's word: the last element.
  CHECK(applied({{"X-Forwarded-Proto", "https, http"}}).scheme == "http");
  CHECK(applied({{"X-Forwarded-Proto", "http"}, {"X-Forwarded-Scheme", "https"}}).scheme == "http");
  CHECK(applied({{"X-Forwarded-Proto", "gopher"}}).scheme == "http");
  // Nothing forwarded: the head as it was.
  auto plain = applied({{"Accept", "*/*"}});
  CHECK(plain.scheme == "http");
  CHECK(plain.client.host == "127.0.0.1");
  CHECK(plain.client.port == 40000);
}

TEST_CASE("Forwarded (RFC 7239): for and proto and host of the chosen element", "[forwarded]") {
  SECTION("tokens and quoted values") {
    auto head = applied({{"Forwarded", "for=192.0.2.60;proto=https;by=203.0.113.43"}});
    CHECK(head.client.host == "192.0.2.60");
    CHECK(head.scheme == "https");
  }
  SECTION("a quoted IPv6 address with a port") {
    auto head = applied({{"Forwarded", R"(For="[2001:db8:cafe::17]:4711")"}});
    CHECK(head.client.host == "2001:db8:cafe::17");
    CHECK(head.client.port == 4711);
  }
  SECTION("trusted hops are walked past, and the client's hop gives the scheme") {
    auto head = applied({{"Forwarded",
                          "for=6.6.6.6;proto=https, for=198.51.100.17;proto=https, "
                          "for=127.0.0.1;proto=http"}});
    CHECK(head.client.host == "198.51.100.17");
    CHECK(head.scheme == "https");
  }
  SECTION("an obfuscated or unknown client keeps the socket's, its hop's proto still counts") {
    for (std::string_view value : {"for=_hidden;proto=https", "for=unknown;proto=https",
                                   R"(for="_SEVKISEK";proto=https)", "proto=https"}) {
      INFO(value);
      auto head = applied({{"Forwarded", std::string(value)}});
      CHECK(head.client.host == "127.0.0.1");
      CHECK(head.client.port == 40000);
      CHECK(head.scheme == "https");
    }
  }
  SECTION("several fields and empty elements") {
    auto head = applied({{"Forwarded", "for=192.0.2.1,"}, {"forwarded", " ,for=192.0.2.2"}});
    CHECK(head.client.host == "192.0.2.2");
  }
  SECTION("quoted commas and semicolons stay in their value") {
    auto head = applied({{"Forwarded", R"(for=192.0.2.9;ext="a,b;c";proto=https)"}});
    CHECK(head.client.host == "192.0.2.9");
    CHECK(head.scheme == "https");
  }
  SECTION("a malformed field is ignored whole") {
    for (std::string_view value : {R"(for="192.0.2.1)", "for=192.0.2.1;for=192.0.2.2", "for",
                                   "for=192.0.2.1 x", "=192.0.2.1", "for=;proto=https"}) {
      INFO(value);
      auto head = applied({{"Forwarded", std::string(value) + ";proto=https"}});
      CHECK(head.client.host == "127.0.0.1");
      CHECK(head.scheme == "http");
    }
  }
  SECTION("X-Forwarded-For and -Proto win over it") {
    auto head = applied({{"Forwarded", "for=192.0.2.60;proto=http"},
                         {"X-Forwarded-For", "203.0.113.7"},
                         {"X-Forwarded-Proto", "https"}});
    CHECK(head.client.host == "203.0.113.7");
    CHECK(head.scheme == "https");
  }
  SECTION("each field from its own header when only one X- header is there") {
    auto head =
        applied({{"Forwarded", "for=192.0.2.60;proto=https"}, {"X-Forwarded-For", "203.0.113.7"}});
    CHECK(head.client.host == "203.0.113.7");
    CHECK(head.scheme == "https");
  }
}

TEST_CASE("apply_forwarded with forwarded_host: the authority and the Host field", "[forwarded]") {
  auto with_host = policy("127.0.0.1", true);
  SECTION("off: the host headers change nothing") {
    auto head = applied({{"X-Forwarded-Host", "example.com"}, {"X-Forwarded-Port", "8443"}});
    CHECK(head.authority == "internal:8000");
    CHECK(host_field(head) == "internal:8000");
  }
  SECTION("X-Forwarded-Host replaces the host and its port") {
    auto head = applied({{"X-Forwarded-Host", "example.com"}}, with_host);
    CHECK(head.authority == "example.com");
    CHECK(host_field(head) == "example.com");
  }
  SECTION("X-Forwarded-Port, without the scheme's default") {
    auto head = applied({{"X-Forwarded-Host", "example.com:9000"},
                         {"X-Forwarded-Port", "8443"},
                         {"X-Forwarded-Proto", "https"}},
                        with_host);
    CHECK(head.authority == "example.com:8443");
    auto dflt = applied({{"X-Forwarded-Host", "example.com"},
                         {"X-Forwarded-Port", "443"},
                         {"X-Forwarded-Proto", "https"}},
                        with_host);
    CHECK(dflt.authority == "example.com");
    auto port_only = applied({{"X-Forwarded-Port", "80"}}, with_host);
    CHECK(port_only.authority == "internal");
  }
  SECTION("Forwarded host=, IPv6 literals") {
    auto head = applied({{"Forwarded", R"(for=192.0.2.1;host="[2001:db8::5]:8080")"}}, with_host);
    CHECK(head.authority == "[2001:db8::5]:8080");
  }
  SECTION("invalid hosts and ports are ignored") {
    for (std::string_view value :
         {"evil.com/path", "a b", "user@evil.com", "evil.com:99999", "[::1", "", "evil.com:"}) {
      INFO(value);
      auto head = applied({{"X-Forwarded-Host", std::string(value)}}, with_host);
      CHECK(head.authority == "internal:8000");
    }
    CHECK(applied({{"X-Forwarded-Port", "http"}}, with_host).authority == "internal:8000");
  }
  SECTION("HTTP/2 gets a lower-case host field when it had none") {
    auto head = from_proxy({{"x-forwarded-host", "example.com"}}, {2, 0});
    head.headers.erase(head.headers.begin());  // no host field, as :authority alone
    apply_forwarded(head, with_host);
    CHECK(head.authority == "example.com");
    CHECK(head.headers.back() == Header{"host", "example.com"});
  }
}

TEST_CASE("apply_forwarded is idempotent (an h2c upgrade's head passes twice)", "[forwarded]") {
  auto p = policy("127.0.0.1", true);
  auto head = applied({{"X-Forwarded-For", "203.0.113.7:5"},
                       {"X-Forwarded-Proto", "https"},
                       {"X-Forwarded-Port", "8443"}},
                      p);
  auto again = head;
  apply_forwarded(again, p);
  CHECK(again.client.host == head.client.host);
  CHECK(again.client.port == head.client.port);
  CHECK(again.scheme == head.scheme);
  CHECK(again.authority == "internal:8443");
  CHECK(again.headers == head.headers);
}

}  // namespace
}  // namespace junction::gateway
