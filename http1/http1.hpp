// HTTP/1.1 (RFC 9112): what the server starts a connection with. Everything else of this layer
// (the parser, the framing, the connection, WebSockets) is behind this entry point; the server
// compiles none of it, the connection is instantiated once for each stream in instances.cpp.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/connection.hpp"
#include "gateway/exchange.hpp"
#include "gateway/transport.hpp"

namespace junction::tls {
template <class Socket>
class TlsStream;
}  // namespace junction::tls

namespace junction::http1 {

// RFC 9113 §3.4: a client with prior knowledge of HTTP/2 opens with this preface; an HTTP/1.1
// request line never starts with it.
inline constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// When a connection may turn into HTTP/2 (the listener's protocols decide).
struct Switches {
  // RFC 9113 §3.3: a connection that opens with the preface goes to HTTP/2.
  bool prior_knowledge = false;
  // RFC 7540 §3.2: whether HTTP/2 takes a request's HTTP2-Settings (decoded) for an h2c
  // upgrade, asked before the 101 commits the connection; null: Upgrade: h2c is ignored.
  bool (*accepts_h2c)(std::string_view settings, bool head_request) = nullptr;
};

// What an HTTP/1.1 connection hands to HTTP/2 with its stream.
struct Http2Handover {
  std::string buffered;                         // bytes read and not parsed: preface, frames
  std::optional<gateway::RequestHead> request;  // h2c: the request, answered on stream 1
  std::string settings;                         // h2c: its HTTP2-Settings payload, decoded
};

template <class Stream>
struct Handover {
  Stream stream;
  Http2Handover to_http2;
};

// What a connection starts with.
struct Start {
  const gateway::ConnectionContext& context;
  gateway::Address client;
  gateway::Address server;
  std::shared_ptr<const gateway::TlsInfo> tls;  // null: plain text
  Switches switches;
};

// Serves HTTP/1.1 on `stream` until the connection closes (nullopt), or until it turns into
// HTTP/2: then the stream comes back with what to hand over. `slot` brings the server's
// shutdown to it. The frame owns the connection until it returns.
template <class Stream>
gateway::awaitable<std::optional<Handover<Stream>>> async_serve(Stream stream, Start start,
                                                                gateway::ConnectionSlot& slot);

extern template gateway::awaitable<std::optional<Handover<gateway::Socket>>> async_serve(
    gateway::Socket, Start, gateway::ConnectionSlot&);
extern template gateway::awaitable<std::optional<Handover<tls::TlsStream<gateway::Socket>>>>
async_serve(tls::TlsStream<gateway::Socket>, Start, gateway::ConnectionSlot&);

}  // namespace junction::http1
