// What the admin listener's /migration says (docs/migration.md, "The report"): for each
// migration route, its mode, and for each of its apps (its side: primary, shadow, fallthrough,
// split) the requests, status classes and p50/p99 latency from the metrics; for a shadow route
// the comparisons, the match rate and the last mismatches from the ShadowReport.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "gateway/metrics.hpp"
#include "gateway/server/shadow_report.hpp"

namespace junction::gateway {

struct MigrationSide {
  std::string app;
  std::string side;   // "primary", "shadow", "fallthrough" or "split"
  std::size_t route;  // its index in Router::routes()
};

struct MigrationRoute {
  std::string route;  // the route's label, as in /metrics
  std::string mode;   // "shadow", "fallthrough" or "split"
  std::string description;
  std::vector<MigrationSide> sides;
  std::optional<std::size_t> shadow_index;  // its place in the ShadowReport
};

std::string migration_json(const std::vector<MigrationRoute>& routes,
                           const MetricsSnapshot& snapshot, const ShadowReport* shadows,
                           double now);

// The duration at quantile `q` (0..1) of a histogram's buckets (kHistogramBounds, +Inf last),
// in seconds, interpolated within its bucket as Prometheus' histogram_quantile does; nullopt
// without observations. A quantile in the +Inf bucket is the last finite bound.
std::optional<double> histogram_quantile(const std::uint64_t* buckets, double q) noexcept;

}  // namespace junction::gateway
