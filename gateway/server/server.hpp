// The server: I/O threads, listeners and their accept loops, signals, graceful shutdown.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "gateway/metrics.hpp"
#include "gateway/router.hpp"
#include "gateway/server/admin.hpp"
#include "gateway/server/config.hpp"

namespace junction::gateway {

// A listener could not be opened; what() is one line for the user.
class StartupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Server {
 public:
  Server(const Config& config, const Router& router);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // --admin-bind: `admin` answers every request on the admin listener (which listen() and
  // adopt() open after the app listeners). Set before either; it must outlive the server.
  void set_admin_router(const Router& admin);
  // /metrics: what connections count into. Set before listen() or adopt().
  void set_metrics(ProcessMetrics metrics);
  // Runs `sample` on the first I/O thread every kSamplePeriod while serving (figures other
  // processes cannot ask for: the Python side's, the RSS).
  static constexpr std::chrono::milliseconds kSamplePeriod{250};
  void set_sampler(std::function<void()> sample);
  // Runs `f` on the first I/O thread every `period` while serving (the systemd watchdog).
  void every(std::chrono::microseconds period, std::function<void()> f);
  // The listeners open now, the admin one last.
  std::vector<AdminListener> listeners() const;

  // Opens every --bind address (and --admin-bind) and logs where it listens. Throws
  // StartupError.
  void listen();

  // --workers, in the master: opens and logs every --bind address (then --admin-bind) as
  // listen() does, but catches no signals and never serves; returns the listening descriptors
  // in that order, which stay open
  // (the workers inherit them) for as long as this Server lives. Throws StartupError.
  std::vector<int> listen_for_workers();
  // --user/--group, in the master once it has switched: reads every certificate and key again,
  // as the user the workers run as (each worker loads them itself, and again on a reload), so
  // that a key only root can read stops the start here with one line. Throws StartupError.
  void check_tls_readable() const;

  // --workers, in a worker: serves the listening descriptors the master opened (in --bind
  // order, then --admin-bind) instead of opening its own. SIGTERM drains, SIGHUP reloads TLS;
  // SIGINT is ignored (a terminal's Ctrl-C reaches the master, which passes it on as SIGTERM).
  // Throws StartupError.
  void adopt(const std::vector<int>& listening);

  // The port of the first TCP listener that speaks TLS, once listening (--https-redirect
  // points there); 0 when there is none.
  std::uint16_t tls_port() const noexcept;
  // Response bytes held for slow readers now (--response-buffer-total), for /metrics.
  std::uint64_t response_buffered() const noexcept;

  // Work apps still do for requests after their connections closed (a WSGI thread that has
  // not noticed yet): on shutdown the server waits for it to reach zero, within the grace
  // period, before it stops the I/O threads those requests would still call into.
  void set_app_work(std::function<std::size_t()> pending);

  // In a worker: `check()` runs on the first I/O thread every kRecycleCheck; once it returns a
  // reason (--max-requests, --max-rss, ...), the server logs it and shuts down gracefully as on
  // SIGTERM (the master starts a replacement).
  static constexpr std::chrono::milliseconds kRecycleCheck{50};
  void set_recycle_check(std::function<std::string()> check);

  // --worker-timeout, in a worker: `beat(i)` runs on I/O thread i every `period` while the
  // server runs (a thread that stops running its handlers stops beating).
  void set_heartbeat(std::chrono::milliseconds period, std::function<void(std::size_t)> beat);

  // A single process with --config: `reread()` runs on the first I/O thread on SIGHUP, before
  // the certificates are read again, to swap the routes (Router::forward_to). Without it, a
  // SIGHUP says in the log that the file is only re-read by a master.
  void set_on_reload(std::function<void()> reread);
  // The access log's labels for the routes of a router the server's forwards to now.
  void set_route_labels(std::vector<RouteLabel> routes);

  // Runs once, on the first I/O thread, when the graceful shutdown begins (whatever began it).
  void set_on_drain(std::function<void()> on_drain);

  // --workers, in a worker: the open connections are also counted in `gauge` (the board), and
  // before each accept, while `yield()` says another worker should take the next connection,
  // the accept waits a millisecond, kAcceptYields times at most (the others may be stuck).
  static constexpr int kAcceptYields = 10;
  void set_accept_balance(std::atomic<std::int64_t>* gauge, std::function<bool()> yield);

  // Serves until SIGINT/SIGTERM, then shuts down gracefully. Returns the exit code.
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace junction::gateway
