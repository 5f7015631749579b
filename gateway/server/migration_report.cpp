#include "gateway/server/migration_report.hpp"

#include <boost/json.hpp>

namespace junction::gateway {

namespace json = boost::json;

std::optional<double> histogram_quantile(const std::uint64_t* buckets, double q) noexcept {
  std::uint64_t total = 0;
  for (std::size_t b = 0; b < kHistogramBuckets; ++b) total += buckets[b];
  if (total == 0) return std::nullopt;
  double rank = q * static_cast<double>(total);
  double seen = 0;
  for (std::size_t b = 0; b < kHistogramBounds.size(); ++b) {
    auto count = static_cast<double>(buckets[b]);
    if (seen + count >= rank && count > 0) {
      double lower = b == 0 ? 0.0 : kHistogramBounds[b - 1];
      return lower + (kHistogramBounds[b] - lower) * ((rank - seen) / count);
    }
    seen += count;
  }
  return kHistogramBounds.back();
}

namespace {

json::object side_json(const MigrationSide& side, const MetricsSnapshot& snapshot) {
  json::object out{{"app", side.app}, {"side", side.side}};
  if (side.route >= snapshot.routes) return out;
  auto cells = snapshot.route(side.route);
  std::uint64_t by_status[kStatusLabels] = {};
  for (std::size_t m = 0; m < kMethodLabels; ++m)
    for (std::size_t s = 0; s < kStatusLabels; ++s)
      for (std::size_t p = 0; p < kProtocolLabels; ++p)
        by_status[s] += cells[route_cell::request_index(static_cast<MethodLabel>(m), s,
                                                        static_cast<ProtocolLabel>(p))];
  std::uint64_t requests = 0;
  json::object statuses;
  for (std::size_t s = 0; s < kStatusLabels; ++s) {
    requests += by_status[s];
    if (by_status[s] > 0) statuses[status_name(s)] = by_status[s];
  }
  out["requests"] = requests;
  out["status"] = std::move(statuses);
  if (side.side != "shadow" && side.side != "fallthrough") {
    // As the first app of a fall-through: what it handed on, and what stood over the bound.
    auto replayed = cells[route_cell::fallthrough_replays];
    auto not_replayed = cells[route_cell::fallthrough_not_replayed];
    if (replayed + not_replayed > 0)
      out["fell_through"] = json::object{{"replayed", replayed}, {"not_replayed", not_replayed}};
  }
  const std::uint64_t* buckets = cells.data() + route_cell::duration_bucket;
  for (auto [name, q] : {std::pair{"p50_ms", 0.5}, std::pair{"p99_ms", 0.99}}) {
    auto seconds = histogram_quantile(buckets, q);
    out[name] = seconds ? json::value(*seconds * 1000) : json::value(nullptr);
  }
  return out;
}

}  // namespace

std::string migration_json(const std::vector<MigrationRoute>& routes,
                           const MetricsSnapshot& snapshot, const ShadowReport* shadows,
                           double now) {
  json::array out_routes;
  for (const auto& route : routes) {
    json::object entry{
        {"route", route.route}, {"mode", route.mode}, {"description", route.description}};
    json::array sides;
    for (const auto& side : route.sides) sides.push_back(side_json(side, snapshot));
    entry["apps"] = std::move(sides);
    if (route.shadow_index && shadows) {
      auto index = *route.shadow_index;
      auto compared = shadows->count(index, ShadowReport::compared);
      auto matched = shadows->count(index, ShadowReport::matched);
      json::array mismatches;
      for (const auto& record : shadows->mismatches(index)) {
        json::error_code ec;
        auto value = json::parse(record, ec);
        if (!ec) mismatches.push_back(std::move(value));
      }
      entry["shadow"] = json::object{
          {"compared", compared},
          {"matched", matched},
          {"match_rate", compared == 0 ? json::value(nullptr)
                                       : json::value(static_cast<double>(matched) /
                                                     static_cast<double>(compared))},
          {"busy", shadows->count(index, ShadowReport::busy)},
          {"too_large", shadows->count(index, ShadowReport::too_large)},
          {"failed", shadows->count(index, ShadowReport::failed)},
          {"mismatches", std::move(mismatches)},
      };
    }
    out_routes.push_back(std::move(entry));
  }
  json::object out{{"time", now}, {"routes", std::move(out_routes)}};
  return json::serialize(out);
}

}  // namespace junction::gateway
