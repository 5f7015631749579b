// The served routes (routes.hpp): APP arguments and [[routes]] in one list.
#include "gateway/server/routes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <iterator>
#include <random>
#include <stdexcept>

namespace junction::gateway {

std::vector<ServedRoute> served_routes(const Config& config) {
  std::vector<ServedRoute> routes;
  for (const auto& text : config.apps) {
    std::string error;
    auto spec = bridge::parse_app_spec(text, error);
    if (!spec) throw std::runtime_error(error);
    RouteRule rule{"", spec->prefix, {}};
    for (const auto& other : routes)
      if (other.rule.same_requests(rule))
        throw std::runtime_error("two apps are mounted at " + spec->prefix +
                                 ": give each its own prefix");
    std::string name = spec->target();
    routes.push_back({std::move(*spec), std::move(rule), std::move(name), {}, {}, {}, {}});
  }
  for (const auto& route : config.file_routes) {
    std::vector<RouteApp> apps;
    for (const auto& name : route.apps()) {
      auto app = std::find_if(config.file_apps.begin(), config.file_apps.end(),
                              [&](const FileApp& a) { return a.name == name; });
      if (app == config.file_apps.end())  // read_config_file checked it; a config made otherwise
        throw std::runtime_error("a route names app '" + name + "', which is not defined");
      // In a migration both apps serve the same URLs: the prefix only selects, unless `mount`.
      auto spec = file_app_spec(*app, route.mount ? route.rule.prefix : "/");
      if (route.request_timeout) spec.settings.request_timeout = route.request_timeout;
      apps.push_back({std::move(spec), name});
    }
    auto& spec = apps.front().spec;
    for (const auto& other : routes)
      if (other.rule.same_requests(route.rule))
        throw std::runtime_error(fmt::format(
            "{}:{}:{}: this route ({}) takes the same requests as the app {} given on the "
            "command line",
            config.config_file, route.place.line, route.place.column, route.rule.describe(),
            other.spec.text));
    ServedRoute served{std::move(spec), route.rule, apps.front().name, {}, {}, {}, {}};
    served.more.assign(std::make_move_iterator(apps.begin() + 1),
                       std::make_move_iterator(apps.end()));
    if (!route.fallthrough.empty()) {
      FallthroughOptions& options = served.fallthrough.emplace();
      options.statuses = route.fallthrough_on;
      options.max_body = route.fallthrough_max_body;
      options.primary_name = served.name;
      options.legacy_name = route.fallthrough;
      options.expose_decision = route.expose_decision;
    }
    if (!route.split.empty()) {
      SplitOptions& options = served.split.emplace();
      options.shares = route.split;
      options.sticky = route.sticky;
      // Chosen here, before any worker is forked: every worker must hash a client alike.
      options.seed = route.has_split_seed ? route.split_seed : std::random_device{}();
      options.expose_decision = route.expose_decision;
      options.cookie_path = route.rule.prefix;
    }
    if (!route.shadow.empty()) {
      ShadowOptions& options = served.shadow.emplace();
      options.primary_name = served.name;
      options.shadow_name = route.shadow;
      options.methods = route.shadow_methods;
      options.max_in_flight = route.shadow_max_in_flight;
      options.max_body = route.shadow_max_body;
      options.compare.ignore_headers = route.shadow_ignore_headers;
      for (const auto& text : route.shadow_ignore_json) {
        std::string error;
        auto path = JsonPath::parse(text, error);
        if (!path) throw std::runtime_error(error);  // read_config_file checked them
        options.compare.ignore_json.push_back(std::move(*path));
      }
      for (const auto& text : route.shadow_scrub) options.compare.scrub.emplace_back(text);
    }
    routes.push_back(std::move(served));
  }
  return routes;
}

bridge::AppSpec file_app_spec(const FileApp& app, const std::string& prefix) {
  std::string error;
  auto spec = bridge::parse_app_spec(app.target, error);
  if (!spec) throw std::runtime_error(error);
  spec->prefix = prefix;
  spec->settings = app.settings;
  spec->settings.name = app.name;
  return std::move(*spec);
}

std::size_t router_routes(const std::vector<ServedRoute>& routes) {
  std::size_t count = 0;
  for (const auto& route : routes) count += 1 + route.more.size();
  return count;
}

std::vector<RouteApp> ServedRoute::all_apps() const {
  std::vector<RouteApp> apps{{spec, name}};
  apps.insert(apps.end(), more.begin(), more.end());
  return apps;
}

std::size_t shadow_routes(const std::vector<ServedRoute>& routes) {
  return static_cast<std::size_t>(std::count_if(
      routes.begin(), routes.end(), [](const ServedRoute& r) { return r.shadow.has_value(); }));
}

std::string ServedRoute::mode() const {
  if (shadow) {
    std::string methods;
    for (const auto& method : shadow->methods) methods += (methods.empty() ? "" : ",") + method;
    return fmt::format("shadow to {} ({})", shadow->shadow_name, methods);
  }
  std::string out;
  if (split) {
    std::string shares;
    for (const auto& share : split->shares)
      shares += fmt::format(" {}={}", share.app, share.percent);
    constexpr const char* kSticky[] = {"cookie", "client", "none"};
    out = fmt::format("split{} (sticky {})", shares, kSticky[static_cast<int>(split->sticky)]);
  }
  if (fallthrough) {
    std::string statuses;
    for (int status : fallthrough->statuses)
      statuses += (statuses.empty() ? "" : ",") + std::to_string(status);
    out += fmt::format("{}fallthrough to {} on {}", out.empty() ? "" : "; ",
                       fallthrough->legacy_name, statuses);
  }
  return out;
}

std::string route_table(const std::vector<ServedRoute>& routes) {
  std::vector<const ServedRoute*> order;
  for (const auto& route : routes) order.push_back(&route);
  std::stable_sort(order.begin(), order.end(), [](const ServedRoute* a, const ServedRoute* b) {
    return more_specific(a->rule, b->rule);
  });
  // One row of cells per route; each column as wide as its widest cell.
  std::vector<std::array<std::string, 5>> rows{{"HOST", "PREFIX", "METHODS", "APP", "MODE"}};
  for (const auto* route : order) {
    std::string methods;
    for (const auto& method : route->rule.methods) methods += (methods.empty() ? "" : ",") + method;
    // What the app sees: the full path, or the path below its mount point.
    std::string mode = route->spec.prefix == "/" ? "full path" : "mount " + route->spec.prefix;
    if (auto migration = route->mode(); !migration.empty()) mode += "; " + migration;
    std::string apps = route->name, targets = route->spec.text;
    for (const auto& other : route->more) {
      apps += "," + other.name;
      targets += ", " + other.spec.text;
    }
    rows.push_back({route->rule.host.empty() ? "*" : route->rule.host, route->rule.prefix,
                    methods.empty() ? "*" : methods, apps, mode + " (" + targets + ")"});
  }
  std::array<std::size_t, 5> widths{};
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  std::string out;
  for (const auto& row : rows) {
    for (std::size_t i = 0; i + 1 < row.size(); ++i)
      out += fmt::format("{:<{}}  ", row[i], widths[i]);
    out += row.back() + "\n";
  }
  return out;
}

}  // namespace junction::gateway
