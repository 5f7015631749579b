// The one instantiation of each connection the unit tests run (instances.hpp).
#include "support/instances.hpp"

#include "http1/connection_loop.hpp"
#include "http1/connection_output.hpp"
#include "http1/connection_read.hpp"
#include "http1/connection_sink.hpp"
#include "http1/serve.hpp"
#include "http2/serve.hpp"

template class junction::http1::Connection<junction::test::MemoryStream>;
template class junction::http1::Connection<junction::test::TcpSocket>;
template class junction::http2::Connection<junction::test::MemoryStream>;
namespace junction::gateway {
template awaitable<void> async_serve_connection(test::MemoryStream, const ServeContext&,
                                                std::shared_ptr<const tls::ServerContexts>, Address,
                                                Address, ConnectionRegistry&, LiveCounter::Token);
}  // namespace junction::gateway
