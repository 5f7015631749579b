// What a server answers with: the command line's APPs (PREFIX=MODULE:ATTR, a mount) and the
// --config file's [[routes]] (docs/configuration.md, "Routes"), as one list of routes.
#pragma once

#include <string>
#include <vector>

#include "bridge/app_spec.hpp"
#include "gateway/router.hpp"
#include "gateway/server/config.hpp"

namespace junction::gateway {

struct ServedRoute {
  // The app to load. Its prefix is where the app is mounted (SCRIPT_NAME / root_path): the
  // route's prefix for an APP argument or a `mount = true` route, "/" otherwise.
  bridge::AppSpec spec;
  RouteRule rule;    // which requests it answers
  std::string name;  // the app's name in logs and /metrics: [apps.NAME], or MODULE:ATTR
};

// The routes of `config`, command-line APPs first. Throws std::runtime_error (one line) for an
// APP that does not parse, or two routes that take the same requests.
std::vector<ServedRoute> served_routes(const Config& config);

// The table --check-config prints: one line per route, most specific first.
std::string route_table(const std::vector<ServedRoute>& routes);

}  // namespace junction::gateway
