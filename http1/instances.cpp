// The HTTP/1.1 connection, compiled once for each stream the server runs it on: a plain socket
// (TCP or Unix) and TLS over one. Callers see only http1.hpp.
#include "http1/connection_loop.hpp"
#include "http1/connection_output.hpp"
#include "http1/connection_read.hpp"
#include "http1/connection_sink.hpp"
#include "http1/serve.hpp"
#include "tls/stream.hpp"
#include "tls/teardown.hpp"

namespace junction::http1 {

using TlsSocket = tls::TlsStream<gateway::Socket>;

template class Connection<gateway::Socket>;
template class Connection<TlsSocket>;
template gateway::awaitable<std::optional<Handover<gateway::Socket>>> async_serve(
    gateway::Socket, Start, gateway::ConnectionSlot&);
template gateway::awaitable<std::optional<Handover<TlsSocket>>> async_serve(
    TlsSocket, Start, gateway::ConnectionSlot&);

}  // namespace junction::http1
