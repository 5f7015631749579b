#include "bridge/python_runtime.hpp"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "bridge/asgi_app.hpp"
#include "bridge/borrowed_bytes.hpp"
#include "bridge/event_loop.hpp"
#include "bridge/python_module.hpp"
#include "bridge/worker_pool.hpp"
#include "bridge/wsgi_app.hpp"

namespace py = pybind11;
namespace fs = std::filesystem;

namespace junction::bridge {
namespace {

std::string absolute(const std::string& path) {
  std::error_code ec;
  auto full = fs::absolute(path, ec);
  return ec ? path : full.lexically_normal().string();
}

// The "version" a venv's pyvenv.cfg records (3.11.2), or "" when it has none.
std::string venv_version(const fs::path& venv) {
  std::ifstream cfg(venv / "pyvenv.cfg");
  std::string line;
  while (std::getline(cfg, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    auto key = line.substr(0, line.find_first_of(" =\t"));
    if (key != "version" && key != "version_info") continue;
    auto value = line.substr(eq + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    return value;
  }
  return {};
}

}  // namespace

struct PythonRuntime::Impl {
  // A WSGI pool: the command line's (named "") or an app's own ([apps.NAME] threads, backlog).
  struct Pool {
    std::string name;
    std::unique_ptr<WorkerPool> pool;
    WorkerPool::Progress last_progress;  // what wsgi_progressed() saw last
  };
  // An ASGI app as loaded: the object it was imported as (two routes may load one app), and
  // its lifespan mode.
  struct LoadedAsgi {
    std::shared_ptr<AsgiApp> app;
    py::handle imported;
    std::string lifespan;
  };

  Options options;
  py::object support;  // the _junction_support module
  std::shared_ptr<WsgiSupport> wsgi;
  std::vector<Pool> pools;  // in the order the apps needing them loaded
  std::unique_ptr<EventLoop> loop;
  std::shared_ptr<AsgiSupport> asgi;
  // ASGI budgets, by app name ("": the command line's --limit-concurrency).
  std::vector<std::pair<std::string, std::shared_ptr<AsgiBudget>>> budgets;
  std::vector<LoadedAsgi> asgi_apps;
  std::vector<std::pair<std::string, py::object>> lifespans;  // (APP text, Lifespan)
  PyThreadState* released = nullptr;  // the main thread's state while others run Python
  bool stuck = false;
  // Apps imported so far (--preload imports them in the master), by APP text: an app two
  // routes name is imported once (a factory is called once, its lifespan runs once).
  std::map<std::string, py::object> imported;

  py::object import_app(const AppSpec& spec);
  WorkerPool& pool_for(const AppSettings& settings);
  std::shared_ptr<AsgiBudget> budget_for(const AppSettings& settings);
  gateway::seconds_d request_timeout(const AppSettings& settings) const {
    return settings.request_timeout ? gateway::seconds_d(*settings.request_timeout)
                                    : options.request_timeout;
  }

  std::shared_ptr<gateway::App> load_asgi(const AppSpec& spec, py::object app);

  void start();
  void set_up_modules(const std::string& venv, const std::vector<std::string>& pythonpath);
};

void PythonRuntime::Impl::start() {
  // junction runs in the interpreter that launched it (the console script, python -m junction,
  // junction.run()), on its main thread, with the GIL held.
  if (!Py_IsInitialized())
    throw AppLoadError(kExitUsage,
                       "junction runs inside Python: start it with `junction` or "
                       "`python -m junction`");
  py::module_ sys = py::module_::import("sys");
  std::string ours = std::to_string(PY_MAJOR_VERSION) + "." + std::to_string(PY_MINOR_VERSION);
  // The venv is relative to where junction was started; --pythonpath to --chdir (gunicorn's
  // rule: the paths name the app's tree).
  std::string venv = options.venv.empty() ? "" : absolute(options.venv);
  std::string venv_site;
  if (!venv.empty()) {
    if (!fs::exists(fs::path(venv) / "pyvenv.cfg"))
      throw AppLoadError(kExitUsage,
                         "--venv " + options.venv + ": not a virtualenv (no pyvenv.cfg)");
    std::string version = venv_version(venv);
    if (!version.empty() && version != ours && !version.starts_with(ours + "."))
      throw AppLoadError(kExitUsage, "--venv " + options.venv + ": it was made for Python " +
                                         version + ", but junction runs on Python " + ours + " (" +
                                         sys.attr("executable").cast<std::string>() +
                                         "): install junction into that venv instead");
    venv_site = venv + "/lib/python" + ours + "/site-packages";
    if (!fs::is_directory(venv_site))
      throw AppLoadError(kExitUsage, "--venv " + options.venv + ": it has no " + venv_site);
  }
  if (!options.chdir.empty() && ::chdir(options.chdir.c_str()) != 0)
    throw AppLoadError(kExitUsage, "--chdir " + options.chdir + ": " + std::strerror(errno));
  std::vector<std::string> pythonpath;
  for (const auto& path : options.pythonpath) pythonpath.push_back(absolute(path));

  try {
    set_up_modules(venv_site, pythonpath);
  } catch (py::error_already_set& error) {
    throw AppLoadError(kExitUsage, std::string("cannot set up Python: ") + error.what());
  }
}

void PythonRuntime::Impl::set_up_modules(const std::string& venv_site,
                                         const std::vector<std::string>& pythonpath) {
  py::module_ sys = py::module_::import("sys");
  py::list path = sys.attr("path");
  if (!venv_site.empty()) {
    // --venv: another venv of this Python. Its site-packages (and its .pth files) go before the
    // packages of the venv junction runs from, so the app's own versions win.
    auto before = py::len(path);
    py::module_::import("site").attr("addsitedir")(venv_site);
    py::list added = path[py::slice(static_cast<py::ssize_t>(before), py::len(path), 1)];
    path[py::slice(static_cast<py::ssize_t>(before), py::len(path), 1)] = py::list();
    path[py::slice(0, 0, 1)] = added;
  }
  // As gunicorn: --pythonpath entries first, then the working directory, then the rest.
  py::list front;
  for (const auto& entry : pythonpath) front.append(entry);
  front.append(fs::current_path().string());
  path[py::slice(0, 0, 1)] = front;

  support = install_support_module();
  register_python_module();

  wsgi = std::make_shared<WsgiSupport>();
  auto log =
      py::cpp_function([](const std::string& line) { spdlog::error("wsgi.errors: {}", line); });
  wsgi->errors = support.attr("ErrorStream")(log);
  wsgi->file_wrapper = support.attr("FileWrapper");
  wsgi->format_exception = support.attr("format_exception");
}

PythonRuntime::PythonRuntime(const Options& options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  impl_->start();
}

// The interpreter is the caller's and goes on after us: what we hold in it is released, with
// the GIL, and nothing is finalised.
PythonRuntime::~PythonRuntime() {
  if (!impl_ || impl_->stuck || !Py_IsInitialized()) return;
  if (impl_->released) {
    PyEval_RestoreThread(impl_->released);
    impl_->released = nullptr;
  }
  impl_->wsgi.reset();
  impl_->imported.clear();
  impl_->lifespans.clear();
  impl_->asgi_apps.clear();
  impl_->asgi.reset();
  impl_->loop.reset();
  impl_->support = py::object();
  impl_->pools.clear();
  // Connections may still hold app bytes (bridge/borrowed_bytes.hpp): nobody will give them back.
  stop_deferred_release();
}

py::object PythonRuntime::Impl::import_app(const AppSpec& spec) {
  if (auto known = imported.find(spec.text); known != imported.end()) return known->second;
  try {
    py::object app =
        support.attr("load_app")(spec.module, spec.attr, spec.call_factory, spec.target());
    imported.emplace(spec.text, app);
    return app;
  } catch (py::error_already_set& error) {
    if (error.matches(support.attr("LoadError"))) {
      py::tuple args = error.value().attr("args");
      throw AppLoadError(kExitAppLoad, args[0].cast<std::string>(),
                         args.size() > 1 ? args[1].cast<std::string>() : "");
    }
    throw AppLoadError(kExitAppLoad, "loading '" + spec.text + "' failed: " + error.what());
  }
}

void PythonRuntime::preload(const AppSpec& spec) {
  impl_->import_app(spec);
}

WorkerPool& PythonRuntime::Impl::pool_for(const AppSettings& settings) {
  std::string name = settings.own_pool() ? settings.name : "";
  for (auto& pool : pools)
    if (pool.name == name) return *pool.pool;
  unsigned threads = settings.threads.value_or(options.threads);
  unsigned backlog = settings.backlog.value_or(options.backlog);
  if (!name.empty())
    spdlog::info("{}: a WSGI pool of its own, {} thread(s) and a backlog of {}", name, threads,
                 backlog);
  pools.push_back({name, std::make_unique<WorkerPool>(threads, backlog), {}});
  return *pools.back().pool;
}

std::shared_ptr<AsgiBudget> PythonRuntime::Impl::budget_for(const AppSettings& settings) {
  std::string name = settings.limit_concurrency ? settings.name : "";
  for (const auto& [known, budget] : budgets)
    if (known == name) return budget;
  auto budget = name.empty()
                    ? std::make_shared<AsgiBudget>(options.limit_concurrency, "--limit-concurrency")
                    : std::make_shared<AsgiBudget>(*settings.limit_concurrency,
                                                   "limit_concurrency in [apps." + name + "]");
  if (!name.empty()) spdlog::info("{}: {} ASGI requests at once of its own", name, budget->limit);
  budgets.emplace_back(name, budget);
  return budget;
}

std::shared_ptr<gateway::App> PythonRuntime::load(const AppSpec& spec) {
  auto& impl = *impl_;
  py::object app = impl.import_app(spec);
  bool asgi = spec.interface == Interface::asgi || (spec.interface == Interface::detect &&
                                                    impl.support.attr("is_asgi")(app).cast<bool>());
  if (asgi) return impl.load_asgi(spec, std::move(app));
  auto& pool = impl.pool_for(spec.settings);
  std::string script_name = spec.prefix == "/" ? "" : spec.prefix;
  std::string pool_settings = spec.settings.own_pool()
                                  ? "threads and backlog in [apps." + spec.settings.name + "]"
                                  : "--threads and --backlog";
  return std::make_shared<WsgiApp>(std::move(app), spec.text, script_name, impl.wsgi, pool,
                                   impl.request_timeout(spec.settings), std::move(pool_settings));
}

std::shared_ptr<gateway::App> PythonRuntime::Impl::load_asgi(const AppSpec& spec, py::object app) {
  if (!loop) {
    try {
      loop = std::make_unique<EventLoop>(options.loop);
    } catch (py::error_already_set& error) {
      if (error.matches(support.attr("LoadError"))) {
        py::tuple args = error.value().attr("args");
        throw AppLoadError(kExitUsage, args[0].cast<std::string>());
      }
      throw AppLoadError(kExitUsage,
                         std::string("cannot start the ASGI event loop: ") + error.what());
    } catch (const std::runtime_error& error) {
      throw AppLoadError(kExitUsage, error.what());
    }
    asgi = std::make_shared<AsgiSupport>(support, *loop);
    spdlog::info("ASGI apps run on one {} event loop", loop->name());
  }
  py::handle imported_as = app;
  app = support.attr("asgi3")(app);
  std::string root_path = spec.prefix == "/" ? "" : spec.prefix;
  auto wrapped =
      std::make_shared<AsgiApp>(std::move(app), spec.text, root_path, asgi,
                                budget_for(spec.settings), request_timeout(spec.settings), *loop);
  // One app loaded twice (at two mount points, or with two timeouts) runs its lifespan once:
  // both wrappers hand the same state to their scopes.
  auto twin = std::find_if(asgi_apps.begin(), asgi_apps.end(),
                           [&](const LoadedAsgi& other) { return other.imported.is(imported_as); });
  if (twin != asgi_apps.end()) wrapped->share_state(*twin->app);
  asgi_apps.push_back({wrapped, imported_as, spec.settings.lifespan.value_or(options.lifespan)});
  return wrapped;
}

void PythonRuntime::start_lifespan() {
  auto& impl = *impl_;
  auto log = py::cpp_function([](const std::string& level, const std::string& text) {
    if (level == "debug")
      spdlog::debug("{}", text);
    else
      spdlog::error("{}", text);
  });
  for (std::size_t i = 0; i < impl.asgi_apps.size(); ++i) {
    const auto& app = impl.asgi_apps[i].app;
    const auto& mode = impl.asgi_apps[i].lifespan;
    py::handle imported_as = impl.asgi_apps[i].imported;
    bool twin =
        std::any_of(impl.asgi_apps.begin(), impl.asgi_apps.begin() + i,
                    [&](const Impl::LoadedAsgi& other) { return other.imported.is(imported_as); });
    if (mode == "off" || twin) continue;
    py::object lifespan = impl.support.attr("Lifespan")(app->app(), mode, app->state(), log);
    py::tuple result;
    try {
      result = impl.loop->run(lifespan.attr("startup")());
    } catch (py::error_already_set& error) {
      throw AppLoadError(kExitLifespan,
                         app->name() + ": ASGI lifespan startup failed: " + error.what());
    }
    auto status = result[0].cast<std::string>();
    if (status == "failed") {
      auto message = result[1].cast<std::string>();
      throw AppLoadError(kExitLifespan, app->name() + ": ASGI lifespan startup failed" +
                                            (message.empty() ? "" : ": " + message));
    }
    if (status == "ok") {
      spdlog::info("{}: ASGI lifespan startup complete", app->name());
      impl.lifespans.emplace_back(app->name(), std::move(lifespan));
    }
  }
}

void PythonRuntime::shutdown_lifespan(std::chrono::milliseconds timeout) {
  auto& impl = *impl_;
  if (impl.lifespans.empty() || impl.stuck) return;
  PyThreadState* released = std::exchange(impl.released, nullptr);
  if (released) PyEval_RestoreThread(released);
  // In reverse order of startup, as nested context managers would.
  for (auto it = impl.lifespans.rbegin(); it != impl.lifespans.rend(); ++it) {
    try {
      py::tuple result = impl.loop->run(it->second.attr("shutdown")(), timeout);
      if (result[0].cast<std::string>() == "failed")
        spdlog::error("{}: ASGI lifespan shutdown failed: {}", it->first,
                      result[1].cast<std::string>());
      else
        spdlog::info("{}: ASGI lifespan shutdown complete", it->first);
    } catch (py::error_already_set& error) {
      spdlog::error("{}: ASGI lifespan shutdown did not complete: {}", it->first, error.what());
    }
  }
  impl.lifespans.clear();
  if (released) impl.released = PyEval_SaveThread();
}

void PythonRuntime::release_gil() {
  if (!impl_->released) impl_->released = PyEval_SaveThread();
}

void PythonRuntime::with_gil(const std::function<void()>& f) {
  py::gil_scoped_acquire gil;
  f();
}

bool PythonRuntime::imported(const AppSpec& spec) const {
  return impl_->imported.contains(spec.text);
}

std::size_t PythonRuntime::busy() const {
  std::size_t count = 0;
  for (const auto& pool : impl_->pools) count += pool.pool->busy();
  for (const auto& loaded : impl_->asgi_apps) count += loaded.app->busy();
  return count;
}

bool PythonRuntime::serves_wsgi() const noexcept {
  return !impl_->pools.empty();
}

PythonRuntime::PoolOverdue PythonRuntime::most_overdue_pool() const noexcept {
  PoolOverdue worst;
  for (const auto& pool : impl_->pools) {
    PoolOverdue here{pool.pool->overdue(), pool.pool->threads()};
    // here.overdue / here.threads > worst.overdue / worst.threads, without dividing.
    if (worst.threads == 0 || here.overdue * worst.threads > worst.overdue * here.threads)
      worst = here;
  }
  return worst;
}

bool PythonRuntime::serves_asgi() const noexcept {
  return impl_->loop != nullptr;
}

bool PythonRuntime::wsgi_progressed() {
  // Every pool must move: one stuck pool is a stuck worker, whatever the others do.
  bool progressed = true;
  for (auto& pool : impl_->pools) {
    auto now = pool.pool->progress();
    progressed = progressed && (now.idle || now != pool.last_progress);
    pool.last_progress = now;
  }
  return progressed;
}

std::string PythonRuntime::python_version() {
  std::string version = Py_GetVersion();  // "3.11.2 (main, ...) [GCC ...]"; no GIL needed
  return version.substr(0, version.find(' '));
}

std::string PythonRuntime::active_venv() {
  auto text = [](const char* name) -> std::string {
    PyObject* value = PySys_GetObject(name);  // borrowed; null when absent
    if (!value || !PyUnicode_Check(value)) return {};
    const char* utf8 = PyUnicode_AsUTF8(value);
    return utf8 ? utf8 : "";
  };
  auto prefix = text("prefix");
  return prefix != text("base_prefix") ? prefix : std::string();
}

PythonRuntime::Figures PythonRuntime::figures() const {
  Figures figures;
  for (const auto& pool : impl_->pools) {
    auto load = pool.pool->load();
    figures.wsgi_threads += pool.pool->threads();
    figures.wsgi_busy += load.running;
    figures.wsgi_queued += load.queued;
    figures.wsgi_overdue += pool.pool->overdue();
  }
  if (const auto& wsgi = impl_->wsgi) {
    figures.wsgi_refused = wsgi->refused.load(std::memory_order_relaxed);
    figures.wsgi_dropped = wsgi->dropped.load(std::memory_order_relaxed);
    figures.request_timeouts += wsgi->timed_out.load(std::memory_order_relaxed);
  }
  for (const auto& [name, budget] : impl_->budgets) {
    figures.asgi_tasks += budget->in_flight.load(std::memory_order_relaxed);
    figures.asgi_limit += budget->limit;
    figures.asgi_refused += budget->refused.load(std::memory_order_relaxed);
    figures.asgi_dropped += budget->dropped.load(std::memory_order_relaxed);
    figures.request_timeouts += budget->timed_out.load(std::memory_order_relaxed);
  }
  return figures;
}

void PythonRuntime::start_loop_lag_probe(std::chrono::milliseconds period,
                                         std::function<void(std::chrono::nanoseconds)> lag) {
  if (impl_->loop) impl_->loop->start_lag_probe(period, std::move(lag));
}

void PythonRuntime::start_loop_heartbeat(std::chrono::milliseconds period,
                                         std::function<void()> beat) {
  if (impl_->loop) impl_->loop->start_heartbeat(period, std::move(beat));
}

namespace {

// The ASGI half of a probe: an event the loop thread runs among the app's callbacks.
class LoopProbe final : public LoopTarget {
 public:
  explicit LoopProbe(PythonRuntime::ProbeAnswer answered) : answered_(std::move(answered)) {}
  void on_loop_event(int, gateway::error_code, std::size_t) override {
    answered_("ASGI event loop", "");
  }

 private:
  PythonRuntime::ProbeAnswer answered_;
};

}  // namespace

std::vector<std::string> PythonRuntime::probe(const boost::asio::any_io_executor& io,
                                              ProbeAnswer answered) {
  std::vector<std::string> parts;
  for (const auto& pool : impl_->pools) {
    std::string part = pool.name.empty() ? "WSGI pool" : "WSGI pool of " + pool.name;
    parts.push_back(part);
    if (!pool.pool->try_submit([answered, part] { answered(part, ""); }))
      answered(part, "every thread is busy and the backlog is full");
  }
  if (impl_->loop) {
    parts.emplace_back("ASGI event loop");
    impl_->loop->post_batched(io, std::make_shared<LoopProbe>(answered), 0);
  }
  return parts;
}

bool PythonRuntime::stop(std::chrono::milliseconds timeout) {
  auto& impl = *impl_;
  for (auto& pool : impl.pools)
    if (!pool.pool->stop(timeout)) {
      impl.stuck = true;
      return false;
    }
  if (impl.loop && !impl.loop->stop(timeout)) {
    impl.stuck = true;
    return false;
  }
  if (impl.released) {
    PyEval_RestoreThread(impl.released);
    impl.released = nullptr;
  }
  return true;
}

}  // namespace junction::bridge
