#include "gateway/server/config_edge.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "gateway/server/privileges.hpp"
#include "gateway/server/server.hpp"

namespace junction::gateway::detail {
namespace {

[[noreturn]] void usage_error(const std::string& message) {
  throw CommandLineExit{2, "junction: " + message + "\n"};
}

StaticMount parse_static(const std::string& text) {
  auto equals = text.find('=');
  if (equals == std::string::npos || equals == 0 || equals + 1 == text.size())
    usage_error("--static: expected PREFIX=DIR, as in /static=./staticfiles, got '" + text + "'");
  StaticMount mount{text.substr(0, equals), text.substr(equals + 1)};
  if (!mount.prefix.starts_with('/'))
    usage_error("--static: the prefix must start with '/', got '" + mount.prefix + "'");
  while (mount.prefix.size() > 1 && mount.prefix.back() == '/') mount.prefix.pop_back();
  struct stat st {};
  if (::stat(mount.directory.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    usage_error("--static: '" + mount.directory + "' is not a directory");
  return mount;
}

}  // namespace

void add_edge_options(CLI::App& app, Config& config, EdgeCommandLine& cli) {
  auto& edge = config.edge;
  cli.forwarded_allow_ips_option =
      app.add_option("--forwarded-allow-ips", cli.forwarded_allow_ips,
                     "Peers trusted to send X-Forwarded-For/-Proto/-Scheme, Forwarded (RFC 7239) "
                     "and PROXY headers: IPs, CIDRs, '*' or 'unix', comma-separated (also "
                     "$FORWARDED_ALLOW_IPS, as gunicorn and uvicorn read it)")
          ->capture_default_str()
          ->type_name("LIST");
  app.add_flag("--forwarded-host", edge.forwarded.forwarded_host,
               "Also take X-Forwarded-Host, X-Forwarded-Port and Forwarded host= from trusted "
               "peers (Host, SERVER_NAME, SERVER_PORT)");
  app.add_flag("--proxy-protocol", edge.proxy_protocol,
               "Every connection starts with a PROXY protocol header (v1 or v2, as HAProxy and "
               "cloud load balancers send it), before TLS; peers outside --forwarded-allow-ips "
               "are closed");
  app.add_option("--static", cli.statics,
                 "Serve the files under DIR at PREFIX, before any app (repeatable): ETag, "
                 "ranges, precompressed .br/.gz siblings, sendfile")
      ->allow_extra_args(false)
      ->type_name("PREFIX=DIR");
  app.add_option("--static-index", edge.static_index,
                 "A directory request under --static serves this file in it (default: "
                 "directories give 404)")
      ->type_name("FILE");
  app.add_option("--static-max-age", edge.static_max_age,
                 "Cache-Control: public, max-age=S on static files (default: none)")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{10} * 365 * 86400))
      ->type_name("S");
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
  std::string error;
  // gunicorn's and uvicorn's variable, below the flag and JUNCTION_FORWARDED_ALLOW_IPS.
  std::string allow = cli.forwarded_allow_ips;
  const char* compatible = std::getenv("FORWARDED_ALLOW_IPS");
  if (compatible && cli.forwarded_allow_ips_option && cli.forwarded_allow_ips_option->count() == 0)
    allow = compatible;
  auto trusted = TrustedProxies::parse(allow, error);
  if (!trusted) usage_error("--forwarded-allow-ips: " + error);
  edge.forwarded.trusted = std::move(*trusted);

  bool any_plain = false, any_tls = false, any_tls_tcp = false;
  for (const auto& bind : config.binds) {
    if (bind.security == BindAddress::Security::tls && !config.tls.enabled())
      usage_error("--bind " + bind.text + " needs --tls-cert and --tls-key");
    bool tls = config.speaks_tls(bind);
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

  for (const auto& text : cli.statics) {
    auto mount = parse_static(text);
    auto same = [&](const StaticMount& m) { return m.prefix == mount.prefix; };
    if (std::any_of(edge.statics.begin(), edge.statics.end(), same))
      usage_error("--static: two directories are served at " + mount.prefix);
    edge.statics.push_back(std::move(mount));
  }
  if (edge.statics.empty() && (!edge.static_index.empty() || edge.static_max_age))
    usage_error("--static-index and --static-max-age need --static PREFIX=DIR");
  if (edge.static_index.find('/') != std::string::npos || edge.static_index == "." ||
      edge.static_index == "..")
    usage_error("--static-index: a file name, such as index.html, got '" + edge.static_index + "'");

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
