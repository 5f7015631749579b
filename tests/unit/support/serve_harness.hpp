// Connections started as the server starts them (gateway/server/serve_connection.hpp: the one
// coroutine per accepted socket that picks HTTP/1.1, the HTTP/2 preface or an h2c upgrade) over
// MemoryStreams on one io_context, which stands for one I/O thread: the harness is its
// ConnectionRegistry and counts the live connections as the server's drain does. Header-only.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <unordered_set>
#include <vector>

#include "gateway/connection.hpp"
#include "gateway/health.hpp"
#include "gateway/options.hpp"
#include "gateway/router.hpp"
#include "http2/options.hpp"
#include "support/instances.hpp"
#include "support/memory_stream.hpp"

namespace junction::test {

using namespace std::chrono_literals;

class ServeHarness final : public gateway::ConnectionRegistry {
 public:
  // The health app answers /h; mount more with router.mount before open().
  ServeHarness() { router.set_health_path("/h", std::make_shared<gateway::HealthApp>(true)); }
  ServeHarness(const ServeHarness&) = delete;
  ServeHarness& operator=(const ServeHarness&) = delete;
  // Leaves nothing running: what is still open is terminated, as at the end of a grace period.
  ~ServeHarness() override {
    terminate_all();
    run_until([this] { return live_.count() == 0; }, 2s);
  }

  // Accepts a connection: its client's end.
  std::shared_ptr<MemoryPeer> open() {
    auto peer = std::make_shared<MemoryPeer>(io);
    accept(MemoryStream(peer), nullptr);
    return peer;
  }

  // Accepts `socket` as a listener with the TLS certificates `contexts` (null: plain text)
  // would. TLS needs a socket with a descriptor (async_serve_connection): gateway::Socket, for
  // which the libraries instantiate the connections; the in-memory stream serves plain text.
  template <class Socket>
  void accept(Socket socket, std::shared_ptr<const tls::ServerContexts> contexts) {
    if (!context_) {
      context_.emplace(gateway::ConnectionContext{limits, timeouts, router, nullptr});
      serve_.emplace(gateway::ServeContext{*context_, options, mode, gateway::seconds_d(10)});
    }
    ++spawned_;
    asio::co_spawn(
        io,
        gateway::async_serve_connection(std::move(socket), *serve_, std::move(contexts),
                                        gateway::Address{"127.0.0.1", 5555},
                                        gateway::Address{"127.0.0.1", 80}, *this, live_.enter()),
        [this](std::exception_ptr e) {
          ++finished_;
          if (e) failures_.push_back(e);
        });
  }

  // Runs until `done` holds or `limit` passes; then runs what is ready. Returns done().
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s,
                 const std::function<void()>& each_round = {}) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      if (each_round) each_round();
      if (io.stopped()) io.restart();
      if (io.poll() == 0) io.run_one_for(5ms);
    }
    io.restart();
    io.poll();
    return done();
  }

  // Graceful shutdown and its cut, as the server's signals do.
  void shutdown_all() {
    stopping_ = true;
    for (auto* slot : std::vector(slots_.begin(), slots_.end()))
      if (slots_.contains(slot)) slot->on_shutdown();
  }
  void terminate_all() {
    stopping_ = true;
    for (auto* slot : std::vector(slots_.begin(), slots_.end()))
      if (slots_.contains(slot)) slot->terminate();
  }

  // Connections accepted whose coroutine has not ended (the server's drain waits for them).
  std::size_t live() const noexcept { return live_.count(); }
  int spawned() const noexcept { return spawned_; }
  int finished() const noexcept { return finished_; }
  // Exceptions that escaped a connection coroutine (never expected).
  const std::vector<std::exception_ptr>& failures() const noexcept { return failures_; }

  void add(gateway::ConnectionSlot& slot) override { slots_.insert(&slot); }
  void remove(gateway::ConnectionSlot& slot) noexcept override { slots_.erase(&slot); }
  bool stopping() const noexcept override { return stopping_; }

  // Declared first: destroyed last, after everything that holds its handlers.
  asio::io_context io;
  gateway::Limits limits;
  gateway::Timeouts timeouts;
  http2::Options options;
  gateway::HttpMode mode = gateway::HttpMode::automatic;
  gateway::Router router;

 private:
  std::optional<gateway::ConnectionContext> context_;
  std::optional<gateway::ServeContext> serve_;
  gateway::LiveCounter live_;
  std::unordered_set<gateway::ConnectionSlot*> slots_;
  bool stopping_ = false;
  int spawned_ = 0;
  int finished_ = 0;
  std::vector<std::exception_ptr> failures_;
};

}  // namespace junction::test
