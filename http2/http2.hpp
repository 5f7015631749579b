// HTTP/2 (RFC 9113): what the server starts a connection with. The session (session.*), its
// streams (stream.hpp) and the connection (connection.hpp) are behind this entry point; the
// connection is instantiated once for each stream in instances.cpp.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/connection.hpp"
#include "gateway/exchange.hpp"
#include "gateway/transport.hpp"
#include "http2/options.hpp"

namespace junction::tls {
template <class Socket>
class TlsStream;
}  // namespace junction::tls

namespace junction::http2 {

// What a connection starts with.
struct Start {
  const gateway::ConnectionContext& context;
  const Options& options;
  gateway::Address client;
  gateway::Address server;
  std::shared_ptr<const gateway::TlsInfo> tls;  // null: plain text
  std::string initial;  // bytes already read from the stream (the preface, frames): fed first
  // RFC 7540 §3.2: the HTTP/1.1 request that upgraded to h2c, with its decoded HTTP2-Settings;
  // the connection answers 101, then the request on stream 1.
  std::optional<gateway::RequestHead> upgrade;
  std::string upgrade_settings;
};

// Whether a session takes `settings` (an HTTP2-Settings payload, decoded) for an h2c upgrade:
// checked before the 101 commits the connection to HTTP/2.
bool accepts_upgrade(std::string_view settings, bool head_request);

// Serves HTTP/2 on `stream` until the connection closes. `slot` brings the server's shutdown
// to it. The frame owns the connection until it returns.
template <class Stream>
gateway::awaitable<void> async_serve(Stream stream, Start start, gateway::ConnectionSlot& slot);

extern template gateway::awaitable<void> async_serve(gateway::Socket, Start,
                                                     gateway::ConnectionSlot&);
extern template gateway::awaitable<void> async_serve(tls::TlsStream<gateway::Socket>, Start,
                                                     gateway::ConnectionSlot&);

}  // namespace junction::http2
