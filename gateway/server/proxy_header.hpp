// Reading the PROXY protocol header (gateway/proxy_protocol.hpp) off an accepted socket, before
// TLS and HTTP, without taking a byte that follows it: whatever comes next (a ClientHello, a
// request, the HTTP/2 preface) must reach its own reader untouched. The caller bounds it in
// time and ties it to the server's shutdown (serve_connection.hpp).
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <system_error>

#include "gateway/proxy_protocol.hpp"
#include "gateway/transport.hpp"

namespace junction::gateway {

namespace detail {

// Takes exactly `size` bytes that a peek has already shown are there.
inline bool take_peeked(int fd, char* into, std::size_t size, ProxyHeader& header) {
  while (size > 0) {
    ssize_t n = ::recv(fd, into, size, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      header.error = n < 0 ? std::generic_category().message(errno) : "connection closed";
      return false;
    }
    into += n;
    size -= std::size_t(n);
  }
  return true;
}

}  // namespace detail

// Reads the header into `header`: true once a complete, valid one has been taken off the
// socket, nothing after it; false, with header.error saying why, when the bytes can no longer
// be one (proxy-protocol.txt §2.1, §2.2: "must be discarded and cause the receiver to abort the
// connection") or the socket failed or closed first. Not bounded in time: race it.
//
// Each wake-up peeks at what has arrived and takes it: all of it while the header is
// incomplete (every byte so far is the header's, and taking it lets the next wait sleep until
// more comes instead of waking at once on bytes already seen), exactly the rest of the header
// once it is complete. The header is at most kProxyHeaderMaxSize bytes (the parser fails
// before that), so this frame's buffer holds it whole.
template <class Socket>
awaitable<bool> async_read_proxy_header(Socket& socket, ProxyHeader& header) {
  std::array<char, kProxyHeaderMaxSize> bytes;
  std::size_t have = 0;
  const int fd = socket.native_handle();
  for (;;) {
    auto [ec] = co_await socket.async_wait(asio::socket_base::wait_read, use_awaitable);
    if (ec) {
      header.error = ec.message();
      co_return false;
    }
    // MSG_DONTWAIT: Asio may not have made the descriptor non-blocking yet.
    ssize_t n = ::recv(fd, bytes.data() + have, bytes.size() - have, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      header.error = std::generic_category().message(errno);
      co_return false;
    }
    if (n == 0) {
      header.error = "connection closed before the header ended";
      co_return false;
    }
    const std::size_t seen = have + std::size_t(n);
    auto result = parse_proxy_header(std::span<const char>(bytes.data(), seen), header);
    if (result == ProxyParse::invalid) co_return false;
    const std::size_t take = result == ProxyParse::done ? header.size - have : std::size_t(n);
    if (!detail::take_peeked(fd, bytes.data() + have, take, header)) co_return false;
    have += take;
    if (result == ProxyParse::done) co_return true;
    if (have == bytes.size()) {  // unreachable: the parser refuses longer headers first
      header.error = "PROXY header too long";
      co_return false;
    }
  }
}

}  // namespace junction::gateway
