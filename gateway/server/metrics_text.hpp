// What /metrics and /metrics.json say: a MetricsSnapshot (the sum over the workers) written in
// the Prometheus text exposition format, version 0.0.4, and as JSON for the dashboard.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "gateway/metrics.hpp"
#include "gateway/router.hpp"

namespace junction::gateway {

// What labels the numbers: the routes by index (Router::routes()), and the build.
struct MetricsLabels {
  std::vector<RouteLabel> routes;
  std::string version;
  std::string python;   // "3.11.2"
  std::size_t workers;  // processes serving now
  bool supervised;      // a master runs the workers (worker starts and exits are counted)
};

// The Prometheus text format (https://prometheus.io/docs/instrumenting/exposition_formats/):
// `# HELP` and `# TYPE` for every family, counters ending in _total, histograms with cumulative
// `le` buckets up to +Inf; series whose count is still 0 are left out, except the families
// without labels (a scrape always shows those).
std::string prometheus_text(const MetricsSnapshot& snapshot, const MetricsLabels& labels);

// The same figures as one JSON object (the dashboard's; docs/operations.md shows its shape).
// `now` is Unix time in seconds, for rates.
std::string metrics_json(const MetricsSnapshot& snapshot, const MetricsLabels& labels, double now);

// A label value as the text format wants it: backslash, double quote and line feed escaped.
std::string escape_label_value(std::string_view value);

}  // namespace junction::gateway
