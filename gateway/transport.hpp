// The I/O types every layer shares: connection coroutines typed on the io_context's executor,
// not the type-erased any_io_executor, so every resumption is a direct call into the io_context
// (measured: fewer user-space cycles a request), and the accepted socket, TCP or Unix alike.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

namespace junction::gateway {

namespace asio = boost::asio;

using Executor = asio::io_context::executor_type;
template <class T>
using awaitable = asio::awaitable<T, Executor>;
// co_await op(..., use_awaitable): expected outcomes (EOF, operation_aborted) come back as
// values in a tuple, never as exceptions.
inline constexpr auto use_awaitable = asio::as_tuple(asio::use_awaitable_t<Executor>{});

using Clock = std::chrono::steady_clock;
using Timer = asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, Executor>;

// The names a protocol's connection class uses for these, inherited by both.
struct ConnectionTypes {
  using executor_type = Executor;
  using clock = Clock;
  template <class T>
  using awaitable = gateway::awaitable<T>;
  static constexpr auto use_awaitable = gateway::use_awaitable;
};

// An accepted connection: TCP (IPv4, IPv6) or a Unix socket.
using Socket = asio::basic_stream_socket<asio::generic::stream_protocol, Executor>;

}  // namespace junction::gateway
