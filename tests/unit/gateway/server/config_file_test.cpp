// --config FILE.toml: keys as flags, every error with its place, and the order of precedence
// (command line, then JUNCTION_* variables, then the file).
#include "gateway/server/config_file.hpp"

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gateway/server/config.hpp"
#include "support/command_line.hpp"

namespace junction::gateway {
namespace {

// A file in a fresh temporary directory, removed with it.
class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    std::string pattern = (std::filesystem::temp_directory_path() / "junction-toml-XXXXXX");
    dir_ = ::mkdtemp(pattern.data());
    path_ = dir_ + "/junction.toml";
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::filesystem::remove_all(dir_); }
  const std::string& path() const { return path_; }

 private:
  std::string dir_, path_;
};

const std::vector<FlagShape> kFlags = {
    {"workers", false, false},      {"bind", false, true},
    {"no-access-log", true, false}, {"timeout-keep-alive", false, false},
    {"health-path", false, false},
};

std::vector<std::string> errors_of(const std::string& text) {
  TempFile file(text);
  std::vector<std::string> errors;
  CHECK_FALSE(read_config_file(file.path(), kFlags, errors));
  for (auto& error : errors) error = error.substr(file.path().size());  // ":LINE:COL: ..."
  return errors;
}

TEST_CASE("read_config_file: keys are flags, values as the command line takes them",
          "[config_file]") {
  TempFile file(R"(
workers = 4
bind = ["127.0.0.1:8000", "unix:/run/app.sock"]
no_access_log = true
timeout-keep-alive = 2.5
)");
  std::vector<std::string> errors;
  auto config = read_config_file(file.path(), kFlags, errors);
  REQUIRE(config);
  CHECK(errors.empty());
  REQUIRE(config->settings.size() == 4);
  CHECK(config->find("workers")->values == std::vector<std::string>{"4"});
  CHECK(config->find("bind")->values ==
        std::vector<std::string>{"127.0.0.1:8000", "unix:/run/app.sock"});
  CHECK(config->find("no-access-log")->values == std::vector<std::string>{"true"});
  CHECK(config->find("timeout-keep-alive")->values == std::vector<std::string>{"2.5"});
  CHECK(config->find("workers")->place.line == 2);
  CHECK(config->find("health-path") == nullptr);
  CHECK(config->located(*config->find("bind"), "oops") == file.path() + ":3:1: oops");
}

TEST_CASE("read_config_file: every error, each with its line and column", "[config_file]") {
  auto errors = errors_of(R"(
wrokers = 4
bind = "127.0.0.1:8000"
no_access_log = "yes"
timeout_keep_alive = [1, 2]
colour = "blue"
health_path = true
)");
  REQUIRE(errors.size() == 5);
  CHECK(errors[0] == ":2:1: unknown key 'wrokers'; did you mean 'workers'?");
  CHECK(errors[1] == ":4:1: 'no-access-log' is a switch: true or false, not a string");
  CHECK(errors[2] == ":5:1: 'timeout-keep-alive' takes one value, not an array");
  CHECK(errors[3].starts_with(":6:1: unknown key 'colour' (every key is a flag"));
  CHECK(errors[4] == ":7:1: 'health-path' takes a value (a string or a number), not a boolean");
}

TEST_CASE("read_config_file: two spellings of one key, a syntax error, a missing file",
          "[config_file]") {
  CHECK(errors_of("no_access_log = true\nno-access-log = true\n") ==
        std::vector<std::string>{
            ":2:1: 'no-access-log' is set twice ('-' and '_' spell the same key)"});
  auto syntax = errors_of("workers = 4\nbind = [\"a\"\n");
  REQUIRE(syntax.size() == 1);
  CHECK(syntax[0].starts_with(":2:13: "));  // where the parser gave up: the end of the file
  CHECK(syntax[0].find("array") != std::string::npos);
  std::vector<std::string> errors;
  CHECK_FALSE(read_config_file("/nonexistent/junction.toml", kFlags, errors));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].starts_with("/nonexistent/junction.toml: "));
}

TEST_CASE("nearest_name: a likely typo, not any name", "[config_file]") {
  std::vector<std::string> names{"workers", "threads", "bind", "access-log-format"};
  CHECK(nearest_name("wrokers", names) == "workers");
  CHECK(nearest_name("thread", names) == "threads");
  CHECK(nearest_name("access-log-fromat", names) == "access-log-format");
  CHECK(nearest_name("colour", names).empty());
  CHECK(nearest_name("x", names).empty());
}

TEST_CASE("parse_command_line --config: the command line, then JUNCTION_*, then the file",
          "[config_file]") {
  TempFile file(R"(
workers = 3
health_path = "/from-file"
bind = ["http://127.0.0.1:9101", "http://127.0.0.1:9102"]
no_access_log = true
threads = 5
)");
  auto config = parse_args({"--config", file.path().c_str()});
  CHECK(config.workers == 3);
  CHECK(config.health_path == "/from-file");
  REQUIRE(config.binds.size() == 2);
  CHECK(config.binds[1].port == 9102);
  CHECK_FALSE(config.access_log);
  CHECK(config.python.threads == 5);

  auto given = parse_args(
      {"--workers", "2", "--bind", "http://127.0.0.1:9200", ("--config=" + file.path()).c_str()});
  CHECK(given.workers == 2);
  REQUIRE(given.binds.size() == 1);  // the command line's list replaces the file's
  CHECK(given.binds[0].port == 9200);
  CHECK(given.health_path == "/from-file");

  ::setenv("JUNCTION_HEALTH_PATH", "/from-env", 1);
  ::setenv("JUNCTION_CONFIG", file.path().c_str(), 1);
  auto from_env = parse_args({});
  ::unsetenv("JUNCTION_HEALTH_PATH");
  ::unsetenv("JUNCTION_CONFIG");
  CHECK(from_env.health_path == "/from-env");
  CHECK(from_env.workers == 3);  // the file named by JUNCTION_CONFIG was read
}

TEST_CASE("parse_command_line --config: [[listen]] tables are listeners of their own",
          "[config_file]") {
  TempFile file(R"(
bind = "http://127.0.0.1:9300"

[[listen]]
bind = "127.0.0.1:9301"
tls = false
http = 2

[[listen]]
bind = "unix:/tmp/junction-listen-test.sock"
proxy_protocol = true
http = "auto"
)");
  auto config = parse_args({"--config", file.path().c_str()});
  REQUIRE(config.binds.size() == 3);  // the file's bind, then its [[listen]] tables
  CHECK(config.binds[0].port == 9300);
  CHECK_FALSE(config.binds[0].http);
  CHECK(config.binds[1].security == BindAddress::Security::plain);
  CHECK(config.binds[1].http == HttpMode::http2);
  CHECK_FALSE(config.binds[1].proxy_protocol);
  CHECK(config.binds[2].kind == BindAddress::Kind::unix_socket);
  CHECK(config.binds[2].proxy_protocol == true);
  CHECK(config.binds[2].http == HttpMode::automatic);

  auto given = parse_args({"--config", file.path().c_str(), "-b", "127.0.0.1:9400"});
  REQUIRE(given.binds.size() == 1);  // --bind replaces every listener of the file
  CHECK(given.binds[0].port == 9400);

  TempFile only(R"(
[[listen]]
bind = "127.0.0.1:9500"
)");
  auto listened = parse_args({"--config", only.path().c_str()});
  REQUIRE(listened.binds.size() == 1);  // no 127.0.0.1:8000 beside it
  CHECK(listened.binds[0].port == 9500);
}

TEST_CASE("parse_command_line --config: errors name the file's line, exit 2", "[config_file]") {
  TempFile typo("workers = 2\nthreds = 4\nhealth_path = 1\n");
  auto e = exit_of({"--config", typo.path().c_str()});
  CHECK(e.exit_code == 2);
  // The file is checked before anything else: only the typo is reported (health_path = 1 is a
  // value; its own check would come later).
  CHECK(e.message ==
        "junction: " + typo.path() + ":2:1: unknown key 'threds'; did you mean 'threads'?\n");

  // A value CLI11 refuses is placed in the file too, when the file gave it.
  TempFile range("threads = 0\n");
  auto bad = exit_of({"--config", range.path().c_str()});
  CHECK(bad.exit_code == 2);
  CHECK(bad.message.starts_with("junction: " + range.path() + ":1:1: --threads"));
  CHECK(std::count(bad.message.begin(), bad.message.end(), '\n') == 1);

  auto missing = exit_of({"--config", "/nonexistent/junction.toml"});
  CHECK(missing.exit_code == 2);
  CHECK(missing.message.starts_with("junction: /nonexistent/junction.toml: "));
}

}  // namespace
}  // namespace junction::gateway

namespace junction::gateway {
namespace {

TEST_CASE("read_config_file: [apps.NAME] and [[routes]]", "[config_file]") {
  TempFile file(R"(
[apps.legacy]
target = "mysite.wsgi:application"

[apps.new]
target = "asgi:main:app"

[[routes]]
host = "API.example.com"
prefix = "/orders/"
methods = ["get", "HEAD"]
app = "new"
mount = true

[[routes]]
app = "legacy"
)");
  std::vector<std::string> errors;
  auto config = read_config_file(file.path(), {}, errors);
  REQUIRE(config);
  REQUIRE(config->apps.size() == 2);
  CHECK(config->apps[0].name == "legacy");
  CHECK(config->apps[1].target == "asgi:main:app");
  REQUIRE(config->routes.size() == 2);
  const auto& first = config->routes[0];
  CHECK(first.rule.host == "api.example.com");
  CHECK(first.rule.prefix == "/orders");
  CHECK(first.rule.methods == std::vector<std::string>{"GET", "HEAD"});
  CHECK(first.app == "new");
  CHECK(first.mount);
  CHECK(first.place.line == 8);
  CHECK(config->routes[1].rule.prefix == "/");  // the default: every path
  CHECK_FALSE(config->routes[1].mount);
}

TEST_CASE("read_config_file: what is wrong in apps and routes", "[config_file]") {
  auto errors = errors_of(R"(
[apps.a]
target = "x.wsgi:application"
threads = 0

[apps.b]
interface = "asgi"

[[routes]]
host = "example.com:8080"
prefix = "api"
methods = []
app = "a"
mount = "yes"

[[routes]]
app = "a"
methods = ["GET"]

[[routes]]
app = "a"
methods = ["POST", "GET"]
)");
  CHECK(errors == std::vector<std::string>{
                      ":4:1: threads is a whole number from 1 to 1024",
                      ":6:1: [apps.b] needs a target = \"MODULE:ATTR\"",
                      ":10:1: host is a name (\"example.com\") or a wildcard (\"*.example.com\"), "
                      "without a port",
                      ":11:1: prefix is a path starting with '/' (\"/api\")",
                      ":12:1: methods is a list of HTTP methods ([\"GET\", \"HEAD\"])",
                      ":14:1: mount is true or false",
                      ":20:1: this route (*/ [POST,GET]) takes the same requests as the one at "
                      "line 16 (*/ [GET]): it could never answer",
                  });
}

TEST_CASE("read_config_file: an app's interface and import path", "[config_file]") {
  TempFile file(R"(
[apps.api]
target = "main:app"
interface = "asgi"
pythonpath = ["services/api", "lib"]

[apps.shop]
target = "wsgi:shop.wsgi:application"
interface = "wsgi"
)");
  std::vector<std::string> errors;
  auto config = read_config_file(file.path(), {}, errors);
  REQUIRE(config);
  CHECK(config->apps[0].target == "asgi:main:app");
  CHECK(config->apps[0].pythonpath == std::vector<std::string>{"services/api", "lib"});
  CHECK(config->apps[1].target == "wsgi:shop.wsgi:application");

  auto wrong = errors_of(R"(
[apps.api]
target = "wsgi:main:app"
interface = "asgi"
)");
  CHECK(wrong == std::vector<std::string>{":4:1: interface = \"asgi\", but the target says wsgi"});
}

TEST_CASE("read_config_file: an app's own pool, budget, lifespan and timeout", "[config_file]") {
  TempFile file(R"(
[apps.shop]
target = "shop.wsgi:application"
threads = 4
backlog = 16
request_timeout = 2.5

[apps.api]
target = "main:app"
limit-concurrency = 50
lifespan = "off"

[[routes]]
prefix = "/"
app = "shop"

[[routes]]
prefix = "/reports"
app = "shop"
request_timeout = 30
)");
  std::vector<std::string> errors;
  auto config = read_config_file(file.path(), {}, errors);
  REQUIRE(config);
  const auto& shop = config->apps[0].settings;
  CHECK(shop.name == "shop");
  CHECK(shop.threads == 4u);
  CHECK(shop.backlog == 16u);
  CHECK(shop.own_pool());
  CHECK(shop.request_timeout == 2.5);
  CHECK_FALSE(shop.limit_concurrency);
  const auto& api = config->apps[1].settings;
  CHECK_FALSE(api.own_pool());
  CHECK(api.limit_concurrency == 50u);
  CHECK(api.lifespan == "off");
  CHECK_FALSE(config->routes[0].request_timeout);
  CHECK(config->routes[1].request_timeout == 30.0);

  auto wrong = errors_of(R"(
[apps.a]
target = "main:app"
backlog = -1
limit_concurrency = "many"
lifespan = "sometimes"
request_timeout = -3
thread = 4

[[routes]]
app = "a"
request_timeout = "1s"
)");
  CHECK(wrong == std::vector<std::string>{
                     ":4:1: backlog is a whole number from 0 to 1000000",
                     ":5:1: limit_concurrency is a whole number from 1 to 1000000",
                     ":6:1: lifespan is \"auto\", \"on\" or \"off\"",
                     ":7:1: request_timeout is a number of seconds (0: no limit)",
                     ":8:1: unknown key 'thread' in [apps.a]; did you mean 'threads'?",
                     ":12:1: request_timeout is a number of seconds (0: no limit)",
                 });
}

TEST_CASE("read_config_file: a route's migration keys", "[config_file]") {
  TempFile file(R"(
[apps.legacy]
target = "mysite.wsgi:application"
[apps.new]
target = "main:app"

[[routes]]
prefix = "/orders"
app = "new"
fallthrough = "legacy"
fallthrough_on = [404, 405]
fallthrough-max-body = 4096
expose_decision = true

[[routes]]
prefix = "/cart"
split = { new = 10, legacy = 90 }
sticky = "client"
split_seed = 42
)");
  std::vector<std::string> errors;
  auto config = read_config_file(file.path(), {}, errors);
  INFO((errors.empty() ? "" : errors[0]));
  REQUIRE(config);
  REQUIRE(config->routes.size() == 2);
  const auto& orders = config->routes[0];
  CHECK(orders.fallthrough == "legacy");
  CHECK(orders.fallthrough_on == std::vector<int>{404, 405});
  CHECK(orders.fallthrough_max_body == 4096);
  CHECK(orders.expose_decision);
  CHECK(orders.apps() == std::vector<std::string>{"new", "legacy"});
  const auto& cart = config->routes[1];
  CHECK(cart.app == "new");  // a split's first app, when the route names none
  REQUIRE(cart.split.size() == 2);
  CHECK(cart.split[1].app == "legacy");
  CHECK(cart.split[1].percent == 90);
  CHECK(cart.sticky == Sticky::client);
  CHECK(cart.split_seed == 42);
  CHECK(cart.apps() == std::vector<std::string>{"new", "legacy"});
}

TEST_CASE("read_config_file: what is wrong in a route's migration keys", "[config_file]") {
  auto errors = errors_of(R"(
[apps.legacy]
target = "mysite.wsgi:application"
[apps.new]
target = "main:app"
[apps.third]
target = "third:app"

[[routes]]
prefix = "/a"
app = "new"
fallthrough = "legasy"

[[routes]]
prefix = "/b"
split = { new = 10, legacy = 80 }

[[routes]]
prefix = "/c"
app = "new"
fallthrough = "new"
split_seed = 1

[[routes]]
prefix = "/d"
app = "new"
sticky = "none"

[[routes]]
prefix = "/f"
split = { new = 50, legacy = 50 }
fallthrough = "third"

[[routes]]
prefix = "/e"
app = "new"
fallthrough_on = ["404"]
sticky = "always"
fallthrough_max_body = -1
)");
  // A route with a key that is wrong in itself is not looked at as a whole.
  CHECK(errors == std::vector<std::string>{
                      ":37:1: fallthrough_on is a list of HTTP statuses ([404, 405])",
                      ":38:1: sticky is \"cookie\", \"client\" or \"none\"",
                      ":39:1: fallthrough_max_body is a number of bytes (1048576)",
                      ":12:1: the route names app 'legasy', which no [apps.legasy] defines; did "
                      "you mean 'legacy'?",
                      ":16:1: the split's shares sum to 90, not 100",
                      ":21:1: fallthrough names the route's own app 'new': name the legacy app "
                      "that answers when 'new' does not",
                      ":22:1: sticky and split_seed need a split = { APP = PERCENT, ... }",
                      ":27:1: sticky and split_seed need a split = { APP = PERCENT, ... }",
                      ":32:1: with a split, fallthrough names one of the split's apps (the one the "
                      "others fall through to), not 'third'",
                  });
}

}  // namespace
}  // namespace junction::gateway
