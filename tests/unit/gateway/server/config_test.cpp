// The command line: bind addresses, defaults, each limit and timeout flag, usage errors, --help.
#include "gateway/server/config.hpp"

#include <sched.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/command_line.hpp"

namespace junction::gateway {
namespace {

std::optional<BindAddress> bind(const std::string& text) {
  std::string error;
  auto result = parse_bind_address(text, error);
  if (result) {
    CHECK(error.empty());
  } else {
    CHECK_FALSE(error.empty());
  }
  return result;
}

TEST_CASE("parse_bind_address: IPv4 and host names", "[config]") {
  auto v4 = bind("127.0.0.1:8000");
  REQUIRE(v4);
  CHECK(v4->kind == BindAddress::Kind::tcp);
  CHECK(v4->host == "127.0.0.1");
  CHECK(v4->port == 8000);
  CHECK(v4->text == "127.0.0.1:8000");

  auto any = bind("0.0.0.0:0");
  REQUIRE(any);
  CHECK(any->port == 0);

  auto name = bind("localhost:65535");
  REQUIRE(name);
  CHECK(name->host == "localhost");
  CHECK(name->port == 65535);
}

TEST_CASE("parse_bind_address: bracketed IPv6", "[config]") {
  auto loopback = bind("[::1]:8080");
  REQUIRE(loopback);
  CHECK(loopback->kind == BindAddress::Kind::tcp);
  CHECK(loopback->host == "::1");
  CHECK(loopback->port == 8080);

  auto full = bind("[2001:db8::42]:443");
  REQUIRE(full);
  CHECK(full->host == "2001:db8::42");
  CHECK(full->port == 443);
}

TEST_CASE("parse_bind_address: unix sockets", "[config]") {
  auto unix_socket = bind("unix:/run/junction.sock");
  REQUIRE(unix_socket);
  CHECK(unix_socket->kind == BindAddress::Kind::unix_socket);
  CHECK(unix_socket->path == "/run/junction.sock");
  CHECK(unix_socket->text == "unix:/run/junction.sock");

  auto relative = bind("unix:j.sock");
  REQUIRE(relative);
  CHECK(relative->path == "j.sock");
}

TEST_CASE("parse_bind_address: malformed addresses", "[config]") {
  for (auto text : {"", "8000", "localhost", ":8000", "::1:8000", "[::1]", "[::1]8000", "[::1:8000",
                    "[]:80", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:80x",
                    "127.0.0.1: 80", "127.0.0.1:99999999999", "unix:"}) {
    INFO("'" << text << "'");
    CHECK_FALSE(bind(text));
  }
}

TEST_CASE("parse_command_line: --workers and --pid-file", "[config]") {
  CHECK(parse_args({"app:app"}).workers == 1);
  CHECK(parse_args({"app:app"}).pid_file.empty());
  CHECK(parse_args({"--workers", "4", "app:app"}).workers == 4);
  CHECK(parse_args({"-w", "3", "app:app"}).workers == 3);
  CHECK(parse_args({"--pid-file", "/run/j.pid", "app:app"}).pid_file == "/run/j.pid");
  // auto: the cores this process may run on, never fewer than one.
  cpu_set_t usable;
  CPU_ZERO(&usable);
  REQUIRE(sched_getaffinity(0, sizeof usable, &usable) == 0);
  CHECK(parse_args({"--workers", "auto", "app:app"}).workers ==
        static_cast<unsigned>(CPU_COUNT(&usable)));
  for (const char* bad : {"0", "-1", "many", "2x", "257", ""}) {
    auto e = exit_of({"--workers", bad, "app:app"});
    CHECK(e.exit_code == 2);
    CHECK(e.message.find("--workers") != std::string::npos);
  }
}

TEST_CASE("parse_command_line: --max-requests and its jitter", "[config]") {
  auto config =
      parse_args({"-w", "2", "--max-requests", "1000", "--max-requests-jitter", "50", "a:b"});
  CHECK(config.max_requests == 1000);
  CHECK(config.max_requests_jitter == 50);
  CHECK(parse_args({"-w", "2", "a:b"}).max_requests == 0);
  // One worker is enough: a master starts the replacement.
  CHECK(parse_args({"--max-requests", "10", "a:b"}).supervised());
  CHECK(exit_of({"-w", "2", "--max-requests-jitter", "5", "a:b"}).exit_code == 2);
  CHECK(exit_of({"-w", "2", "--max-requests", "lots", "a:b"}).exit_code == 2);
}

TEST_CASE("parse_command_line: supervision options", "[config]") {
  auto plain = parse_args({"a:b"});
  CHECK_FALSE(plain.supervised());  // one process, no master
  CHECK(plain.worker_timeout.count() == 0);
  CHECK(plain.worker_lifetime.count() == 0);
  CHECK(plain.max_rss_mib == 0);
  CHECK_FALSE(plain.preload);
  CHECK_FALSE(plain.reload);

  auto config = parse_args({"--worker-timeout", "2.5", "--worker-lifetime", "3600", "--max-rss",
                            "512", "--preload", "a:b"});
  CHECK(config.worker_timeout.count() == 2.5);
  CHECK(config.worker_lifetime.count() == 3600);
  CHECK(config.max_rss_mib == 512);
  CHECK(config.preload);
  CHECK(config.supervised());
  CHECK(parse_args({"--worker-timeout", "0", "a:b"}).worker_timeout.count() == 0);  // 0: off
  CHECK_FALSE(parse_args({"--worker-timeout", "0", "a:b"}).supervised());
  CHECK(parse_args({"--reload", "a:b"}).supervised());
  CHECK(plain.python.request_timeout.count() == 0);  // off by default
  // The I/O threads are shared out among the workers unless given.
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  CHECK(plain.io_threads == cores);
  CHECK(parse_args({"--workers", "2", "a:b"}).io_threads == std::max(1u, cores / 2));
  CHECK(parse_args({"--workers", "64", "a:b"}).io_threads == 1);
  CHECK(parse_args({"--workers", "2", "--io-threads", "3", "a:b"}).io_threads == 3);
  auto timed = parse_args({"--request-timeout", "1.5", "a:b"});
  CHECK(timed.python.request_timeout.count() == 1.5);
  CHECK(timed.supervised());  // a worker whose WSGI threads are all overdue recycles
  CHECK_FALSE(parse_args({"--request-timeout", "0", "a:b"}).supervised());
  CHECK(exit_of({"--request-timeout", "-2", "a:b"}).exit_code == 2);
  CHECK(parse_args({"--reload", "--reload-dir", ".", "--reload-dir", "/", "a:b"})
            .reload_dirs.size() == 2);

  CHECK(exit_of({"--worker-timeout", "-1", "a:b"}).exit_code == 2);
  CHECK(exit_of({"--worker-lifetime", "soon", "a:b"}).exit_code == 2);
  CHECK(exit_of({"--max-rss", "-5", "a:b"}).exit_code == 2);
  auto both = exit_of({"--reload", "--preload", "a:b"});
  CHECK(both.exit_code == 2);
  CHECK(both.message.find("--preload") != std::string::npos);
  CHECK(exit_of({"--reload-dir", ".", "a:b"}).exit_code == 2);  // without --reload
  CHECK(exit_of({"--reload", "--reload-dir", "/no/such/dir", "a:b"}).exit_code == 2);
  CHECK(exit_of({"--health-check-app", "a:b"}).exit_code == 2);  // without --health-path
  CHECK(parse_args({"--health-path", "/h", "--health-check-app", "a:b"}).health_check_app);
}

TEST_CASE("parse_command_line: defaults", "[config]") {
  auto config = parse_args({});
  REQUIRE(config.binds.size() == 1);
  CHECK(config.binds[0].host == "127.0.0.1");
  CHECK(config.binds[0].port == 8000);
  CHECK(config.io_threads >= 1);
  CHECK(config.log_level == "info");
  CHECK(config.access_log);
  const Limits limits;
  CHECK(config.limits.request_line == limits.request_line);
  CHECK(config.limits.header_fields == limits.header_fields);
  CHECK(config.limits.header_field_size == limits.header_field_size);
  CHECK(config.limits.header_block_size == limits.header_block_size);
  CHECK(config.limits.max_body_size == limits.max_body_size);
  const Timeouts timeouts;
  CHECK(config.timeouts.keep_alive == timeouts.keep_alive);
  CHECK(config.timeouts.request_header == timeouts.request_header);
  CHECK(config.timeouts.request_body == timeouts.request_body);
  CHECK(config.timeouts.graceful == timeouts.graceful);
  CHECK(config.health_path.empty());
  CHECK_FALSE(config.diagnostics);
  CHECK(config.apps.empty());
}

TEST_CASE("parse_command_line: each limit flag", "[config]") {
  CHECK(parse_args({"--limit-request-line", "100"}).limits.request_line == 100);
  CHECK(parse_args({"--limit-request-fields", "7"}).limits.header_fields == 7);
  CHECK(parse_args({"--limit-request-field-size", "1000"}).limits.header_field_size == 1000);
  CHECK(parse_args({"--limit-request-header-size", "4096"}).limits.header_block_size == 4096);
  CHECK(parse_args({"--max-body-size", "0"}).limits.max_body_size == 0);
  CHECK(parse_args({"--max-body-size", "10000000000"}).limits.max_body_size == 10000000000u);
  CHECK(parse_args({"--limit-request-line=200"}).limits.request_line == 200);
}

TEST_CASE("parse_command_line: each timeout flag", "[config]") {
  CHECK(parse_args({"--timeout-keep-alive", "1.5"}).timeouts.keep_alive == seconds_d(1.5));
  CHECK(parse_args({"--timeout-request-header", "0.05"}).timeouts.request_header ==
        seconds_d(0.05));
  CHECK(parse_args({"--timeout-request-body", "60"}).timeouts.request_body == seconds_d(60));
  CHECK(parse_args({"--graceful-timeout", "2"}).timeouts.graceful == seconds_d(2));
}

TEST_CASE("parse_command_line: the other flags", "[config]") {
  auto config = parse_args({"--bind", "[::1]:1", "-b", "unix:/tmp/j.sock", "--io-threads", "3",
                            "--log-level", "debug", "--no-access-log", "--health-path", "/h",
                            "--diagnostics", "app:application", "/api=api:app"});
  REQUIRE(config.binds.size() == 2);
  CHECK(config.binds[0].host == "::1");
  CHECK(config.binds[1].kind == BindAddress::Kind::unix_socket);
  CHECK(config.io_threads == 3);
  CHECK(config.log_level == "debug");
  CHECK_FALSE(config.access_log);
  CHECK(config.health_path == "/h");
  CHECK(config.diagnostics);
  CHECK(config.apps == std::vector<std::string>{"app:application", "/api=api:app"});
}

TEST_CASE("parse_command_line: a bad value exits 2 with one clear line", "[config]") {
  const std::vector<std::vector<const char*>> bad = {
      {"--limit-request-line", "abc"},
      {"--limit-request-line", "1"},
      {"--limit-request-fields", "0"},
      {"--limit-request-field-size", "-5"},
      {"--limit-request-header-size", "x"},
      {"--max-body-size", "-1"},
      {"--timeout-keep-alive", "0"},
      {"--timeout-request-header", "-1"},
      {"--timeout-request-body", "soon"},
      {"--graceful-timeout", "1e99"},
      {"--bind", "nonsense"},
      {"--bind", "[::1]"},
      {"--io-threads", "0"},
      {"--log-level", "loud"},
      {"--health-path", "no-slash"},
      {"--diagnostics"},
      {"--no-such-flag"},
      {"--limit-request-line"},
  };
  for (const auto& args : bad) {
    std::string joined;
    for (auto arg : args) joined += std::string(arg) + " ";
    INFO(joined);
    auto e = exit_of(args);
    CHECK(e.exit_code == 2);
    CHECK(e.message.starts_with("junction: "));
    // One line: the message ends with its only newline.
    CHECK(e.message.find('\n') == e.message.size() - 1);
  }
}

TEST_CASE("parse_command_line: --help names every flag and exits 0", "[config]") {
  auto e = exit_of({"--help"});
  CHECK(e.exit_code == 0);
  for (auto flag : {"--bind", "--io-threads", "--log-level", "--access-log", "--no-access-log",
                    "--limit-request-line", "--limit-request-fields", "--limit-request-field-size",
                    "--limit-request-header-size", "--max-body-size", "--timeout-keep-alive",
                    "--timeout-request-header", "--timeout-request-body", "--graceful-timeout",
                    "--health-path", "--diagnostics", "--version", "--help", "APP"}) {
    INFO(flag);
    CHECK(e.message.find(flag) != std::string::npos);
  }
  CHECK(exit_of({"-h"}).exit_code == 0);
}

TEST_CASE("parse_command_line: --version exits 0", "[config]") {
  auto e = exit_of({"--version"});
  CHECK(e.exit_code == 0);
  CHECK(e.message.starts_with("junction "));
}

TEST_CASE("command line: TLS flags come in pairs, and need a certificate", "[config][tls]") {
  // Any existing file does for the parser (this one); the contents are tls/'s business.
  const char* file = __FILE__;
  auto config =
      parse_args({"--tls-cert", file, "--tls-key", file, "--tls-cert", file, "--tls-key", file,
                  "--tls-client-ca", file, "--tls-client-verify", "optional", "--tls-min-version",
                  "1.3", "--tls-handshake-timeout", "2.5", "app:app"});
  CHECK(config.tls.enabled());
  CHECK(config.tls.certificates.size() == 2);
  CHECK(config.tls.client_verify == tls::Options::ClientVerify::optional);
  CHECK(config.tls.min_version == "1.3");
  CHECK(config.tls.handshake_timeout.count() == 2.5);
  REQUIRE(config.apps.size() == 1);  // the APP after a file flag is not taken for a file
  CHECK(config.apps[0] == "app:app");
  CHECK_FALSE(parse_args({}).tls.enabled());

  auto unpaired = exit_of({"--tls-cert", file});
  CHECK(unpaired.exit_code == 2);
  CHECK(unpaired.message ==
        "junction: every --tls-cert needs its --tls-key (got 1 certificate(s), 0 key(s))\n");
  auto alone = exit_of({"--tls-min-version", "1.3"});
  CHECK(alone.exit_code == 2);
  CHECK(alone.message == "junction: the --tls-* options need --tls-cert and --tls-key\n");
  auto no_ca = exit_of({"--tls-cert", file, "--tls-key", file, "--tls-client-verify", "required"});
  CHECK(no_ca.message == "junction: --tls-client-verify needs --tls-client-ca\n");
  auto bad_mode = exit_of({"--tls-client-verify", "maybe"});
  CHECK(bad_mode.exit_code == 2);
  CHECK(bad_mode.message ==
        "junction: --tls-client-verify: 'maybe' is not one of none, optional, "
        "required (see junction --help)\n");
  CHECK(exit_of({"--tls-min-version", "1.1"}).exit_code == 2);
  CHECK(exit_of({"--tls-cert", "/nonexistent", "--tls-key", file}).exit_code == 2);
}

}  // namespace
}  // namespace junction::gateway

namespace junction::gateway {
namespace {

// Sets environment variables for one test and restores them after it (unit tests run one at a
// time in a process, and nothing else reads JUNCTION_* meanwhile).
class Environment {
 public:
  Environment& set(const char* name, const char* value) {
    const char* old = std::getenv(name);
    saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
    ::setenv(name, value, 1);
    return *this;
  }
  ~Environment() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second)
        ::setenv(it->first.c_str(), it->second->c_str(), 1);
      else
        ::unsetenv(it->first.c_str());
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST_CASE("parse_command_line: every flag is also JUNCTION_<FLAG>", "[config]") {
  Environment env;
  env.set("JUNCTION_WORKERS", "3")
      .set("JUNCTION_HEALTH_PATH", "/hz")
      .set("JUNCTION_NO_ACCESS_LOG", "1")
      .set("JUNCTION_TIMEOUT_KEEP_ALIVE", "2.5")
      .set("JUNCTION_BIND", "http://127.0.0.1:9001")
      .set("JUNCTION_FORWARDED_HOST", "true");
  auto config = parse_args({});
  CHECK(config.workers == 3);
  CHECK(config.health_path == "/hz");
  CHECK_FALSE(config.access_log);
  CHECK(config.timeouts.keep_alive.count() == 2.5);
  REQUIRE(config.binds.size() == 1);
  CHECK(config.binds[0].port == 9001);
  CHECK(config.edge.forwarded.forwarded_host);

  // The command line wins.
  auto given = parse_args({"--workers", "2", "--bind", "127.0.0.1:9002"});
  CHECK(given.workers == 2);
  REQUIRE(given.binds.size() == 1);
  CHECK(given.binds[0].port == 9002);
}

TEST_CASE("parse_command_line: a bad JUNCTION_ value is one line and exit 2", "[config]") {
  Environment env;
  env.set("JUNCTION_THREADS", "many");
  auto e = exit_of({});
  CHECK(e.exit_code == 2);
  CHECK(e.message.starts_with("junction: "));
  CHECK(e.message.find("--threads") != std::string::npos);
  CHECK(std::count(e.message.begin(), e.message.end(), '\n') == 1);
}

TEST_CASE("parse_command_line: FORWARDED_ALLOW_IPS, below the flag and JUNCTION_'s", "[config]") {
  Environment env;
  env.set("FORWARDED_ALLOW_IPS", "10.0.0.0/8");
  CHECK(parse_args({}).edge.forwarded.trusted.trusts_ip("10.1.2.3"));
  CHECK_FALSE(parse_args({}).edge.forwarded.trusted.trusts_ip("127.0.0.1"));
  CHECK(parse_args({"--forwarded-allow-ips", "192.0.2.1"})
            .edge.forwarded.trusted.trusts_ip("192.0.2.1"));
  CHECK_FALSE(parse_args({"--forwarded-allow-ips", "192.0.2.1"})
                  .edge.forwarded.trusted.trusts_ip("10.1.2.3"));
  env.set("JUNCTION_FORWARDED_ALLOW_IPS", "172.16.0.0/12");
  CHECK(parse_args({}).edge.forwarded.trusted.trusts_ip("172.16.0.9"));
  CHECK_FALSE(parse_args({}).edge.forwarded.trusted.trusts_ip("10.1.2.3"));
}

TEST_CASE("parse_command_line: --help says that flags come from the environment too", "[config]") {
  auto e = exit_of({"--help"});
  CHECK(e.exit_code == 0);
  CHECK(e.message.find("JUNCTION_<FLAG>") != std::string::npos);
  CHECK(e.message.find("JUNCTION_MAX_REQUESTS") != std::string::npos);
}

}  // namespace
}  // namespace junction::gateway
