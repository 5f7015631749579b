// What a server answers with: the command line's APPs (PREFIX=MODULE:ATTR, a mount) and the
// --config file's [[routes]] (docs/configuration.md, "Routes"), as one list of routes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bridge/app_spec.hpp"
#include "gateway/router.hpp"
#include "gateway/server/config.hpp"
#include "gateway/server/fallthrough.hpp"
#include "gateway/server/shadow.hpp"
#include "gateway/server/split.hpp"

namespace junction::gateway {

// An app a route names besides its own (a migration route's legacy app, or a split's others).
struct RouteApp {
  bridge::AppSpec spec;
  std::string name;
};

struct ServedRoute {
  // The app to load. Its prefix is where the app is mounted (SCRIPT_NAME / root_path): the
  // route's prefix for an APP argument or a `mount = true` route, "/" otherwise.
  bridge::AppSpec spec;
  RouteRule rule;    // which requests it answers
  std::string name;  // the app's name in logs and /metrics: [apps.NAME], or MODULE:ATTR

  // Migration (docs/migration.md): the route's other apps, mounted as its own, and its mode.
  std::vector<RouteApp> more;
  std::optional<FallthroughOptions> fallthrough;  // legacy_route is the router's to fill
  std::optional<SplitOptions> split;              // the shares name `name`, then `more`
  std::optional<ShadowOptions> shadow;            // shadow_route and report_index are the router's

  // "fallthrough to legacy on 404", "split new=10 legacy=90 (sticky cookie)", "shadow to new
  // (GET,HEAD,OPTIONS)"; empty: none.
  std::string mode() const;
  // Every app of the route, its own first (copies: for start-up only).
  std::vector<RouteApp> all_apps() const;
};

// How many routes the router has for `routes` (each app of a migration route is one), besides
// its built-in ones and the static directories: what the metrics store is sized for.
std::size_t router_routes(const std::vector<ServedRoute>& routes);
// How many of `routes` are shadow routes: what the ShadowReport is sized for.
std::size_t shadow_routes(const std::vector<ServedRoute>& routes);

// The routes of `config`, command-line APPs first. Throws std::runtime_error (one line) for an
// APP that does not parse, or two routes that take the same requests.
std::vector<ServedRoute> served_routes(const Config& config);

// How `app` is loaded at `prefix` ("/": the full path), with its own settings. Throws
// std::runtime_error for a target that does not parse (read_config_file checked it).
bridge::AppSpec file_app_spec(const FileApp& app, const std::string& prefix);

// The table --check-config prints: one line per route, most specific first.
std::string route_table(const std::vector<ServedRoute>& routes);

}  // namespace junction::gateway
