#include "gateway/server/config_edge.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "gateway/server/privileges.hpp"
#include "gateway/server/server.hpp"

namespace junction::gateway::detail {
namespace {

[[noreturn]] void usage_error(const std::string& message) {
  throw CommandLineExit{2, "junction: " + message + "\n"};
}

bool is_tls(const BindAddress& bind, const Config& config) {
  switch (bind.security) {
    case BindAddress::Security::plain:
      return false;
    case BindAddress::Security::tls:
      return true;
    case BindAddress::Security::automatic:
      return config.tls.enabled();
  }
  return false;
}

}  // namespace

void add_edge_options(CLI::App& app, Config& config, EdgeCommandLine& cli) {
  auto& edge = config.edge;
  app.add_flag("--https-redirect", edge.https_redirect,
               "Plain-text listeners answer every request but the health path with 308 to the "
               "same URL on the TLS listener");
  app.add_option("--hsts", cli.hsts,
                 "Strict-Transport-Security: max-age=S on TLS responses that have none")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{10} * 365 * 86400))
      ->type_name("S");
  app.add_flag("--hsts-include-subdomains", cli.hsts_include_subdomains,
               "HSTS: add includeSubDomains");
  app.add_flag("--hsts-preload", cli.hsts_preload, "HSTS: add preload");
  app.add_option("--uds-mode", cli.uds_mode,
                 "Permissions of unix sockets, in octal, set before the first accept")
      ->capture_default_str()
      ->type_name("OCTAL");
  app.add_option("--user", edge.user,
                 "Bind first, then run as this user (name or uid) before any app is imported; "
                 "needs root")
      ->type_name("USER");
  app.add_option("--group", edge.group,
                 "With or without --user: run as this group (name or gid); needs root")
      ->type_name("GROUP");
}

void finish_edge_options(Config& config, const EdgeCommandLine& cli) {
  auto& edge = config.edge;
  bool any_plain = false, any_tls = false, any_tls_tcp = false;
  for (const auto& bind : config.binds) {
    if (bind.security == BindAddress::Security::tls && !config.tls.enabled())
      usage_error("--bind " + bind.text + " needs --tls-cert and --tls-key");
    bool tls = is_tls(bind, config);
    (tls ? any_tls : any_plain) = true;
    any_tls_tcp = any_tls_tcp || (tls && bind.kind == BindAddress::Kind::tcp);
  }
  if (edge.https_redirect && !(any_plain && any_tls_tcp))
    usage_error(
        "--https-redirect needs a plain-text listener and a TLS one, as in --bind "
        "http://0.0.0.0:80 --bind https://0.0.0.0:443");

  if (cli.hsts) {
    if (!any_tls) usage_error("--hsts needs a TLS listener (--tls-cert and --tls-key)");
    edge.hsts = fmt::format("max-age={}", *cli.hsts);
    if (cli.hsts_include_subdomains) edge.hsts += "; includeSubDomains";
    if (cli.hsts_preload) edge.hsts += "; preload";
  } else if (cli.hsts_include_subdomains || cli.hsts_preload) {
    usage_error("--hsts-include-subdomains and --hsts-preload need --hsts S");
  }

  unsigned mode = 0;
  auto [end, ec] =
      std::from_chars(cli.uds_mode.data(), cli.uds_mode.data() + cli.uds_mode.size(), mode, 8);
  if (cli.uds_mode.empty() || ec != std::errc() ||
      end != cli.uds_mode.data() + cli.uds_mode.size() || mode > 0777)
    usage_error("--uds-mode: expected octal permissions such as 660, got '" + cli.uds_mode + "'");
  edge.uds_mode = mode;

  if (!edge.user.empty() || !edge.group.empty()) {
    if (::geteuid() != 0)
      usage_error(fmt::format("--user and --group need root to switch to (running as uid {})",
                              ::geteuid()));
    try {
      resolve_identity(edge.user, edge.group);  // an unknown name fails before anything binds
    } catch (const StartupError& e) {
      usage_error(e.what());
    }
  }
}

}  // namespace junction::gateway::detail
