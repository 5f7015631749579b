// junction: what the command line runs, inside the Python that launched it (module.cpp).
#include "gateway/server/run.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "bridge/app_spec.hpp"
#include "bridge/python_runtime.hpp"
#include "gateway/health.hpp"
#include "gateway/logging.hpp"
#include "gateway/metrics.hpp"
#include "gateway/router.hpp"
#include "gateway/server/admin.hpp"
#include "gateway/server/config.hpp"
#include "gateway/server/fallthrough.hpp"
#include "gateway/server/master.hpp"
#include "gateway/server/memory.hpp"
#include "gateway/server/migration_report.hpp"
#include "gateway/server/privileges.hpp"
#include "gateway/server/recycle.hpp"
#include "gateway/server/routes.hpp"
#include "gateway/server/server.hpp"
#include "gateway/server/shadow.hpp"
#include "gateway/server/shadow_report.hpp"
#include "gateway/server/split.hpp"
#include "gateway/server/static_files.hpp"
#include "gateway/server/systemd.hpp"

namespace gw = junction::gateway;
namespace bridge = junction::bridge;

namespace {

// The signal dispositions the interpreter had before the server took SIGINT, SIGTERM, SIGHUP and
// SIGUSR1,
// put back when it is done: Asio resets a signal it stops watching to SIG_DFL, and after
// junction.run() the script goes on, where Ctrl-C must raise KeyboardInterrupt again.
class SavedSignalActions {
 public:
  SavedSignalActions() {
    for (std::size_t i = 0; i < kSignals.size(); ++i) ::sigaction(kSignals[i], nullptr, &saved_[i]);
  }
  ~SavedSignalActions() {
    for (std::size_t i = 0; i < kSignals.size(); ++i) ::sigaction(kSignals[i], &saved_[i], nullptr);
  }
  SavedSignalActions(const SavedSignalActions&) = delete;
  SavedSignalActions& operator=(const SavedSignalActions&) = delete;

 private:
  static constexpr std::array<int, 4> kSignals{SIGINT, SIGTERM, SIGHUP, SIGUSR1};
  std::array<struct sigaction, 4> saved_{};
};

// --pid-file: written at start, removed at exit (by the process that wrote it: a worker, which
// ends with _exit, never removes it).
class PidFile {
 public:
  explicit PidFile(std::string path) : path_(std::move(path)) {
    if (path_.empty()) return;
    std::FILE* file = std::fopen(path_.c_str(), "w");
    if (file == nullptr || std::fprintf(file, "%d\n", static_cast<int>(::getpid())) < 0 ||
        std::fclose(file) != 0) {
      std::fprintf(stderr, "junction: cannot write --pid-file %s: %s\n", path_.c_str(),
                   std::strerror(errno));
      ok_ = false;
      path_.clear();
    }
  }
  ~PidFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;
  bool ok() const { return ok_; }

 private:
  std::string path_;
  bool ok_ = true;
};

// What the app raised is the user's to read, as uvicorn and gunicorn print it.
void report_load_error(const bridge::AppLoadError& e) {
  if (!e.traceback.empty()) {
    auto traceback = e.traceback;
    while (!traceback.empty() && traceback.back() == '\n') traceback.pop_back();
    spdlog::error("{}", traceback);
  }
  std::fprintf(stderr, "junction: %s\n", e.what());
  std::fflush(stderr);
}

// A worker of the master: the master's listening descriptors, its slot on the board, and the
// master's Python runtime when --preload imported the apps there.
struct WorkerEnv {
  const std::vector<int>& listening;
  gw::WorkerBoard& board;
  std::size_t index;  // this worker's slot on the board
  const std::function<void()>& ready;
  bridge::PythonRuntime* preloaded;
  gw::MetricsStore* metrics;  // --admin-bind: the master's store (this worker has slot `index`)
  gw::ShadowReport* shadows;  // the shadow routes' report, shared by every worker; or null
  double master_started;      // Unix seconds
};

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// /metrics: what only this process can see about itself, copied where any worker can read it.
void sample_figures(gw::ProcessMetrics metrics, const bridge::PythonRuntime& python,
                    const gw::Router& router, const gw::ByteBudget& request_buffers,
                    const gw::Server& server) {
  auto figures = python.figures();
  metrics.gauge_set(gw::gauge::wsgi_threads, figures.wsgi_threads);
  metrics.gauge_set(gw::gauge::wsgi_busy, figures.wsgi_busy);
  metrics.gauge_set(gw::gauge::wsgi_queued, figures.wsgi_queued);
  metrics.gauge_set(gw::gauge::wsgi_overdue, figures.wsgi_overdue);
  metrics.gauge_set(gw::gauge::asgi_tasks, figures.asgi_tasks);
  metrics.gauge_set(gw::gauge::asgi_limit, figures.asgi_limit);
  // Counted by the bridge in this process; monotonic, so a copy is a counter too.
  metrics.counter_set(gw::counter::wsgi_refused, figures.wsgi_refused);
  metrics.counter_set(gw::counter::asgi_refused, figures.asgi_refused);
  metrics.counter_set(gw::counter::request_timeouts, figures.request_timeouts);
  metrics.counter_set(gw::counter::wsgi_dropped, figures.wsgi_dropped);
  metrics.counter_set(gw::counter::asgi_dropped, figures.asgi_dropped);
  metrics.gauge_set(gw::gauge::request_buffer_bytes, request_buffers.used());
  metrics.gauge_set(gw::gauge::response_buffer_bytes, server.response_buffered());
  metrics.gauge_set(gw::gauge::rss_bytes, gw::resident_set_bytes());
  metrics.gauge_set(gw::gauge::requests, router.dispatched());
}

// What a report about a problem starts from: which build, which Python, what it was asked to
// run, with how many processes and threads. Listeners are logged as they open.
void log_start(const gw::Config& config, const std::vector<gw::ServedRoute>& routes,
               const std::string& runtime) {
  auto venv = bridge::PythonRuntime::active_venv();
  std::string apps;
  std::set<std::string> named;  // an app several routes name is listed once
  for (const auto& route : routes)
    for (const auto& app : route.all_apps())
      if (named.insert(app.spec.text).second) apps += (apps.empty() ? "" : ", ") + app.spec.text;
  spdlog::info(
      "junction {} starting: pid {}, {}, venv {}{}; {} worker(s), {} WSGI thread(s) and {} I/O "
      "thread(s) each; apps: {}",
      JUNCTION_VERSION, static_cast<int>(::getpid()), runtime, venv.empty() ? "none" : venv,
      config.python.venv.empty() ? "" : " + --venv " + config.python.venv, config.workers,
      config.python.threads, config.io_threads, apps.empty() ? "none" : apps);
  // Shadowing a method with side effects runs them twice: said once, at start.
  for (const auto& route : routes)
    if (route.shadow)
      for (const auto& method : route.shadow->methods)
        if (method != "GET" && method != "HEAD" && method != "OPTIONS")
          spdlog::warn("route {} shadows {} requests: both {} and {} run their side effects",
                       route.rule.describe(), method, route.name, route.shadow->shadow_name);
}

// How often free heap memory is looked at, to give it back after a peak (memory.hpp).
constexpr std::chrono::seconds kMemoryTrimPeriod{2};

// The ASGI loop's lag is probed this often (junction_asgi_loop_lag_seconds).
constexpr std::chrono::milliseconds kLoopLagProbe{100};

// --worker-timeout: how often the parts beat. Several beats per timeout, at most one a second.
std::chrono::milliseconds heartbeat_period(gw::seconds_d timeout) {
  auto quarter = std::chrono::duration_cast<std::chrono::milliseconds>(timeout / 4);
  return std::clamp(quarter, std::chrono::milliseconds(20), std::chrono::milliseconds(1000));
}

// The worker's side of the board: heartbeats from every I/O thread (and the WSGI pool's
// progress, looked at from the first one) and from the ASGI loop; "draining" when the
// shutdown begins.
void report_to_board(const gw::Config& config, gw::WorkerSlot& slot, gw::Server& server,
                     bridge::PythonRuntime& python) {
  server.set_on_drain(
      [&slot] { slot.state.store(gw::WorkerSlot::kDraining, std::memory_order_release); });
  slot.begin_serving(config.io_threads, python.serves_wsgi(), python.serves_asgi());
  if (config.worker_timeout.count() <= 0) return;
  auto period = heartbeat_period(config.worker_timeout);
  server.set_heartbeat(period, [&slot, &python](std::size_t thread) {
    auto now = gw::WorkerSlot::now();
    if (thread < gw::WorkerSlot::kMaxIoThreads)
      slot.io_beats[thread].store(now, std::memory_order_relaxed);
    if (thread == 0 && python.wsgi_progressed())
      slot.wsgi_beat.store(now, std::memory_order_relaxed);
  });
  python.start_loop_heartbeat(
      period, [&slot] { slot.asgi_beat.store(gw::WorkerSlot::now(), std::memory_order_relaxed); });
}

// The migration routes' parts that report to the metrics and the shadow report once those
// exist, and their description for /migration.
struct MigrationParts {
  std::vector<std::shared_ptr<gw::FallthroughApp>> fallthroughs;
  std::vector<std::shared_ptr<gw::ShadowApp>> shadows;
  std::vector<gw::MigrationRoute> described;
};

// check-config's list of listeners: each address with its TLS, protocols and PROXY protocol.
std::string listener_lines(const gw::Config& config) {
  std::string out = "listeners:\n";
  for (const auto& bind : config.binds) {
    constexpr const char* kModes[] = {"HTTP/1.1 and HTTP/2", "HTTP/1.1", "HTTP/2"};
    std::string line = "  " + bind.text + " (" + (config.speaks_tls(bind) ? "TLS" : "plain") +
                       ", " + kModes[static_cast<int>(bind.http.value_or(config.http_mode))];
    if (bind.proxy_protocol.value_or(config.edge.proxy_protocol)) line += ", PROXY protocol";
    out += line + ")\n";
  }
  return out;
}

// Adds `route` to `router`, its apps loaded with `load`: one app, or a migration route's apps
// behind its mode (a shadow, a fall-through or a split), each a route of its own in routes().
template <class Load>
void add_served_route(gw::Router& router, const gw::ServedRoute& route, Load& load,
                      MigrationParts& parts) {
  auto first = router.route_count();  // the route's first app; the others follow it
  if (!route.shadow && !route.fallthrough && !route.split) {
    router.add_route(route.rule, load(route.spec), route.name);
    return;
  }
  gw::MigrationRoute described{route.rule.label(), "", route.mode(), {}, std::nullopt};
  if (route.shadow) {
    auto options = *route.shadow;
    options.shadow_route = first + 1;
    options.report_index = parts.shadows.size();
    auto shadow = load(route.more.at(0).spec);
    auto app = std::make_shared<gw::ShadowApp>(load(route.spec), shadow, options);
    parts.shadows.push_back(app);
    router.add_choice_route(route.rule,
                            {{app, route.name, "primary"}, {shadow, route.more[0].name, "shadow"}},
                            nullptr);
    described.mode = "shadow";
    described.sides = {{route.name, "primary", first}, {route.more[0].name, "shadow", first + 1}};
    described.shadow_index = options.report_index;
  } else if (route.fallthrough && !route.split) {
    auto options = *route.fallthrough;
    options.primary_route = first;
    options.legacy_route = first + 1;
    auto legacy = load(route.more.at(0).spec);
    auto app = std::make_shared<gw::FallthroughApp>(load(route.spec), legacy, options);
    parts.fallthroughs.push_back(app);
    router.add_choice_route(
        route.rule, {{app, route.name, "primary"}, {legacy, route.more[0].name, "fallthrough"}},
        nullptr);
    described.mode = "fallthrough";
    described.sides = {{route.name, "primary", first},
                       {route.more[0].name, "fallthrough", first + 1}};
  } else {
    gw::SplitChooser chooser(*route.split);
    std::vector<gw::Router::Choice> choices;
    auto apps = route.all_apps();
    // With a fallthrough, the split's other apps fall through to that one (a split with a
    // safety net); X-Junction-App then names the app that answered, which the fall-through
    // knows, while the cookie keeps the split's decision.
    std::size_t legacy = apps.size();
    for (std::size_t i = 0; route.fallthrough && i < apps.size(); ++i)
      if (apps[i].name == route.fallthrough->legacy_name) legacy = i;
    for (std::size_t i = 0; i < apps.size(); ++i) {
      auto app = load(apps[i].spec);
      if (legacy < apps.size() && i != legacy) {
        auto options = *route.fallthrough;
        options.primary_name = apps[i].name;
        options.primary_route = first + i;
        options.legacy_route = first + legacy;
        auto wrapped = std::make_shared<gw::FallthroughApp>(app, load(apps[legacy].spec), options);
        parts.fallthroughs.push_back(wrapped);
        app = wrapped;
      }
      bool expose = route.split->expose_decision && (legacy == apps.size() || i == legacy);
      choices.push_back(
          {std::make_shared<gw::SplitMemberApp>(app, chooser, i, expose), apps[i].name, "split"});
      described.sides.push_back({apps[i].name, "split", first + i});
    }
    router.add_choice_route(route.rule, std::move(choices), chooser);
    described.mode = "split";
  }
  parts.described.push_back(std::move(described));
}

// Routes a reload of the --config file may add beyond those it started with: the metrics and
// the shadow report are sized once, at start (before the workers exist, with a master).
constexpr std::size_t kReloadRouteRoom = 64;
constexpr std::size_t kReloadShadowRoom = 16;

// SIGHUP with a --config file: the file (and the command line, and JUNCTION_* variables) read
// again, by a master before its new workers start, or by a single process that swaps its
// router. Only the apps and routes change: the other settings need a restart. An invalid file
// is one log line, and nullopt: the routes stay.
std::optional<std::vector<gw::ServedRoute>> reread_routes(
    const std::string& why, const std::vector<const char*>& argv, const std::string& runtime,
    const gw::Config& config, std::size_t route_room, std::size_t shadow_room) {
  if (config.config_file.empty()) return std::nullopt;
  std::vector<gw::ServedRoute> next;
  try {
    auto fresh = gw::parse_command_line(static_cast<int>(argv.size()), argv.data(), runtime);
    next = gw::served_routes(fresh);
  } catch (const gw::CommandLineExit& e) {
    auto line = e.message.substr(0, e.message.find('\n'));
    if (line.starts_with("junction: ")) line.erase(0, 10);
    spdlog::error("{}: {} not re-read, the routes stay as they were: {}", why, config.config_file,
                  line);
    return std::nullopt;
  } catch (const std::runtime_error& e) {
    spdlog::error("{}: {} not re-read, the routes stay as they were: {}", why, config.config_file,
                  e.what());
    return std::nullopt;
  }
  if (gw::router_routes(next) > route_room || gw::shadow_routes(next) > shadow_room) {
    spdlog::error(
        "{}: {} has more routes than junction made room for at start ({} apps of "
        "routes, {} shadows): restart junction to serve them; the routes stay",
        why, config.config_file, route_room, shadow_room);
    return std::nullopt;
  }
  return next;
}

// /status's apps: each app of each route, with the route's label.
std::vector<std::pair<std::string, std::string>> admin_apps(
    const std::vector<gw::ServedRoute>& routes) {
  std::vector<std::pair<std::string, std::string>> apps;
  for (const auto& route : routes)
    for (const auto& app : route.all_apps())
      apps.emplace_back(app.spec.target(), route.rule.label());
  return apps;
}

// Loads the apps and serves until a signal: in this process (worker null: it opens the
// listeners itself), or as a worker of the master on the master's listeners.
int serve(const gw::Config& config, const std::vector<gw::ServedRoute>& routes,
          const WorkerEnv* worker, const std::string& runtime,
          const std::vector<const char*>* argv) {
  // The apps load before the listeners open, so a broken app fails fast without having taken
  // the port; the runtime is declared before the router so the apps it holds go first.
  std::optional<bridge::PythonRuntime> own_python;
  bridge::PythonRuntime* python = worker ? worker->preloaded : nullptr;
  // The shadow routes' report (single process); the apps let go of it before it goes.
  std::optional<gw::ShadowReport> own_shadows;
  gw::Router router;
  MigrationParts migration;  // they report to `metrics` and the shadow report
  // What a router re-read on SIGHUP is built from again (a single process with --config).
  std::vector<std::pair<std::string, std::shared_ptr<gw::StaticFiles>>> statics;
  std::shared_ptr<gw::HealthApp> health;
  // An app that several routes name is wrapped once per mount point and timeout (and
  // imported once).
  std::map<std::array<std::string, 3>, std::shared_ptr<gw::App>> loaded;
  // Request bodies read ahead of every Python app (gateway/request_buffer.hpp).
  auto buffer_budget = std::make_shared<gw::ByteBudget>(config.request_buffering.total);
  auto load = [&](const bridge::AppSpec& spec) {
    auto& app = loaded[{spec.text, spec.prefix, spec.settings.key()}];
    if (!app) app = gw::buffered(python->load(spec), buffer_budget, config.request_buffering.size);
    return app;
  };
  // The routers SIGHUP built (`router` forwards to the last); they outlive the server.
  std::list<gw::Router> reloaded;
  // The static directories open first: a bad one is a configuration error, found before any
  // import (in a worker, after --user/--group: the files must be readable by whom it runs as).
  for (const auto& mount : config.edge.statics) {
    try {
      auto files = std::make_shared<gw::StaticFiles>(mount, config.edge.static_index,
                                                     config.edge.static_max_age);
      spdlog::info("serving the files under {} at {}", files->root(), mount.prefix);
      router.mount_static(mount.prefix, files);
      statics.emplace_back(mount.prefix, std::move(files));
    } catch (const std::runtime_error& e) {
      std::fprintf(stderr, "junction: %s\n", e.what());
      return bridge::kExitUsage;
    }
  }
  try {
    if (!python) python = &own_python.emplace(config.python);
    for (const auto& route : routes) {
      add_served_route(router, route, load, migration);
      if (route.rule.host.empty() && route.rule.methods.empty() &&
          route.rule.prefix == route.spec.prefix && route.more.empty())
        spdlog::info("mounted {} at {}", route.spec.text, route.spec.prefix);
      else
        spdlog::info("routed {} to {} ({}{})", route.rule.describe(), route.name,
                     route.spec.prefix == "/" ? "full path" : "mount " + route.spec.prefix,
                     route.more.empty() ? "" : "; " + route.mode());
    }
    // A single process that may re-read its file on SIGHUP imports every app the file defines
    // now, with its lifespan: a route the next reading adds can only name an app loaded here.
    if (!worker && argv && !config.config_file.empty())
      for (const auto& file_app : config.file_apps) {
        auto spec = gw::file_app_spec(file_app, "/");
        if (python->imported(spec)) continue;
        load(spec);
        spdlog::info("loaded {} ({}) as well, which no route names yet: SIGHUP may route to it",
                     file_app.name, spec.text);
      }
    python->start_lifespan();
  } catch (const bridge::AppLoadError& e) {
    report_load_error(e);
    return e.exit_code;
  }
  if (!config.health_path.empty()) {
    gw::HealthApp::Probe probe;
    if (config.health_check_app)
      probe = [python](const boost::asio::any_io_executor& io,
                       gw::HealthApp::ProbeAnswer answered) {
        return python->probe(io, std::move(answered));
      };
    health = std::make_shared<gw::HealthApp>(config.diagnostics, std::move(probe));
    router.set_health_path(config.health_path, health);
  }
  // SIGHUP re-reads the file in this process too (a worker's master does it for its workers).
  bool rereadable = !worker && argv && !config.config_file.empty();
  std::size_t route_room = gw::router_routes(routes) + (rereadable ? kReloadRouteRoom : 0);
  std::size_t shadow_room = gw::shadow_routes(routes) + (rereadable ? kReloadShadowRoom : 0);

  // --admin-bind: this process's counters (its slot in the master's store, or a store of its
  // own), and the admin app that reads them.
  std::optional<gw::MetricsStore> own_metrics;
  gw::MetricsStore* store = worker ? worker->metrics : nullptr;
  if (!worker && config.admin_bind)
    store =
        &own_metrics.emplace(1, router.route_count() + (rereadable ? kReloadRouteRoom : 0), false);
  gw::ProcessMetrics metrics;
  gw::ShadowReport* shadow_report = worker ? worker->shadows : nullptr;
  if (!worker && shadow_room > 0) shadow_report = &own_shadows.emplace(shadow_room, false);
  gw::Router admin_router;
  auto admin = std::make_shared<gw::AdminSources>();
  std::shared_ptr<gw::AdminApp> admin_app;
  if (store) {
    metrics = store->worker(worker ? worker->index : 0);
    metrics.gauge_set(gw::gauge::pid, static_cast<std::uint64_t>(::getpid()));
    metrics.gauge_set(gw::gauge::started_ms, static_cast<std::uint64_t>(unix_seconds() * 1000));
    admin->store = store;
    admin->board = worker ? &worker->board : nullptr;
    admin->routes = router.routes();
    admin->apps = admin_apps(routes);
    admin->version = JUNCTION_VERSION;
    admin->python = bridge::PythonRuntime::python_version();
    admin->pid = static_cast<int>(worker ? ::getppid() : ::getpid());
    admin->started = worker ? worker->master_started : unix_seconds();
    admin->migration = migration.described;
    admin->shadows = shadow_report;
    admin_app = std::make_shared<gw::AdminApp>(admin);
    admin_router.mount("/", admin_app, "admin");
    python->start_loop_lag_probe(kLoopLagProbe, [metrics](std::chrono::nanoseconds lag) mutable {
      metrics.observe_loop_lag(lag);
    });
  }
  for (const auto& fallthrough : migration.fallthroughs) fallthrough->count_into(metrics);
  for (const auto& shadow : migration.shadows) shadow->report_to(shadow_report, metrics);

  auto grace =
      std::chrono::milliseconds(static_cast<long>(config.timeouts.graceful.count() * 1000));
  int code = 0;
  std::optional<gw::RecyclePolicy> policy;
  {
    SavedSignalActions python_handlers;
    gw::Server server(config, router);
    // What a burst of slow clients made this process hold goes back once they are gone.
    gw::pin_mmap_threshold();
    server.every(kMemoryTrimPeriod, [trimmer = gw::MemoryTrimmer()]() mutable { trimmer.check(); });
    if (store) {
      server.set_admin_router(admin_router);
      server.set_metrics(metrics);
      admin->refresh = [metrics, python, &router, &buffer_budget, &server] {
        sample_figures(metrics, *python, router, *buffer_budget, server);
      };
      server.set_sampler(admin->refresh);
    }
    try {
      if (worker) {
        server.adopt(worker->listening);
      } else {
        // Once the apps loaded (a broken one is a line of its own), before the listeners.
        log_start(config, routes, runtime);
        server.listen();
      }
      if (config.edge.https_redirect) router.redirect_to_https(server.tls_port());
      admin->listeners = server.listeners();
      if (worker) {
        auto& slot = worker->board[worker->index];
        report_to_board(config, slot, server, *python);
        server.set_accept_balance(&slot.connections, [worker] {
          return worker->board.should_yield_accept(worker->index);
        });
        worker->ready();
        // Each worker its own limits; random_device differs per process.
        std::mt19937_64 random(std::random_device{}());
        policy.emplace(
            gw::RecyclePolicy::draw(config.max_requests, config.max_requests_jitter,
                                    config.max_rss_mib, config.worker_lifetime.count(), random),
            std::chrono::steady_clock::now(), gw::resident_set_bytes);
        // Polled only when there is a limit to look at.
        bool overdue_rule = config.any_request_timeout() && python->serves_wsgi();
        if (policy->enabled() || overdue_rule)
          server.set_recycle_check([&policy, &router, python] {
            auto pool = python->most_overdue_pool();
            gw::WorkerFigures figures{router.dispatched(), pool.overdue, pool.threads};
            return policy->check(std::chrono::steady_clock::now(), figures);
          });
      }
      if (!worker) {
        // The process systemd started serves itself: it says when it is ready and stopping.
        const auto& systemd = gw::SystemdNotify::instance();
        server.set_on_drain([&systemd] { systemd.stopping(); });
        if (auto period = systemd.watchdog_period(); period.count() > 0)
          server.every(period, [&systemd] { systemd.watchdog(); });
        systemd.ready("serving");
      }
      if (rereadable) {
        // SIGHUP: the routes re-read from the file, on a router of their own that `router`
        // forwards to; the connections open now go on, their next requests take the new routes.
        std::vector<gw::ServedRoute> current = routes;
        server.set_on_reload([&, current]() mutable {
          auto next = reread_routes("SIGHUP", *argv, runtime, config, route_room, shadow_room);
          if (!next) return;
          // Only apps imported at start: importing into a serving process would run module code
          // and lifespans behind the routes' back (a master starts new workers for that).
          std::string missing;
          python->with_gil([&] {
            for (const auto& route : *next)
              for (const auto& app : route.all_apps())
                if (missing.empty() && !python->imported(app.spec)) missing = app.spec.text;
          });
          if (!missing.empty()) {
            spdlog::error(
                "SIGHUP: {} names {}, which this process did not import at start: restart "
                "junction (or run it with a master, whose new workers import it); the routes "
                "stay",
                config.config_file, missing);
            return;
          }
          bool changed = gw::route_table(*next) != gw::route_table(current);
          auto& fresh = reloaded.emplace_back();
          MigrationParts parts;
          try {
            python->with_gil([&] {
              for (const auto& [prefix, files] : statics) fresh.mount_static(prefix, files);
              for (const auto& route : *next) add_served_route(fresh, route, load, parts);
            });
          } catch (const bridge::AppLoadError& e) {
            spdlog::error("SIGHUP: {}: {}; the routes stay", config.config_file, e.what());
            reloaded.pop_back();
            return;
          }
          if (health) fresh.set_health_path(config.health_path, health);
          if (config.edge.https_redirect) fresh.redirect_to_https(server.tls_port());
          for (const auto& fallthrough : parts.fallthroughs) fallthrough->count_into(metrics);
          for (const auto& shadow : parts.shadows) shadow->report_to(shadow_report, metrics);
          // A new table starts its counts by route from zero (Prometheus: a counter reset).
          if (changed && store) store->forget_routes(0);
          server.set_route_labels(fresh.routes());
          if (admin_app) {
            auto sources = std::make_shared<gw::AdminSources>(*admin);
            sources->routes = fresh.routes();
            sources->apps = admin_apps(*next);
            sources->migration = parts.described;
            admin_app->replace_sources(std::move(sources));
          }
          router.forward_to(&fresh);
          migration.fallthroughs.insert(migration.fallthroughs.end(), parts.fallthroughs.begin(),
                                        parts.fallthroughs.end());
          migration.shadows.insert(migration.shadows.end(), parts.shadows.begin(),
                                   parts.shadows.end());
          if (changed)
            spdlog::info(
                "SIGHUP: {} re-read; this process serves its {} route(s) now (junction "
                "check-config {} lists them)",
                config.config_file, next->size(), config.config_file);
          else
            spdlog::info("SIGHUP: {} re-read; the routes are unchanged", config.config_file);
          current = std::move(*next);
        });
      }
      server.set_app_work([python] { return python->busy(); });
      python->release_gil();
      code = server.run();
      // How the load was shared out, for whoever watches the workers (docs/workers.md).
      if (worker)
        spdlog::info("worker {}: served {} requests", static_cast<int>(::getpid()),
                     router.dispatched());
    } catch (const gw::StartupError& e) {
      std::fprintf(stderr, "junction: %s\n", e.what());
      std::fflush(stderr);
      code = 1;
    }
  }
  // A shadow still running in an app thread, or a comparison still queued, writes into nothing
  // from here on: the report and the metrics end with this function.
  for (const auto& shadow : migration.shadows) shadow->report_to(nullptr, {});
  for (const auto& fallthrough : migration.fallthroughs) fallthrough->count_into({});
  python->shutdown_lifespan(grace);
  if (!python->stop(std::chrono::seconds(1))) {
    // Python code still runs in our threads: returning to the interpreter would finalise it
    // under them.
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(code);
  }
  return code;
}

// --workers N: this process is the master. It opens the listeners, imports nothing (unless
// --preload), and forks the workers, each of which loads the apps and serves (master.hpp).
int run_with_workers(const gw::Config& config, const std::vector<gw::ServedRoute>& routes,
                     const std::string& runtime, const std::vector<const char*>& argv) {
  // --preload: a broken app stops the start before any listener or worker exists (with --user,
  // once the listeners are open and root is gone: no app code ever runs as root). The runtime
  // starts no thread here (the WSGI pool and the ASGI loop start in each worker, in load()).
  std::optional<bridge::PythonRuntime> preloaded;
  auto preload = [&]() -> int {
    if (!config.preload) return 0;
    try {
      preloaded.emplace(config.python);
      std::set<std::string> imported;
      for (const auto& route : routes)
        for (const auto& app : route.all_apps())
          if (imported.insert(app.spec.text).second) preloaded->preload(app.spec);
      spdlog::info("--preload: {} app(s) imported in the master", imported.size());
    } catch (const bridge::AppLoadError& e) {
      report_load_error(e);
      return e.exit_code;
    }
    return 0;
  };
  bool drop = !config.edge.user.empty() || !config.edge.group.empty();
  if (!drop)
    if (int code = preload(); code != 0) return code;
  gw::Router none;  // the master answers no request, and logs none
  gw::Config master_config = config;
  master_config.access_log = false;
  gw::Server listeners(master_config, none);
  std::vector<int> listening;
  try {
    log_start(config, routes, runtime);
    listening = listeners.listen_for_workers();
    if (drop) {
      gw::drop_privileges(config.edge.user, config.edge.group);
      listeners.check_tls_readable();
    }
  } catch (const gw::StartupError& e) {
    std::fprintf(stderr, "junction: %s\n", e.what());
    return 1;
  }
  if (drop)
    if (int code = preload(); code != 0) return code;
  // --admin-bind: every worker's counters, in memory they all share; sized for the routes each
  // will build from the same configuration (Router::routes()).
  bool rereadable = !config.config_file.empty();
  std::size_t route_room = gw::router_routes(routes) + (rereadable ? kReloadRouteRoom : 0);
  std::optional<gw::MetricsStore> metrics;
  if (config.admin_bind)
    metrics.emplace(gw::WorkerBoard::kSlots,
                    gw::Router::kBuiltinRoutes + config.edge.statics.size() + route_room, true);
  // The shadow routes' report: one for all the workers, as the metrics.
  std::optional<gw::ShadowReport> shadows;
  auto shadow_room = gw::shadow_routes(routes);
  if (rereadable) shadow_room += kReloadShadowRoom;
  if (shadow_room > 0) shadows.emplace(shadow_room, true);
  // What new workers serve: SIGHUP may read it again.
  std::vector<gw::ServedRoute> current = routes;
  double started = unix_seconds();
  SavedSignalActions python_handlers;
  return gw::run_master(
      config,
      [&](gw::WorkerBoard& board, std::size_t index, const std::function<void()>& ready) {
        WorkerEnv worker{listening,
                         board,
                         index,
                         ready,
                         preloaded ? &*preloaded : nullptr,
                         metrics ? &*metrics : nullptr,
                         shadows ? &*shadows : nullptr,
                         started};
        return serve(config, current, &worker, runtime, nullptr);
      },
      metrics ? &*metrics : nullptr,
      [&](const std::string& why) {
        auto next = reread_routes(why, argv, runtime, config, route_room, shadow_room);
        if (!next) return false;
        // The table shows each route's mode too: equal tables, the same route indexes and
        // labels. Options the table does not show (shadow_scrub, ...) still apply.
        bool changed = gw::route_table(*next) != gw::route_table(current);
        current = std::move(*next);
        if (!changed) {
          spdlog::info("{}: {} re-read; the routes are unchanged", why, config.config_file);
          return false;
        }
        spdlog::info(
            "{}: {} re-read; the new workers serve its {} route(s) (junction check-config "
            "{} lists them)",
            why, config.config_file, current.size(), config.config_file);
        return true;
      });
}

}  // namespace

int gw::run_main(const std::vector<std::string>& args, const std::string& runtime) {
  std::vector<const char*> argv;
  for (const auto& arg : args) argv.push_back(arg.c_str());
  // `junction check-config FILE` is `junction --check-config --config FILE`.
  if (argv.size() >= 2 && std::string_view(argv[1]) == "check-config") {
    if (argv.size() != 3) {
      std::fputs("junction: usage: junction check-config FILE.toml\n", stderr);
      return bridge::kExitUsage;
    }
    argv = {argv[0], "--check-config", "--config", argv[2]};
  }
  gw::Config config;
  try {
    config = gw::parse_command_line(static_cast<int>(argv.size()), argv.data(), runtime);
  } catch (const gw::CommandLineExit& exit) {
    std::fputs(exit.message.c_str(), exit.exit_code == 0 ? stdout : stderr);
    return exit.exit_code;
  }
  std::vector<gw::ServedRoute> routes;
  try {
    routes = gw::served_routes(config);
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "junction: %s\n", e.what());
    return bridge::kExitUsage;
  }
  if (config.check_config) {
    std::printf("%s: the configuration is valid; %zu route(s)\n%s%s",
                config.config_file.empty() ? "command line" : config.config_file.c_str(),
                routes.size(), gw::route_table(routes).c_str(), listener_lines(config).c_str());
    return 0;
  }
  if (routes.empty() && config.health_path.empty() && config.edge.statics.empty()) {
    std::fprintf(stderr,
                 "junction: nothing to serve: give an APP (MODULE:ATTR), --static PREFIX=DIR or "
                 "--health-path PATH (junction --help)\n");
    return bridge::kExitUsage;
  }
  std::size_t activated = 0;
  try {
    gw::init_logging({config.log_level, config.log_format, config.log_file});
    activated = gw::take_systemd_sockets(config);
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "junction: %s\n", e.what());
    return 1;
  }
  gw::SystemdNotify::instance().init_from_environment();
  if (activated > 0)
    spdlog::info("socket activation: {} listening socket(s) from systemd replace --bind",
                 activated);
  // A peer that resets the connection must not kill the process (writes use MSG_NOSIGNAL, but
  // nothing else should either). Python ignores it too, but junction.run() may run elsewhere.
  std::signal(SIGPIPE, SIG_IGN);

  PidFile pid_file(config.pid_file);
  if (!pid_file.ok()) return 1;
  if (config.supervised()) return run_with_workers(config, routes, runtime, argv);
  return serve(config, routes, nullptr, runtime, &argv);
}
