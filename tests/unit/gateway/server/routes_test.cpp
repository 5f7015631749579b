// The served routes: APP arguments and [[routes]] as one list, and the table check-config
// prints.
#include "gateway/server/routes.hpp"

#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>

namespace junction::gateway {
namespace {

Config with_routes() {
  Config config;
  config.config_file = "site.toml";
  config.apps = {"/api=asgi:main:app"};
  config.file_apps = {{"legacy", "mysite.wsgi:application", {2, 1}},
                      {"new", "asgi:main:app", {5, 1}}};
  config.file_routes = {{{"", "/", {}}, "legacy", false, {8, 1}},
                        {{"", "/orders", {"POST"}}, "new", false, {12, 1}},
                        {{"shop.example.com", "/v2", {}}, "new", true, {16, 1}}};
  return config;
}

TEST_CASE("served_routes: APP arguments first, then the file's routes", "[routes]") {
  auto routes = served_routes(with_routes());
  REQUIRE(routes.size() == 4);
  CHECK(routes[0].name == "main:app");
  CHECK(routes[0].spec.prefix == "/api");  // an APP argument is mounted at its prefix
  CHECK(routes[0].rule.prefix == "/api");
  CHECK(routes[1].name == "legacy");
  CHECK(routes[1].spec.text == "mysite.wsgi:application");
  CHECK(routes[2].spec.prefix == "/");  // the prefix only selects: the full path
  CHECK(routes[2].rule.methods == std::vector<std::string>{"POST"});
  CHECK(routes[3].spec.prefix == "/v2");  // mount = true
  CHECK(routes[3].rule.host == "shop.example.com");
}

TEST_CASE("served_routes: each app its own settings, the route's timeout over the app's",
          "[routes]") {
  auto config = with_routes();
  config.file_apps[0].settings.threads = 4;
  config.file_apps[0].settings.request_timeout = 5;
  config.file_routes[0].request_timeout = 60;  // "/" to legacy
  auto routes = served_routes(config);
  REQUIRE(routes.size() == 4);
  CHECK(routes[0].spec.settings.name.empty());  // an APP argument has the command line's
  CHECK_FALSE(routes[0].spec.settings.own_pool());
  const auto& root = routes[1].spec.settings;
  CHECK(root.name == "legacy");
  CHECK(root.threads == 4u);
  CHECK(root.request_timeout == 60.0);
  CHECK(routes[2].spec.settings.name == "new");
  CHECK_FALSE(routes[2].spec.settings.request_timeout);
  // The same app with two timeouts is wrapped twice; with one, once.
  auto other = routes[1].spec.settings;
  other.request_timeout = 5;
  CHECK(other.key() != root.key());
  other.request_timeout = 60;
  CHECK(other.key() == root.key());
}

TEST_CASE("served_routes: what cannot be served", "[routes]") {
  auto config = with_routes();
  config.apps.push_back("/=mysite.wsgi:application");  // the same requests as the file's "/"
  CHECK_THROWS_WITH(served_routes(config),
                    "site.toml:8:1: this route (*/) takes the same requests as the app "
                    "/=mysite.wsgi:application given on the command line");
  Config twice;
  twice.apps = {"/api=a:app", "/api/=b:app"};
  CHECK_THROWS_WITH(served_routes(twice), "two apps are mounted at /api: give each its own prefix");
  Config bad;
  bad.apps = {"not a module"};
  CHECK_THROWS_AS(served_routes(bad), std::runtime_error);
}

TEST_CASE("route_table: a migration route names every app's target", "[routes]") {
  auto config = with_routes();
  config.file_routes[1].fallthrough = "legacy";  // POST /orders: new, then legacy
  auto table = route_table(served_routes(config));
  CHECK(table.find("full path; fallthrough to legacy on 404 (asgi:main:app, "
                   "mysite.wsgi:application)") != std::string::npos);
}

TEST_CASE("route_table: in the order routes are tried", "[routes]") {
  auto table = route_table(served_routes(with_routes()));
  auto first = table.find("shop.example.com");
  auto orders = table.find("/orders");
  auto api = table.find("/api ");
  auto root = table.find("legacy");
  REQUIRE(first != std::string::npos);
  CHECK(first < orders);
  CHECK(orders < api);
  CHECK(api < root);
  CHECK(table.find("mount /v2 (asgi:main:app)") != std::string::npos);
  CHECK(table.find("full path (mysite.wsgi:application)") != std::string::npos);
  CHECK(table.starts_with("HOST "));
  // Columns line up whatever their cells' lengths: every row's APP starts where the heading's
  // does.
  auto app_column = table.find("APP");
  std::size_t start = 0;
  while (start < table.size()) {
    auto end = table.find('\n', start);
    auto line = table.substr(start, end - start);
    CHECK(line.size() > app_column);
    CHECK(line[app_column - 1] == ' ');
    CHECK(line[app_column] != ' ');
    start = end + 1;
  }
}

}  // namespace
}  // namespace junction::gateway
