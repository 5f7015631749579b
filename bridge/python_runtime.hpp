// The apps junction serves, in the CPython that runs junction: the one door from gateway/ into
// Python (docs/architecture.md, "Python apps"). Nothing here exposes a Python object.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bridge/app_spec.hpp"
#include "bridge/options.hpp"
#include "gateway/exchange.hpp"

namespace junction::bridge {

// An app (or the environment for apps) cannot be set up. `message` is one line for the user;
// `traceback` the Python traceback, if any, for the debug log.
struct AppLoadError : std::runtime_error {
  AppLoadError(int exit_code, const std::string& message, std::string traceback = {})
      : std::runtime_error(message), exit_code(exit_code), traceback(std::move(traceback)) {}
  int exit_code;
  std::string traceback;
};

// Exit codes, as gunicorn uses them: 2 for bad usage, 4 for an app that cannot be loaded.
inline constexpr int kExitUsage = 2;
inline constexpr int kExitAppLoad = 4;
// An ASGI app's lifespan startup failed (uvicorn's code for it).
inline constexpr int kExitLifespan = 3;

class PythonRuntime {
 public:
  // Takes the running interpreter (on its main thread, the GIL held): --venv, --chdir and
  // --pythonpath take effect here. Throws AppLoadError.
  explicit PythonRuntime(const Options& options);
  // Releases what it holds in Python (unless stop() left threads running Python); the
  // interpreter is the caller's and is not finalised.
  ~PythonRuntime();
  PythonRuntime(const PythonRuntime&) = delete;
  PythonRuntime& operator=(const PythonRuntime&) = delete;

  // Imports an app and wraps it for the router (the object preload() made, when it ran).
  // Throws AppLoadError.
  std::shared_ptr<gateway::App> load(const AppSpec& spec);

  // --preload, in the master before it forks: imports the app and keeps the object for load()
  // in the workers, which inherit it. Starts no thread. Throws AppLoadError.
  void preload(const AppSpec& spec);

  // Runs the ASGI lifespan startup of every ASGI app (unless --lifespan off), on the loop
  // thread; call with the GIL held, before the listeners accept. Throws AppLoadError
  // (kExitLifespan) when an app's startup fails, or with --lifespan on when it has none.
  void start_lifespan();
  // Runs the lifespan shutdown of the apps whose startup ran, each waited for at most
  // `timeout`; call after the server drained (the GIL released, as when serving).
  void shutdown_lifespan(std::chrono::milliseconds timeout);

  // Lets other threads run Python: call once the apps are loaded, before serving.
  void release_gil();
  // Runs `f` with the GIL held, from any thread once release_gil() has run (a single process
  // loading the apps of re-read routes). Exceptions from `f` pass through.
  void with_gil(const std::function<void()>& f);
  // Whether the app `spec` names was imported already (load() then only wraps it again).
  bool imported(const AppSpec& spec) const;

  // Requests queued for or running in Python: a graceful shutdown waits for them.
  std::size_t busy() const;

  // --- Figures for /metrics (any thread, no GIL) ---------------------------------------------
  struct Figures {
    unsigned wsgi_threads = 0;  // 0: no WSGI app
    std::size_t wsgi_busy = 0;
    std::size_t wsgi_queued = 0;
    std::size_t wsgi_overdue = 0;
    std::uint64_t wsgi_refused = 0;
    std::size_t asgi_tasks = 0;  // requests and WebSockets in progress
    std::size_t asgi_limit = 0;  // 0: no ASGI app
    std::uint64_t asgi_refused = 0;
    std::uint64_t request_timeouts = 0;
    std::uint64_t wsgi_dropped = 0;  // clients left before a thread took their requests
    std::uint64_t asgi_dropped = 0;  // clients left before the loop began their requests
  };
  Figures figures() const;
  // The interpreter's version, "3.11.2".
  static std::string python_version();
  // The virtual environment the interpreter runs in (sys.prefix, when it is not
  // sys.base_prefix); empty when none. Call with the GIL held.
  static std::string active_venv();
  // Calls `lag(late)` on the ASGI loop thread every `period`, with how late the loop ran a
  // callback due then (serves_asgi() only). Call with the GIL held, before release_gil().
  void start_loop_lag_probe(std::chrono::milliseconds period,
                            std::function<void(std::chrono::nanoseconds)> lag);

  // --- Liveness (--worker-timeout, --health-check-app) ---------------------------------------
  bool serves_wsgi() const noexcept;
  bool serves_asgi() const noexcept;
  // True when the WSGI pool has nothing to do or started or finished a request since the
  // last call (one caller, periodically). No GIL needed.
  bool wsgi_progressed();
  // --request-timeout: of the WSGI pools, the one with the largest share of its threads still
  // running a request that got its 504: that count and the pool's size (0 without WSGI apps).
  // A worker is recycled when one pool is wholly overdue. No GIL needed.
  struct PoolOverdue {
    std::size_t overdue = 0;
    unsigned threads = 0;
  };
  PoolOverdue most_overdue_pool() const noexcept;
  // Calls `beat` on the ASGI loop thread every `period` (serves_asgi() only). Call with the
  // GIL held, before release_gil().
  void start_loop_heartbeat(std::chrono::milliseconds period, std::function<void()> beat);
  // From the I/O thread of `io`: sends a no-op through the WSGI pool and through the ASGI loop;
  // `answered(part, problem)` runs (on any thread) as each comes back, `problem` empty, or at
  // once with the problem when a part cannot even take the probe (the WSGI backlog is full).
  // Returns the parts probed ("WSGI pool", "ASGI event loop").
  using ProbeAnswer = std::function<void(const std::string& part, const std::string& problem)>;
  std::vector<std::string> probe(const boost::asio::any_io_executor& io, ProbeAnswer answered);

  // Stops the WSGI pool and the ASGI loop, waiting up to `timeout` for running requests, and takes
  // the GIL back. False when Python code is still running: the caller must then exit without
  // returning to Python (finalising the interpreter under running threads would crash).
  bool stop(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace junction::bridge
