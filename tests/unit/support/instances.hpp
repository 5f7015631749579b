// The connections the unit tests run, instantiated once (instances.cpp) for the streams they use:
// the in-memory stream and a TCP socket. Include this instead of the connections' definitions,
// so no two test files compile the same connection coroutine (GCC 12 names a coroutine's frame
// per translation unit, which link-time optimisation reports as an ODR violation).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <memory>

#include "gateway/connection.hpp"
#include "gateway/server/serve_connection.hpp"
#include "gateway/transport.hpp"
#include "http1/connection.hpp"
#include "http2/connection.hpp"
#include "support/memory_stream.hpp"

namespace junction::test {
using TcpSocket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, gateway::Executor>;
}  // namespace junction::test

extern template class junction::http1::Connection<junction::test::MemoryStream>;
extern template class junction::http1::Connection<junction::test::TcpSocket>;
extern template class junction::http2::Connection<junction::test::MemoryStream>;
namespace junction::gateway {
extern template awaitable<void> async_serve_connection(test::MemoryStream, const ServeContext&,
                                                       std::shared_ptr<const tls::ServerContexts>,
                                                       Address, Address, ConnectionRegistry&,
                                                       LiveCounter::Token);
}  // namespace junction::gateway
