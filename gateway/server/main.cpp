// junction: the command-line entry point.
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "bridge/app_spec.hpp"
#include "bridge/python_runtime.hpp"
#include "gateway/health.hpp"
#include "gateway/logging.hpp"
#include "gateway/router.hpp"
#include "gateway/server/config.hpp"
#include "gateway/server/server.hpp"

namespace gw = junction::gateway;
namespace bridge = junction::bridge;

int main(int argc, char** argv) {
  gw::Config config;
  try {
    config = gw::parse_command_line(argc, argv);
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
  gw::init_logging(config.log_level);
  // A peer that resets the connection must not kill the process (writes use MSG_NOSIGNAL, but
  // nothing else should either).
  std::signal(SIGPIPE, SIG_IGN);

  // Python starts before the listeners open, so a broken app fails fast without having taken
  // the port; declared before the router so the apps it holds go first.
  std::optional<bridge::PythonRuntime> python;
  gw::Router router;
  try {
    if (!specs.empty()) python.emplace(config.python);
    for (const auto& spec : specs) {
      router.mount(spec.prefix, python->load(spec));
      spdlog::info("mounted {} at {}", spec.text, spec.prefix);
    }
    if (python) python->start_lifespan();
  } catch (const bridge::AppLoadError& e) {
    if (!e.traceback.empty()) spdlog::debug("{}", e.traceback);
    std::fprintf(stderr, "junction: %s\n", e.what());
    std::fflush(stderr);
    // Finalising Python could run the half-imported app's atexit hooks; leave at once.
    std::_Exit(e.exit_code);
  }
  if (!config.health_path.empty())
    router.set_health_path(config.health_path, std::make_shared<gw::HealthApp>(config.diagnostics));
  else if (specs.empty())
    spdlog::warn("no app and no --health-path: every request gets 404");

  gw::Server server(config, router);
  try {
    server.listen();
  } catch (const gw::StartupError& e) {
    std::fprintf(stderr, "junction: %s\n", e.what());
    std::fflush(stderr);
    std::_Exit(1);
  }
  if (python) {
    server.set_app_work([&python] { return python->busy(); });
    python->release_gil();
  }
  int code = server.run();
  if (python)
    python->shutdown_lifespan(
        std::chrono::milliseconds(static_cast<long>(config.timeouts.graceful.count() * 1000)));
  if (python && !python->stop(std::chrono::seconds(1))) {
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(code);
  }
  return code;
}
