// junction: the command-line entry point.
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>

#include "gateway/config.hpp"
#include "gateway/health.hpp"
#include "gateway/logging.hpp"
#include "gateway/router.hpp"
#include "gateway/server.hpp"

namespace gw = junction::gateway;

int main(int argc, char** argv) {
  gw::Config config;
  try {
    config = gw::parse_command_line(argc, argv);
  } catch (const gw::CommandLineExit& exit) {
    std::fputs(exit.message.c_str(), exit.exit_code == 0 ? stdout : stderr);
    return exit.exit_code;
  }
  if (!config.apps.empty()) {
    std::fprintf(stderr,
                 "junction: cannot serve '%s': this build has no Python bridge yet; it serves "
                 "only --health-path\n",
                 config.apps.front().c_str());
    return 2;
  }
  gw::init_logging(config.log_level);
  // A peer that resets the connection must not kill the process (writes use MSG_NOSIGNAL, but
  // nothing else should either).
  std::signal(SIGPIPE, SIG_IGN);

  gw::Router router;
  if (!config.health_path.empty())
    router.set_health_path(config.health_path, std::make_shared<gw::HealthApp>(config.diagnostics));
  else
    spdlog::warn("no app and no --health-path: every request gets 404");

  gw::Server server(config, router);
  try {
    server.listen();
  } catch (const gw::StartupError& e) {
    std::fprintf(stderr, "junction: %s\n", e.what());
    return 1;
  }
  return server.run();
}
