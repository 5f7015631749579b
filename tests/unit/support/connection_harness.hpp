// Runs one Http1Connection over a MemoryStream, as the server would spawn it, with a router
// the test fills. Set limits, timeouts and routes, start(), script the client through
// `peer`, and run the io_context until something is true (bounded in time). Header-only.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/socket_base.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/connection.hpp"
#include "gateway/health.hpp"
#include "gateway/options.hpp"
#include "gateway/router.hpp"
#include "support/instances.hpp"
#include "support/memory_stream.hpp"
#include "support/wire.hpp"

namespace junction::test {

using namespace std::chrono_literals;

// A request for the harness's health app.
inline const std::string kGet = "GET /h HTTP/1.1\r\nHost: a\r\n\r\n";

class ConnectionHarness {
 public:
  using Connection = http1::Connection<MemoryStream>;

  // The health app with diagnostics answers /h (echo, sleep); nothing else is mounted.
  ConnectionHarness() : peer(std::make_shared<MemoryPeer>(io)) {
    router.set_health_path("/h", std::make_shared<gateway::HealthApp>(true));
  }

  ConnectionHarness(const ConnectionHarness&) = delete;
  ConnectionHarness& operator=(const ConnectionHarness&) = delete;

  // Leaves nothing running: a connection still open is terminated, as at server shutdown.
  ~ConnectionHarness() {
    if (connection_ && !finished_) {
      connection_->terminate();
      run_until([this] { return finished_; }, 1s);
    }
    connection_.reset();
  }

  void start() {
    context_.emplace(gateway::ConnectionContext{limits, timeouts, router, nullptr});
    context_->response_budget = response_budget;
    connection_ = std::make_shared<Connection>(MemoryStream(peer), *context_,
                                               gateway::Address{"127.0.0.1", 5555},
                                               gateway::Address{"127.0.0.1", 80});
    asio::co_spawn(io, connection_->async_run(), [this](std::exception_ptr e, bool) {
      finished_ = true;
      failure_ = e;
    });
  }

  // Runs until `done` holds, nothing is left to run, or `limit` passes; then runs what is
  // ready (a callback posted just before the connection ended, say). Returns done().
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 3s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      if (io.stopped()) io.restart();
      if (io.run_one_for(10ms) == 0 && io.stopped()) break;
    }
    io.restart();
    io.poll();
    return done();
  }

  // Runs until the connection coroutine has returned.
  bool run_to_close(std::chrono::milliseconds limit = 3s) {
    return run_until([this] { return finished_; }, limit);
  }

  // Runs until the output holds `n` complete final responses (or the connection ends).
  bool run_until_responses(std::size_t n, std::chrono::milliseconds limit = 3s) {
    run_until([&] { return finished_ || complete_responses() >= n; }, limit);
    return complete_responses() >= n;
  }

  // Final responses that are whole on the wire so far.
  std::size_t complete_responses() const {
    auto parsed = responses();
    std::size_t n = 0;
    for (const auto& response : parsed.responses) n += response.status >= 200;
    if (!parsed.error.empty() && n > 0) --n;  // the last one is cut short
    return n;
  }

  // The output read back as responses (those listed in head_responses answer HEAD).
  WireParse responses() const { return parse_responses(peer->output(), head_responses); }

  bool finished() const noexcept { return finished_; }
  // An exception escaped the connection coroutine (never expected).
  std::exception_ptr failure() const noexcept { return failure_; }

  // Declared first: destroyed last, after everything that holds its handlers.
  asio::io_context io;
  gateway::Limits limits;
  gateway::Timeouts timeouts;
  gateway::ByteBudget* response_budget = nullptr;  // --response-buffer-total; null: none
  gateway::Router router;
  std::shared_ptr<MemoryPeer> peer;
  std::vector<std::size_t> head_responses;  // which final responses answer HEAD requests

 private:
  std::optional<gateway::ConnectionContext> context_;
  std::shared_ptr<Connection> connection_;
  bool finished_ = false;
  std::exception_ptr failure_;
};

}  // namespace junction::test
