// The HTTP/2 connection, compiled once for each stream the server runs it on: a plain socket
// (TCP or Unix) and TLS over one. Callers see only http2.hpp.
#include "http2/serve.hpp"
#include "http2/session.hpp"
#include "tls/stream.hpp"

namespace junction::http2 {

bool accepts_upgrade(std::string_view settings, bool head_request) {
  return Session::accepts_upgrade(settings, head_request);
}

using TlsSocket = tls::TlsStream<gateway::Socket>;

template class Connection<gateway::Socket>;
template class Connection<TlsSocket>;
template gateway::awaitable<void> async_serve(gateway::Socket, Start, gateway::ConnectionSlot&);
template gateway::awaitable<void> async_serve(TlsSocket, Start, gateway::ConnectionSlot&);

}  // namespace junction::http2
