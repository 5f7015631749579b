// libFuzzer target: frames a client sends on an HTTP/2 connection (prior knowledge, as
// --http 2 serves it), after the connection preface and an empty SETTINGS frame that the target
// sends itself, so that every input starts inside a session: HEADERS and CONTINUATION with
// HPACK blocks, DATA, flow control, priorities, resets, pings, GOAWAY. The session answers
// with frames of its own, which the in-memory peer takes. The first byte says how the rest is
// cut into reads.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_server.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  junction::fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return -1;
  // RFC 9113 §3.4: the preface, then a SETTINGS frame (here: no settings).
  static const std::string kStart = std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") +
                                    std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);
  std::string bytes = kStart;
  bytes.append(reinterpret_cast<const char*>(data) + 1, size - 1);
  junction::fuzz::FuzzServer server(junction::gateway::HttpMode::http2);
  server.serve(bytes, junction::fuzz::read_size(data[0]));
  return 0;
}
