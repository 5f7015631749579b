// Serves the router's apps with Http1Connection over real TCP sockets on 127.0.0.1 (port 0),
// from an I/O thread of its own, as the server does: for tests that need a socket (WebSocket
// through Beast, sendfile). Fill limits, timeouts and routes, start(), connect to port().
// Header-only.
#pragma once

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "gateway/connection.hpp"
#include "gateway/options.hpp"
#include "gateway/router.hpp"
#include "support/instances.hpp"

namespace junction::test {

namespace asio = boost::asio;

class TcpServer {
  // Declared first: destroyed last, after everything that holds its handlers.
  asio::io_context io_;

 public:
  using Socket = TcpSocket;
  using Connection = http1::Connection<Socket>;

  TcpServer() = default;
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;
  ~TcpServer() { stop(); }

  void start() {
    acceptor_.emplace(io_, asio::ip::tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0});
    port_ = acceptor_->local_endpoint().port();
    context_.emplace(gateway::ConnectionContext{limits, timeouts, router, nullptr});
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }

  std::uint16_t port() const noexcept { return port_; }

  // Runs `f` on every open connection, on the I/O thread (as the server's shutdown does).
  void for_each_connection(std::function<void(Connection&)> f) {
    asio::post(io_, [this, f = std::move(f)] {
      for (auto& weak : connections_)
        if (auto connection = weak.lock()) f(*connection);
    });
  }

  // Connection coroutines that have returned (the connection is closed).
  int finished() const noexcept { return finished_; }
  // An exception escaped a connection coroutine (never expected).
  bool failed() const noexcept { return failed_; }

  // Waits (bounded) until `n` connection coroutines have returned.
  bool wait_finished(int n, std::chrono::milliseconds limit = std::chrono::seconds(5)) const {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (finished_ < n && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return finished_ >= n;
  }

  // Stops accepting, terminates every connection (as after the grace period) and joins.
  void stop() {
    if (!thread_.joinable()) return;
    asio::post(io_, [this] {
      gateway::error_code ignored;
      acceptor_->close(ignored);
      for (auto& weak : connections_)
        if (auto connection = weak.lock()) connection->terminate();
    });
    wait_finished(started_, std::chrono::seconds(2));
    io_.stop();
    thread_.join();
  }

  gateway::Limits limits;
  gateway::Timeouts timeouts;
  gateway::Router router;

 private:
  void accept() {
    acceptor_->async_accept([this](gateway::error_code ec, Socket socket) {
      if (ec) return;  // closed by stop()
      gateway::error_code ignored;
      socket.set_option(asio::ip::tcp::no_delay(true), ignored);
      auto connection = std::make_shared<Connection>(std::move(socket), *context_,
                                                     gateway::Address{"127.0.0.1", 1},
                                                     gateway::Address{"127.0.0.1", port_});
      connections_.push_back(connection);
      ++started_;
      asio::co_spawn(io_, connection->async_run(), [this](std::exception_ptr e, bool) {
        if (e) failed_ = true;
        ++finished_;
      });
      accept();
    });
  }

  std::optional<asio::basic_socket_acceptor<asio::ip::tcp, asio::io_context::executor_type>>
      acceptor_;
  std::optional<gateway::ConnectionContext> context_;
  std::vector<std::weak_ptr<Connection>> connections_;  // on the I/O thread only
  std::uint16_t port_ = 0;
  std::atomic<int> started_{0};
  std::atomic<int> finished_{0};
  std::atomic<bool> failed_{false};
  std::thread thread_;
};

}  // namespace junction::test
