// libFuzzer target: the bytes a client sends on one plain-text connection, as the server serves
// it (fuzz_server.hpp): HTTP/1.1 requests, pipelined or not, with bodies of every framing, and
// the hand-overs a connection can make: an h2c upgrade, the HTTP/2 preface, a WebSocket. The
// first byte says how the rest is cut into reads.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_server.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  junction::fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return -1;  // not worth keeping: there is no read size
  junction::fuzz::FuzzServer server;
  server.serve(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1),
               junction::fuzz::read_size(data[0]));
  return 0;
}
