// Configuration: everything the command line sets. The defaults live in each layer's options
// (gateway/options.hpp, http2/, tls/, bridge/options.hpp); Config aggregates them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bridge/options.hpp"
#include "gateway/access_log.hpp"
#include "gateway/forwarded.hpp"
#include "gateway/options.hpp"
#include "gateway/request_buffer.hpp"
#include "gateway/server/bind_address.hpp"
#include "gateway/server/config_file.hpp"
#include "http2/options.hpp"
#include "tls/options.hpp"

namespace junction::gateway {

// --static PREFIX=DIR: files under DIR answer requests under PREFIX, before any app.
struct StaticMount {
  std::string prefix;     // "/static", without a trailing slash ("/" for the root)
  std::string directory;  // as given; resolved by the static file app
};

// At the edge and behind a proxy (docs/configuration.md, "Behind nginx / a load balancer" and
// "At the edge").
struct EdgeOptions {
  ForwardedPolicy forwarded;  // --forwarded-allow-ips, --forwarded-host
  bool proxy_protocol = false;
  std::vector<StaticMount> statics;
  std::string static_index;                     // --static-index FILE; empty: directories 404
  std::optional<std::uint64_t> static_max_age;  // --static-max-age S: Cache-Control max-age
  bool https_redirect = false;
  std::string hsts;          // the Strict-Transport-Security value; empty: none
  unsigned uds_mode = 0660;  // --uds-mode
  std::string user, group;   // --user, --group: dropped to after binding; empty: stay
};

struct Config {
  std::vector<BindAddress> binds;
  // --admin-bind: /metrics, /status and the dashboard, on a listener of their own (plain HTTP,
  // never an app listener). Off when absent.
  std::optional<BindAddress> admin_bind;
  std::string request_id_header = "X-Request-ID";  // --request-id-header; empty: no IDs
  unsigned io_threads = 1;
  unsigned workers = 1;  // processes serving the listeners; 1: this process serves, no master
  std::string pid_file;  // empty: none
  // --max-requests N --max-requests-jitter J: a worker recycles after its own limit, drawn
  // from [N, N+J] (so that workers do not all restart at once). 0: never.
  std::uint64_t max_requests = 0;
  std::uint64_t max_requests_jitter = 0;
  std::uint64_t max_rss_mib = 0;  // --max-rss: recycle a worker over this resident size
  seconds_d worker_lifetime{0};   // --worker-lifetime: recycle a worker this old; 0: never
  seconds_d worker_timeout{0};    // --worker-timeout: kill a worker silent this long; 0: never
  bool preload = false;           // import the apps in the master, before forking
  bool reload = false;            // --reload: new workers when a .py file changes
  std::vector<std::string> reload_dirs;  // --reload-dir; empty: the working directory
  bool health_check_app = false;         // the health path also probes the Python side
  std::string log_level = "info";
  std::string log_format = "text";  // --log-format text|json
  std::string log_file;             // --log-file; empty: stderr
  bool access_log = true;
  AccessLogOptions access_log_options;  // --access-log-format, -file, -exclude
  Limits limits;
  Timeouts timeouts;
  RequestBuffering request_buffering;  // --request-buffer-size, --request-buffer-total
  // --response-buffer-total: response bytes held for slow readers past each connection's
  // high-water mark, in all (ConnectionContext::response_budget).
  std::uint64_t response_buffer_total = 256ull << 20;
  HttpMode http_mode = HttpMode::automatic;
  http2::Options http2;
  tls::Options tls;
  std::string health_path;   // empty: off
  bool diagnostics = false;  // echo/sleep aids on the health path, for front-end tests
  bridge::Options python;
  EdgeOptions edge;
  std::vector<std::string> apps;
  // --config FILE: its [apps.NAME] and [[routes]] (the flags it sets are in the fields above).
  std::string config_file;
  std::vector<FileApp> file_apps;
  std::vector<FileRoute> file_routes;
  bool check_config = false;  // --check-config: print the route table and exit

  // A master supervises workers: more than one, or a supervision option that needs one
  // (--request-timeout recycles a worker whose WSGI threads are all overdue; --user and --group
  // let a master bind as root and drop its privileges before any worker imports an app).
  bool supervised() const noexcept {
    return workers > 1 || max_requests > 0 || max_rss_mib > 0 || worker_lifetime.count() > 0 ||
           worker_timeout.count() > 0 || any_request_timeout() || preload || reload ||
           !edge.user.empty() || !edge.group.empty();
  }
  // https://, or a bare address when certificates are given: the listener speaks TLS.
  bool speaks_tls(const BindAddress& bind) const {
    return bind.security == BindAddress::Security::tls ||
           (bind.security == BindAddress::Security::automatic && tls.enabled());
  }
  // Whether some request may time out: --request-timeout, or an app's or route's in the file.
  bool any_request_timeout() const noexcept {
    auto set = [](const std::optional<double>& seconds) { return seconds && *seconds > 0; };
    return python.request_timeout.count() > 0 ||
           std::any_of(file_apps.begin(), file_apps.end(),
                       [&](const FileApp& app) { return set(app.settings.request_timeout); }) ||
           std::any_of(file_routes.begin(), file_routes.end(),
                       [&](const FileRoute& route) { return set(route.request_timeout); });
  }
};

// The command line could not be turned into a Config (or asked for --help / --version):
// print `message` (to stdout when exit_code is 0, else stderr) and exit with exit_code.
struct CommandLineExit {
  int exit_code;
  std::string message;
};

// Throws CommandLineExit for --help, --version and every usage error. `runtime` names the
// Python junction runs on, for --version ("Python 3.11.7 (/path/to/python)").
Config parse_command_line(int argc, const char* const* argv, const std::string& runtime = {});

}  // namespace junction::gateway
