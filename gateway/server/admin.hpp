// The admin listener's app (--admin-bind): /metrics (Prometheus), /metrics.json, /status,
// /migration and the dashboard (/ and its files). It answers on an I/O thread, from the shared
// metrics and the worker board alone: no Python, so it answers while every app thread is busy, and
// any worker can answer for all of them.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gateway/exchange.hpp"
#include "gateway/metrics.hpp"
#include "gateway/router.hpp"
#include "gateway/server/migration_report.hpp"
#include "gateway/server/shadow_report.hpp"
#include "gateway/server/worker_board.hpp"

namespace junction::gateway {

struct AdminListener {
  std::string address;  // http://127.0.0.1:8000, unix:/run/app.sock
  std::string kind;     // "app" or "admin"
};

// What the admin app reports; built once the listeners are open, read-only afterwards (a swap
// of routes makes a new one: AdminApp::replace_sources).
struct AdminSources {
  MetricsStore* store = nullptr;
  const WorkerBoard* board = nullptr;  // null: this process alone serves, from slot 0
  std::vector<RouteLabel> routes;
  std::vector<std::pair<std::string, std::string>> apps;  // (APP text, prefix)
  std::vector<AdminListener> listeners;
  std::string version;
  std::string python;
  int pid = 0;                            // the master's, or this process's
  double started = 0;                     // Unix seconds
  std::vector<MigrationRoute> migration;  // /migration
  const ShadowReport* shadows = nullptr;
  // Refreshes this process's own sampled figures (Python's pool, RSS) before a scrape reads
  // them; the other workers' are at most a sampling period old.
  std::function<void()> refresh;
};

class AdminApp final : public App {
 public:
  explicit AdminApp(std::shared_ptr<const AdminSources> sources) : sources_(std::move(sources)) {}
  void handle(std::shared_ptr<Exchange> exchange) override;
  // A single process that swapped its routes (SIGHUP): the next answers read `sources`.
  void replace_sources(std::shared_ptr<const AdminSources> sources) {
    sources_.store(std::move(sources));
  }

  // The bodies, for the tests.
  std::string status_json() const;
  std::string migration_json() const;
  MetricsSnapshot snapshot() const;

 private:
  std::atomic<std::shared_ptr<const AdminSources>> sources_;
};

}  // namespace junction::gateway
