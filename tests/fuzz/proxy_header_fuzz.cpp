// libFuzzer target: the PROXY protocol header parser (gateway/proxy_protocol.hpp, both
// versions) on any bytes, and what its callers rely on: a complete header is no longer than
// the bytes and the bound, and the same bytes cut at the header's end parse to the same
// header; `need_more` is only ever said of fewer bytes than the bound; every prefix of a
// complete header is `need_more`, never `invalid` (the server reads the header in pieces).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>

#include "gateway/proxy_protocol.hpp"

namespace {

using junction::gateway::kProxyHeaderMaxSize;
using junction::gateway::parse_proxy_header;
using junction::gateway::ProxyHeader;
using junction::gateway::ProxyParse;

bool same(const std::optional<junction::gateway::Address>& a,
          const std::optional<junction::gateway::Address>& b) {
  return a.has_value() == b.has_value() && (!a || (a->host == b->host && a->port == b->port));
}

[[noreturn]] void fail(const char* what, std::size_t size) {
  std::fprintf(stderr, "PROXY header parser: %s (input of %zu bytes)\n", what, size);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const char> bytes(reinterpret_cast<const char*>(data), size);
  ProxyHeader header;
  auto result = parse_proxy_header(bytes, header);
  if (result == ProxyParse::need_more && size >= kProxyHeaderMaxSize)
    fail("need_more past the bound", size);
  if (result == ProxyParse::invalid && header.error.empty()) fail("invalid without a reason", size);
  if (result != ProxyParse::done) return 0;
  if (header.size == 0 || header.size > size || header.size > kProxyHeaderMaxSize)
    fail("a complete header of an impossible size", size);
  if (header.version != 1 && header.version != 2) fail("a version that is neither 1 nor 2", size);
  ProxyHeader again;
  if (parse_proxy_header(bytes.first(header.size), again) != ProxyParse::done ||
      again.size != header.size || !same(again.client, header.client) ||
      !same(again.server, header.server) || again.local != header.local)
    fail("the header alone parses otherwise", size);
  // Two prefixes of the header, as two reads of the socket could have cut it.
  for (auto cut : {header.size / 2, header.size - 1}) {
    ProxyHeader part;
    if (cut > 0 && parse_proxy_header(bytes.first(cut), part) != ProxyParse::need_more)
      fail("a prefix of a valid header is not need_more", size);
  }
  return 0;
}
