// Request buffering (--request-buffer-size, --request-buffer-total; docs/reliability.md, "Slow
// uploads"): a request whose body fits in `size` bytes reaches its app only once the whole body
// has arrived, so that a client uploading one byte every few seconds holds a connection, which
// is cheap, and not a WSGI thread or an ASGI concurrency slot, which the app has few of. The
// body is read on the connection's I/O thread; the app then reads it from memory.
//
// A body of unknown length (chunked, or HTTP/2 without content-length) is read up to `size`
// bytes: when it ends by then it is buffered whole, else the app gets what was read followed by
// the rest as it comes, as without buffering. Bytes held this way come out of one process-wide
// ByteBudget; a request that would pass it streams to its app as without buffering, so the
// budget bounds memory and refuses nobody. WebSocket requests have no body to wait for.
//
// When the body cannot be read whole (the client left, stalled past --timeout-request-body or
// --min-request-body-rate, sent too much or bad framing), the protocol has answered for it (or
// there is no one to answer) and the app never sees the request.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "gateway/byte_budget.hpp"
#include "gateway/exchange.hpp"

namespace junction::gateway {

struct RequestBuffering {
  std::size_t size = 64 << 10;         // --request-buffer-size; 0: off
  std::uint64_t total = 256ull << 20;  // --request-buffer-total
};

class BufferingApp final : public App {
 public:
  BufferingApp(std::shared_ptr<App> inner, std::shared_ptr<ByteBudget> budget, std::size_t size);

  void handle(std::shared_ptr<Exchange> exchange) override;

 private:
  std::shared_ptr<App> inner_;
  std::shared_ptr<ByteBudget> budget_;
  std::size_t size_;
};

// `app` behind buffering, or `app` itself when buffering is off (size 0).
std::shared_ptr<App> buffered(std::shared_ptr<App> app, const std::shared_ptr<ByteBudget>& budget,
                              std::size_t size);

}  // namespace junction::gateway
