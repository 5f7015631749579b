// A WSGI application behind the router: requests go from the I/O thread to the pool, and each
// runs there with the GIL held (PEP 3333 "Specification Details").
#pragma once

#include <pybind11/pybind11.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "bridge/overload.hpp"
#include "bridge/wsgi_environ.hpp"
#include "gateway/exchange.hpp"
#include "gateway/options.hpp"
#include "gateway/timed_exchange.hpp"

namespace junction::bridge {

class WorkerPool;

// Python objects every WSGI app shares (created once, with the GIL held).
struct WsgiSupport {
  pybind11::object errors;            // wsgi.errors
  pybind11::object file_wrapper;      // wsgi.file_wrapper (a class)
  pybind11::object format_exception;  // (type, value, traceback) -> str
  // For /metrics: requests answered 503 (a backlog was full) and 504 (request timeout).
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> timed_out{0};
  std::atomic<std::uint64_t> dropped{0};  // their clients left before a thread took them
};

class WsgiApp final : public gateway::App {
 public:
  // `name` is the APP text, for logs; `script_name` the mount prefix ("" at the root);
  // `request_timeout` gives 504 to a response not started that long after the request arrived
  // (0: none). `pool_settings` names what sizes `pool`, for the 503's log line.
  WsgiApp(pybind11::object app, std::string name, std::string script_name,
          std::shared_ptr<WsgiSupport> support, WorkerPool& pool,
          gateway::seconds_d request_timeout, std::string pool_settings);
  ~WsgiApp() override;  // drops the app object with the GIL held

  // On an I/O thread: queue the request for the pool, or answer 503 when the backlog is full.
  void handle(std::shared_ptr<gateway::Exchange> exchange) override;

 private:
  // On a pool thread, with the GIL held: one whole request.
  void run(const std::shared_ptr<gateway::Exchange>& exchange);
  // The same under --request-timeout: the 504 may have gone out before or while it runs.
  void run_timed(const std::shared_ptr<gateway::TimedExchange>& exchange);
  void on_timeout(const gateway::RequestHead& request, bool running);
  void reject(gateway::Exchange& exchange);
  void refuse_websocket(gateway::Exchange& exchange);

  pybind11::object app_;
  std::string name_;
  std::shared_ptr<WsgiSupport> support_;
  std::optional<EnvironBuilder> environ_;
  WorkerPool& pool_;
  gateway::seconds_d request_timeout_;
  std::string pool_settings_;
  OverloadAnswer overload_;
};

}  // namespace junction::bridge
