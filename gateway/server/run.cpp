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
#include <optional>
#include <random>

#include "bridge/app_spec.hpp"
#include "bridge/python_runtime.hpp"
#include "gateway/health.hpp"
#include "gateway/logging.hpp"
#include "gateway/router.hpp"
#include "gateway/server/config.hpp"
#include "gateway/server/master.hpp"
#include "gateway/server/server.hpp"

namespace gw = junction::gateway;
namespace bridge = junction::bridge;

namespace {

// The signal dispositions the interpreter had before the server took SIGINT, SIGTERM and SIGHUP,
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
  static constexpr std::array<int, 3> kSignals{SIGINT, SIGTERM, SIGHUP};
  std::array<struct sigaction, 3> saved_{};
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

// Loads the apps and serves until a signal: in this process (listening null: it opens the
// listeners itself), or as a --workers worker on the master's listeners, calling `ready` once
// it is about to accept.
int serve(const gw::Config& config, const std::vector<bridge::AppSpec>& specs,
          const std::vector<int>* listening, const std::function<void()>& ready) {
  // The apps load before the listeners open, so a broken app fails fast without having taken
  // the port; the runtime is declared before the router so the apps it holds go first.
  std::optional<bridge::PythonRuntime> python;
  gw::Router router;
  try {
    python.emplace(config.python);
    for (const auto& spec : specs) {
      router.mount(spec.prefix, python->load(spec));
      spdlog::info("mounted {} at {}", spec.text, spec.prefix);
    }
    python->start_lifespan();
  } catch (const bridge::AppLoadError& e) {
    // What the app raised is the user's to read, as uvicorn and gunicorn print it.
    if (!e.traceback.empty()) {
      auto traceback = e.traceback;
      while (!traceback.empty() && traceback.back() == '\n') traceback.pop_back();
      spdlog::error("{}", traceback);
    }
    std::fprintf(stderr, "junction: %s\n", e.what());
    std::fflush(stderr);
    return e.exit_code;
  }
  if (!config.health_path.empty())
    router.set_health_path(config.health_path, std::make_shared<gw::HealthApp>(config.diagnostics));

  auto grace =
      std::chrono::milliseconds(static_cast<long>(config.timeouts.graceful.count() * 1000));
  int code = 0;
  {
    SavedSignalActions python_handlers;
    gw::Server server(config, router);
    try {
      if (listening)
        server.adopt(*listening);
      else
        server.listen();
      if (ready) ready();
      if (listening && config.max_requests > 0) {
        // Each worker its own limit in [N, N+J]; random_device differs per process.
        std::mt19937_64 random(std::random_device{}());
        std::uniform_int_distribution<std::uint64_t> jitter(0, config.max_requests_jitter);
        server.set_request_limit(config.max_requests + jitter(random));
      }
      server.set_app_work([&python] { return python->busy(); });
      python->release_gil();
      code = server.run();
    } catch (const gw::StartupError& e) {
      std::fprintf(stderr, "junction: %s\n", e.what());
      std::fflush(stderr);
      code = 1;
    }
  }
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

// --workers N: this process is the master. It opens the listeners, imports nothing, and forks
// the workers, each of which loads the apps and serves (master.hpp).
int run_with_workers(const gw::Config& config, const std::vector<bridge::AppSpec>& specs) {
  gw::Router none;  // the master answers no request, and logs none
  gw::Config master_config = config;
  master_config.access_log = false;
  gw::Server listeners(master_config, none);
  std::vector<int> listening;
  try {
    listening = listeners.listen_for_workers();
  } catch (const gw::StartupError& e) {
    std::fprintf(stderr, "junction: %s\n", e.what());
    return 1;
  }
  SavedSignalActions python_handlers;
  return gw::run_master(config, [&](const std::function<void()>& ready) {
    return serve(config, specs, &listening, ready);
  });
}

}  // namespace

int gw::run_main(const std::vector<std::string>& args, const std::string& runtime) {
  std::vector<const char*> argv;
  for (const auto& arg : args) argv.push_back(arg.c_str());
  gw::Config config;
  try {
    config = gw::parse_command_line(static_cast<int>(argv.size()), argv.data(), runtime);
  } catch (const gw::CommandLineExit& exit) {
    std::fputs(exit.message.c_str(), exit.exit_code == 0 ? stdout : stderr);
    return exit.exit_code;
  }
  std::vector<bridge::AppSpec> specs;
  for (const auto& text : config.apps) {
    std::string error;
    auto spec = bridge::parse_app_spec(text, error);
    if (!spec) {
      std::fprintf(stderr, "junction: %s\n", error.c_str());
      return bridge::kExitUsage;
    }
    specs.push_back(std::move(*spec));
  }
  if (specs.empty() && config.health_path.empty()) {
    std::fprintf(stderr,
                 "junction: nothing to serve: give an APP (MODULE:ATTR) or --health-path PATH "
                 "(junction --help)\n");
    return bridge::kExitUsage;
  }
  std::vector<std::string> prefixes;
  for (const auto& spec : specs) {
    if (std::find(prefixes.begin(), prefixes.end(), spec.prefix) != prefixes.end()) {
      std::fprintf(stderr, "junction: two apps are mounted at %s: give each its own prefix\n",
                   spec.prefix.c_str());
      return bridge::kExitUsage;
    }
    prefixes.push_back(spec.prefix);
  }
  gw::init_logging(config.log_level);
  // A peer that resets the connection must not kill the process (writes use MSG_NOSIGNAL, but
  // nothing else should either). Python ignores it too, but junction.run() may run elsewhere.
  std::signal(SIGPIPE, SIG_IGN);

  PidFile pid_file(config.pid_file);
  if (!pid_file.ok()) return 1;
  if (config.workers > 1) return run_with_workers(config, specs);
  return serve(config, specs, nullptr, {});
}
