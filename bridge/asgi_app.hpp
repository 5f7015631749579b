// An ASGI application behind the router: requests go from the I/O thread to the loop thread in
// batches (EventLoop), where each becomes a task running the app (ASGI 3.0; ASGI 2 apps are
// wrapped when loaded).
#pragma once

#include <pybind11/pybind11.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "bridge/asgi_scope.hpp"
#include "bridge/event_loop.hpp"
#include "bridge/overload.hpp"
#include "gateway/exchange.hpp"
#include "gateway/options.hpp"

namespace junction::bridge {

class HttpCore;
class WebSocketCore;

// Python objects every ASGI app shares (created once on the main thread, with the GIL held).
struct AsgiSupport {
  pybind11::object run_asgi;             // the coroutine function around app(scope, ...)
  pybind11::object client_disconnected;  // the OSError subclass send() raises
  pybind11::object format_exception;     // (type, value, traceback) -> str
  pybind11::object cancelled_error;      // asyncio.CancelledError
  pybind11::object create_future;        // loop.create_future
  pybind11::object create_task;          // loop.create_task
  // Message keys and event types, interned once.
  pybind11::object type, body, more_body, status, headers, trailers, more_trailers, bytes, text,
      code, reason, subprotocol;
  pybind11::object http_request, http_disconnect, websocket_connect, websocket_receive,
      websocket_disconnect;

  AsgiSupport(pybind11::handle support_module, EventLoop& loop);
};

// Requests and WebSockets in progress, bounded by --limit-concurrency: one budget for every ASGI
// app, and one more for each app with its own `limit_concurrency` ([apps.NAME]).
struct AsgiBudget {
  explicit AsgiBudget(std::size_t limit, std::string setting)
      : limit(limit), setting(std::move(setting)) {}
  std::atomic<std::size_t> in_flight{0};
  const std::size_t limit;
  const std::string setting;  // what the 503's log line names: "--limit-concurrency"
  // For /metrics: requests answered 503 (over the limit) and 504 (request timeout).
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> timed_out{0};
  std::atomic<std::uint64_t> dropped{0};  // their clients left before the app began them
};

class AsgiApp final : public gateway::App {
 public:
  // `name` is the APP text, for logs; `root_path` the mount prefix ("" at the root).
  // `request_timeout`: 504 for a response not started that long after the request reached the
  // app (0: none).
  AsgiApp(pybind11::object app, std::string name, std::string root_path,
          std::shared_ptr<AsgiSupport> support, std::shared_ptr<AsgiBudget> budget,
          gateway::seconds_d request_timeout, EventLoop& loop);
  ~AsgiApp() override;  // drops the Python objects with the GIL held

  // On an I/O thread: hands the request to the loop thread.
  void handle(std::shared_ptr<gateway::Exchange> exchange) override;

  // Requests and WebSocket connections still running: a graceful shutdown waits for them.
  std::size_t busy() const noexcept { return live_.load(std::memory_order_relaxed); }

  // --- Loop thread, GIL held -----------------------------------------------------------------
  // Starts the app's task for a request (HttpCore) or a WebSocket (WebSocketCore).
  template <class Core>
  void begin(const std::shared_ptr<Core>& core);
  void finished() noexcept {
    live_.fetch_sub(1, std::memory_order_relaxed);
    budget_->in_flight.fetch_sub(1, std::memory_order_relaxed);
  }
  // Logs an exception from the app (report_app_exception); `client_side` when it only followed
  // from the client leaving.
  void report(pybind11::handle error, const gateway::RequestHead& request, bool client_side) const;
  void report(const std::string& problem, const gateway::RequestHead& request) const;
  const AsgiSupport& support() const noexcept { return *support_; }
  gateway::seconds_d request_timeout() const noexcept { return request_timeout_; }
  EventLoop& loop() const noexcept { return loop_; }

  // The app object, and the lifespan state each scope copies (main thread, at start-up).
  pybind11::handle app() const noexcept { return app_; }
  pybind11::handle state() const noexcept { return state_; }
  const std::string& name() const noexcept { return name_; }
  // The same Python app loaded again: its scopes get the state `first`'s lifespan fills.
  void share_state(const AsgiApp& first) { state_ = first.state_; }

 private:
  pybind11::object app_;
  std::string name_;
  std::shared_ptr<AsgiSupport> support_;
  std::shared_ptr<AsgiBudget> budget_;
  gateway::seconds_d request_timeout_;
  EventLoop& loop_;
  ScopeBuilder scopes_;
  pybind11::dict state_;
  std::atomic<std::size_t> live_{0};
  OverloadAnswer overload_;

  void reject(gateway::Exchange& exchange);
};

}  // namespace junction::bridge
