// One accepted socket, from its first byte to its close: the one way a connection starts
// (the shape of Beast's server-flex-awaitable and nghttpx's upstream choice). The coroutine
// registers the socket with its I/O thread for the socket's whole life (a ConnectionSlot),
// reads the PROXY protocol header first when the listener asks for one, runs the TLS
// handshake under its deadline when the listener has TLS, picks the protocol
// (ALPN; in plain text, the HTTP/2 preface or an h2c upgrade, both of which HTTP/1.1 hands
// back), and awaits the HTTP/1.1 or HTTP/2 session. Its frame owns every phase: nothing it
// started outlives it.
#pragma once

#include <spdlog/spdlog.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <utility>

#include "gateway/connection.hpp"
#include "gateway/options.hpp"
#include "gateway/server/proxy_header.hpp"
#include "gateway/transport.hpp"
#include "http1/http1.hpp"
#include "http2/http2.hpp"
#include "http2/options.hpp"
#include "tls/context.hpp"
#include "tls/stream.hpp"

namespace junction::gateway {

// What every connection of a server starts from; outlives them all.
struct ServeContext {
  const ConnectionContext& connection;
  const http2::Options& http2;
  HttpMode mode;
  seconds_d handshake_timeout;
  // --proxy-protocol: every connection starts with a PROXY header (v1 or v2), read before TLS
  // and HTTP, from peers `forwarded->trusted` trusts only (others are closed).
  bool proxy_protocol = false;
  const ForwardedPolicy* forwarded = nullptr;
};

namespace detail {

// Runs HTTP/1.1, or HTTP/2 from the start (`http2`), on `stream`; an HTTP/1.1 connection that
// turns into HTTP/2 goes on as one on the same stream, in the same slot.
template <class Stream>
awaitable<void> async_serve_protocols(Stream stream, bool http2, const ServeContext& serve,
                                      Address client, Address server,
                                      std::shared_ptr<const TlsInfo> tls, ConnectionSlot& slot) {
  http2::Start h2{serve.connection, serve.http2, client, server, tls, {}, {}, {}};
  // Connections open now, by the protocol they speak (an upgrade moves one from 1.1 to 2).
  auto metrics = serve.connection.metrics;
  auto open_gauge = [&](bool h2) {
    return h2 ? (tls ? gauge::open_http2_tls : gauge::open_http2_plain)
              : (tls ? gauge::open_http1_tls : gauge::open_http1_plain);
  };
  GaugeHold open(metrics, open_gauge(http2));
  if (!http2) {
    http1::Switches switches;
    // h2c, by prior knowledge or by Upgrade, exists in plain text only (RFC 9113 §3.3; over TLS
    // only ALPN picks HTTP/2).
    if (serve.mode == HttpMode::automatic && !tls) {
      switches.prior_knowledge = true;
      switches.accepts_h2c = &http2::accepts_upgrade;
    }
    // A named Start, not a temporary in the co_await expression: GCC 12 mis-copies an
    // aggregate prvalue argument of a coroutine there (ASan saw the frame's strings point into
    // the caller's frame).
    http1::Start h1{serve.connection, client, server, tls, switches};
    auto handover = co_await http1::async_serve(std::move(stream), std::move(h1), slot);
    if (!handover) co_return;
    open = GaugeHold(metrics, open_gauge(true));
    h2.initial = std::move(handover->to_http2.buffered);
    h2.upgrade = std::move(handover->to_http2.request);
    h2.upgrade_settings = std::move(handover->to_http2.settings);
    co_await http2::async_serve(std::move(handover->stream), std::move(h2), slot);
    co_return;
  }
  co_await http2::async_serve(std::move(stream), std::move(h2), slot);
}

// A phase whose only work is one operation raced against `timer` (a TLS handshake, a lingering
// close): shutdown and terminate end it by expiring the timer, which ends the race.
class TimedPhase final : public Closable {
 public:
  explicit TimedPhase(Timer& timer) : timer_(timer) {}
  void on_shutdown() override { timer_.expires_at(Clock::time_point::min()); }
  void terminate() override { timer_.expires_at(Clock::time_point::min()); }

 private:
  Timer& timer_;
};

// A plain HTTP request on a TLS port: a 400 that says so (as nginx answers), then a short
// lingering close so that the rest of the request does not turn the answer into a reset.
template <class Socket>
awaitable<void> async_refuse_plain_http(Socket& socket, ConnectionSlot& slot) {
  error_code ec;
  asio::write(socket, asio::buffer(tls::kPlainHttpAnswer), ec);  // non-blocking: fits at once
  if (ec) co_return;
  socket.shutdown(asio::socket_base::shutdown_send, ec);
  Timer linger(socket.get_executor());
  linger.expires_after(std::chrono::seconds(1));
  TimedPhase phase(linger);
  ConnectionSlot::Attach attach(slot, phase);
  auto drain = [](Socket& s) -> awaitable<void> {
    char sink[4096];
    for (int reads = 0; reads < 256; ++reads) {
      auto [read_ec, n] = co_await s.async_read_some(asio::buffer(sink), use_awaitable);
      if (read_ec) break;
    }
  };
  using namespace asio::experimental::awaitable_operators;
  co_await (drain(socket) || linger.async_wait(use_awaitable));
}

// --proxy-protocol: the PROXY header, from a trusted peer only (proxy-protocol.txt §2: "The
// receiver SHOULD ensure proper access filtering so that only trusted proxies are allowed to
// use this protocol"; the --forwarded-allow-ips list decides, as gunicorn's does), raced
// against --timeout-request-header (a header sent a byte at a time is a slowloris, §2 allows "a
// short timeout") and the server's shutdown. TCP4/TCP6/AF_UNIX name the client (TCP the server
// too); LOCAL, UNKNOWN and UNSPEC keep the socket's (§2.1, §2.2). False: close the socket ("The
// receiver MUST NOT start processing the connection before it receives a complete and valid
// PROXY protocol header").
template <class Socket>
awaitable<bool> async_accept_proxy_header(Socket& socket, const ServeContext& serve,
                                          Address& client, Address& server, ConnectionSlot& slot) {
  if (!serve.forwarded || !serve.forwarded->trusted.trusts(client)) {
    spdlog::debug("PROXY protocol: {} is not in --forwarded-allow-ips, closed", client.host);
    co_return false;
  }
  ProxyHeader header;
  bool ok = false;
  {
    Timer deadline(socket.get_executor());
    deadline.expires_after(
        std::chrono::duration_cast<Clock::duration>(serve.connection.timeouts.request_header));
    TimedPhase phase(deadline);
    ConnectionSlot::Attach attach(slot, phase);
    using namespace asio::experimental::awaitable_operators;
    auto result =
        co_await (async_read_proxy_header(socket, header) || deadline.async_wait(use_awaitable));
    if (result.index() == 0)
      ok = std::get<0>(result);
    else
      header.error = slot.shutting_down() ? "the server is shutting down" : "timed out";
  }
  if (!ok) {
    spdlog::debug("PROXY protocol header from {} refused: {}", client.host, header.error);
    co_return false;
  }
  if (header.client) client = std::move(*header.client);
  if (header.server) server = std::move(*header.server);
  co_return true;
}

// The TLS handshake, raced against its deadline (and the server's shutdown). Then HTTP/2 or
// HTTP/1.1 as ALPN settled (RFC 7301; RFC 9113 §3.2: h2 is only ever chosen by ALPN over TLS;
// no ALPN means HTTP/1.1, or HTTP/2 under --http 2).
template <class Socket>
awaitable<void> async_serve_tls(Socket socket, const ServeContext& serve,
                                std::shared_ptr<const tls::ServerContexts> contexts, Address client,
                                Address server, ConnectionSlot& slot) {
  auto ssl = contexts->new_ssl();
  if (!ssl) {
    spdlog::error("cannot make a TLS session for a connection from {}", client.host);
    co_return;
  }
  tls::TlsStream<Socket> stream(std::move(socket), std::move(ssl));
  error_code ec;
  {
    Timer deadline(stream.get_executor());
    deadline.expires_after(std::chrono::duration_cast<Clock::duration>(serve.handshake_timeout));
    TimedPhase phase(deadline);
    ConnectionSlot::Attach attach(slot, phase);
    using namespace asio::experimental::awaitable_operators;
    auto result =
        co_await (stream.async_handshake(use_awaitable) || deadline.async_wait(use_awaitable));
    ec = result.index() == 0 ? std::get<0>(std::get<0>(result)) : asio::error::timed_out;
  }
  if (auto metrics = serve.connection.metrics; metrics && ec)
    metrics.add(ec == asio::error::timed_out ? counter::tls_timeout : counter::tls_failed);
  if (ec) {
    if (tls::is_plain_http(ec) && !slot.shutting_down())
      co_await async_refuse_plain_http(stream.next_layer(), slot);
    spdlog::debug("TLS handshake with {} failed: {}", client.host, ec.message());
    error_code ignored;
    stream.next_layer().close(ignored);
    co_return;
  }
  // OpenSSL counts its references to the contexts; the set itself (its callbacks) is needed
  // only until here.
  auto* native = stream.native_handle();
  auto info = contexts->describe(native);
  if (auto metrics = serve.connection.metrics)
    metrics.add(info->protocol_version == 0x0304   ? counter::tls_ok_tls13
                : info->protocol_version == 0x0303 ? counter::tls_ok_tls12
                                                   : counter::tls_ok_other);
  auto alpn = tls::ServerContexts::negotiated(native);
  bool http2 =
      alpn == tls::Alpn::http2 || (alpn == tls::Alpn::none && serve.mode == HttpMode::http2);
  co_await async_serve_protocols(std::move(stream), http2, serve, std::move(client),
                                 std::move(server), std::move(info), slot);
}

}  // namespace detail

// Serves one accepted socket until it closes. `registry` is its I/O thread's (the coroutine
// runs there); `live` counts it for the server's drain from the moment it was accepted until
// the frame is gone. `contexts`: the TLS certificates of the listener, null for plain text.
template <class Socket>
awaitable<void> async_serve_connection(Socket socket, const ServeContext& serve,
                                       std::shared_ptr<const tls::ServerContexts> contexts,
                                       Address client, Address server, ConnectionRegistry& registry,
                                       LiveCounter::Token live) {
  (void)live;  // released with the frame
  ConnectionSlot slot(registry);
  if (auto metrics = serve.connection.metrics)
    metrics.add(contexts ? counter::accepted_tls : counter::accepted_plain);
  if (serve.proxy_protocol) {
    // The header is peeked at on the socket's descriptor; the unit tests' in-memory stream has
    // none, and a PROXY listener serves nothing without a header.
    if constexpr (requires(Socket & s) { s.native_handle(); }) {
      if (!co_await detail::async_accept_proxy_header(socket, serve, client, server, slot))
        co_return;
    } else {
      co_return;
    }
  }
  if (contexts) {
    // TLS needs a real socket (OpenSSL writes to its descriptor); the unit tests' in-memory
    // stream serves plain text only.
    if constexpr (requires(Socket & s) { s.native_handle(); }) {
      co_await detail::async_serve_tls(std::move(socket), serve, std::move(contexts),
                                       std::move(client), std::move(server), slot);
    }
    co_return;
  }
  co_await detail::async_serve_protocols(std::move(socket), serve.mode == HttpMode::http2, serve,
                                         std::move(client), std::move(server), nullptr, slot);
}

}  // namespace junction::gateway
