// The served routes (routes.hpp): APP arguments and [[routes]] in one list.
#include "gateway/server/routes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
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
    routes.push_back({std::move(*spec), std::move(rule), std::move(name)});
  }
  for (const auto& route : config.file_routes) {
    auto app = std::find_if(config.file_apps.begin(), config.file_apps.end(),
                            [&](const FileApp& a) { return a.name == route.app; });
    if (app == config.file_apps.end())  // read_config_file checked it; a config made otherwise
      throw std::runtime_error("a route names app '" + route.app + "', which is not defined");
    std::string error;
    auto spec = bridge::parse_app_spec(app->target, error);
    if (!spec) throw std::runtime_error(error);
    // In a migration both apps serve the same URLs: the prefix only selects, unless `mount`.
    spec->prefix = route.mount ? route.rule.prefix : "/";
    for (const auto& other : routes)
      if (other.rule.same_requests(route.rule))
        throw std::runtime_error(fmt::format(
            "{}:{}:{}: this route ({}) takes the same requests as the app {} given on the "
            "command line",
            config.config_file, route.place.line, route.place.column, route.rule.describe(),
            other.spec.text));
    routes.push_back({std::move(*spec), route.rule, app->name});
  }
  return routes;
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
    rows.push_back({route->rule.host.empty() ? "*" : route->rule.host, route->rule.prefix,
                    methods.empty() ? "*" : methods, route->name,
                    mode + " (" + route->spec.text + ")"});
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
