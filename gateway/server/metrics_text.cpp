#include "gateway/server/metrics_text.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iterator>
#include <string_view>
#include <tuple>

#include "gateway/access_log_format.hpp"

namespace junction::gateway {
namespace {

using Buffer = fmt::memory_buffer;

void family(Buffer& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void sample(Buffer& out, std::string_view name, std::string_view labels, std::uint64_t value) {
  if (labels.empty())
    fmt::format_to(std::back_inserter(out), "{} {}\n", name, value);
  else
    fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name, labels, value);
}

// `le` values as Prometheus's own client libraries write them ("0.005", "1", "+Inf").
std::string le_text(std::size_t bucket) {
  if (bucket >= kHistogramBounds.size()) return "+Inf";
  return fmt::format("{}", kHistogramBounds[bucket]);
}

// One histogram series: `buckets` per bucket (not cumulative), `sum_us` in microseconds.
void histogram(Buffer& out, std::string_view name, std::string_view labels,
               const std::uint64_t* buckets, std::uint64_t sum_us) {
  std::uint64_t cumulative = 0;
  std::string_view comma = labels.empty() ? "" : ",";
  for (std::size_t b = 0; b < kHistogramBuckets; ++b) {
    cumulative += buckets[b];
    fmt::format_to(std::back_inserter(out), "{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, comma,
                   le_text(b), cumulative);
  }
  auto braces = labels.empty() ? std::string() : fmt::format("{{{}}}", labels);
  fmt::format_to(std::back_inserter(out), "{}_sum{} {}\n{}_count{} {}\n", name, braces,
                 static_cast<double>(sum_us) / 1e6, name, braces, cumulative);
}

// app and route; and side, on a migration route (docs/migration.md, "Evidence").
std::string route_labels(const RouteLabel& route) {
  auto labels = fmt::format("app=\"{}\",route=\"{}\"", escape_label_value(route.app),
                            escape_label_value(route.route));
  if (!route.side.empty())
    fmt::format_to(std::back_inserter(labels), ",side=\"{}\"", escape_label_value(route.side));
  return labels;
}

const RouteLabel& label_of(const MetricsLabels& labels, std::size_t route) {
  static const RouteLabel unknown{"unknown", ""};
  return route < labels.routes.size() ? labels.routes[route] : unknown;
}

// A histogram as the dashboard reads it: bounds, cumulative counts (one more, for +Inf), sum
// in seconds and count.
void json_histogram(Buffer& out, const std::uint64_t* buckets, std::uint64_t sum_us) {
  fmt::format_to(std::back_inserter(out), "{{\"bounds\":[{}],\"counts\":[",
                 fmt::join(kHistogramBounds, ","));
  std::uint64_t cumulative = 0;
  for (std::size_t b = 0; b < kHistogramBuckets; ++b) {
    cumulative += buckets[b];
    fmt::format_to(std::back_inserter(out), "{}{}", b == 0 ? "" : ",", cumulative);
  }
  fmt::format_to(std::back_inserter(out), "],\"sum\":{},\"count\":{}}}",
                 static_cast<double>(sum_us) / 1e6, cumulative);
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string prometheus_text(const MetricsSnapshot& snapshot, const MetricsLabels& labels) {
  Buffer out;
  auto counter_value = [&](std::size_t index) { return snapshot.counter(index); };
  auto gauge_value = [&](std::size_t index) { return snapshot.gauge(index); };

  family(out, "junction_build_info", "gauge", "Junction's version and the Python it runs.");
  sample(out, "junction_build_info",
         fmt::format("version=\"{}\",python=\"{}\"", escape_label_value(labels.version),
                     escape_label_value(labels.python)),
         1);

  // --- Requests, by route ---------------------------------------------------------------------
  family(out, "junction_requests_total", "counter",
         "Requests over, by app, route, method, status class (none: no response completed, the "
         "client left first) and protocol.");
  for (std::size_t r = 0; r < snapshot.routes; ++r) {
    auto cells = snapshot.route(r);
    std::string route;
    for (std::size_t m = 0; m < kMethodLabels; ++m)
      for (std::size_t s = 0; s < kStatusLabels; ++s)
        for (std::size_t p = 0; p < kProtocolLabels; ++p) {
          auto value = cells[route_cell::request_index(static_cast<MethodLabel>(m), s,
                                                       static_cast<ProtocolLabel>(p))];
          if (value == 0) continue;
          if (route.empty()) route = route_labels(label_of(labels, r));
          sample(out, "junction_requests_total",
                 fmt::format("{},method=\"{}\",status=\"{}\",protocol=\"{}\"", route,
                             method_name(static_cast<MethodLabel>(m)), status_name(s),
                             protocol_name(static_cast<ProtocolLabel>(p))),
                 value);
        }
  }
  family(out, "junction_request_duration_seconds", "histogram",
         "Time from the request head's arrival until its response's last byte left (streamed "
         "responses included), by app and route.");
  for (std::size_t r = 0; r < snapshot.routes; ++r) {
    auto cells = snapshot.route(r);
    std::uint64_t count = 0;
    for (std::size_t b = 0; b < kHistogramBuckets; ++b)
      count += cells[route_cell::duration_bucket + b];
    if (count == 0) continue;
    histogram(out, "junction_request_duration_seconds", route_labels(label_of(labels, r)),
              &cells[route_cell::duration_bucket], cells[route_cell::duration_sum_us]);
  }
  // Counted under the fall-through route's first app (its primary, or a split's member).
  for (auto [name, help, cell] :
       {std::tuple{"junction_fallthrough_replays_total",
                   "Requests a fall-through route replayed to its legacy app (the first app's "
                   "status was one of fallthrough_on), by the first app and route.",
                   route_cell::fallthrough_replays},
        std::tuple{"junction_fallthrough_not_replayed_total",
                   "Answers of a fall-through route's first app that stood although their status "
                   "was one of fallthrough_on: the request body was over fallthrough_max_body.",
                   route_cell::fallthrough_not_replayed}}) {
    family(out, name, "counter", help);
    for (std::size_t r = 0; r < snapshot.routes; ++r)
      if (auto value = snapshot.route(r)[cell]; value > 0)
        sample(out, name, route_labels(label_of(labels, r)), value);
  }
  // The families without labels but one value: (name, help, counter or gauge cell).
  struct Single {
    std::string_view name;
    std::string_view help;
    bool counter;
    std::size_t index;
  };
  static constexpr Single kSingles[] = {
      {"junction_requests_in_flight", "Requests handed to an app and not over yet.", false,
       gauge::in_flight},
      {"junction_received_bytes_total",
       "Bytes read from clients (after TLS), on every app listener.", true,
       counter::bytes_received},
      {"junction_sent_bytes_total", "Bytes written to clients (before TLS), on every app listener.",
       true, counter::bytes_sent},
      {"junction_http2_streams_total", "HTTP/2 streams opened by clients.", true,
       counter::http2_streams},
      {"junction_http2_streams_open", "HTTP/2 streams open now.", false, gauge::http2_streams_open},
      {"junction_wsgi_threads",
       "WSGI threads (--threads, plus the pools of apps with their own threads; in every "
       "worker).",
       false, gauge::wsgi_threads},
      {"junction_wsgi_threads_busy", "WSGI threads running a request now.", false,
       gauge::wsgi_busy},
      {"junction_wsgi_queue_depth",
       "WSGI requests waiting for a thread (at most --backlog per pool and worker).", false,
       gauge::wsgi_queued},
      {"junction_wsgi_refused_total",
       "WSGI requests answered 503 because every thread was busy and the backlog full.", true,
       counter::wsgi_refused},
      {"junction_wsgi_threads_overdue",
       "WSGI threads still running a request that was answered 504 (--request-timeout).", false,
       gauge::wsgi_overdue},
      {"junction_request_timeouts_total",
       "Requests answered 504 by --request-timeout or an app's or route's request_timeout "
       "(WSGI and ASGI).",
       true, counter::request_timeouts},
      {"junction_asgi_tasks",
       "ASGI requests and WebSockets in progress (bounded by --limit-concurrency).", false,
       gauge::asgi_tasks},
      {"junction_asgi_concurrency_limit",
       "--limit-concurrency (plus the limit_concurrency of apps with their own), summed over "
       "the workers (0: no ASGI app).",
       false, gauge::asgi_limit},
      {"junction_asgi_refused_total",
       "ASGI requests answered 503 over --limit-concurrency (or an app's own).", true,
       counter::asgi_refused},
      {"junction_wsgi_dropped_total",
       "WSGI requests taken out of the queue because their clients left before a thread took "
       "them.",
       true, counter::wsgi_dropped},
      {"junction_asgi_dropped_total",
       "ASGI requests never begun because their clients left before the event loop got to "
       "them.",
       true, counter::asgi_dropped},
      {"junction_request_buffer_bytes",
       "Request body bytes read ahead of their apps now (bounded by --request-buffer-total per "
       "worker).",
       false, gauge::request_buffer_bytes},
      {"junction_response_buffer_bytes",
       "Response bytes held for slow readers now, past each connection's own 64 KiB (bounded "
       "by --response-buffer-total per worker).",
       false, gauge::response_buffer_bytes},
      {"junction_websocket_sessions_total", "WebSocket sessions accepted.", true,
       counter::websocket_sessions},
      {"junction_websockets_open", "WebSocket sessions open now.", false, gauge::websockets_open},
      {"junction_websocket_messages_received_total", "WebSocket messages received from clients.",
       true, counter::websocket_messages_received},
      {"junction_websocket_messages_sent_total", "WebSocket messages sent to clients.", true,
       counter::websocket_messages_sent},
      {"junction_resident_memory_bytes", "Resident memory of the serving processes, summed.", false,
       gauge::rss_bytes},
  };
  for (const auto& single : kSingles) {
    family(out, single.name, single.counter ? "counter" : "gauge", single.help);
    sample(out, single.name, "",
           single.counter ? counter_value(single.index) : gauge_value(single.index));
  }

  // --- Connections and TLS, by label ------------------------------------------------------------
  family(out, "junction_connections_accepted_total", "counter",
         "Connections accepted, by whether the listener speaks TLS.");
  sample(out, "junction_connections_accepted_total", "tls=\"false\"",
         counter_value(counter::accepted_plain));
  sample(out, "junction_connections_accepted_total", "tls=\"true\"",
         counter_value(counter::accepted_tls));
  family(out, "junction_connections_open", "gauge",
         "Connections open now that speak HTTP, by protocol and TLS (a TLS handshake in "
         "progress is not counted yet).");
  sample(out, "junction_connections_open", "protocol=\"HTTP/1.1\",tls=\"false\"",
         gauge_value(gauge::open_http1_plain));
  sample(out, "junction_connections_open", "protocol=\"HTTP/1.1\",tls=\"true\"",
         gauge_value(gauge::open_http1_tls));
  sample(out, "junction_connections_open", "protocol=\"HTTP/2\",tls=\"false\"",
         gauge_value(gauge::open_http2_plain));
  sample(out, "junction_connections_open", "protocol=\"HTTP/2\",tls=\"true\"",
         gauge_value(gauge::open_http2_tls));
  family(out, "junction_tls_handshakes_total", "counter",
         "TLS handshakes, by result (ok, failed, timeout) and the version agreed.");
  sample(out, "junction_tls_handshakes_total", "result=\"ok\",version=\"TLSv1.3\"",
         counter_value(counter::tls_ok_tls13));
  sample(out, "junction_tls_handshakes_total", "result=\"ok\",version=\"TLSv1.2\"",
         counter_value(counter::tls_ok_tls12));
  if (auto other = counter_value(counter::tls_ok_other))
    sample(out, "junction_tls_handshakes_total", "result=\"ok\",version=\"other\"", other);
  sample(out, "junction_tls_handshakes_total", "result=\"failed\",version=\"none\"",
         counter_value(counter::tls_failed));
  sample(out, "junction_tls_handshakes_total", "result=\"timeout\",version=\"none\"",
         counter_value(counter::tls_timeout));
  family(out, "junction_asgi_loop_lag_seconds", "histogram",
         "How late the asyncio event loop ran a callback due at a known time (a probe every "
         "100 ms): the time app code held the loop.");
  {
    std::uint64_t buckets[kHistogramBuckets];
    for (std::size_t b = 0; b < kHistogramBuckets; ++b)
      buckets[b] = counter_value(counter::loop_lag_bucket + b);
    histogram(out, "junction_asgi_loop_lag_seconds", "", buckets,
              counter_value(counter::loop_lag_sum_us));
  }

  // --- Processes -------------------------------------------------------------------------------
  family(out, "junction_workers", "gauge", "Processes serving requests now.");
  sample(out, "junction_workers", "", labels.workers);
  if (labels.supervised) {
    family(out, "junction_worker_starts_total", "counter", "Workers the master started.");
    sample(out, "junction_worker_starts_total", "", counter_value(counter::worker_starts));
    family(out, "junction_worker_exits_total", "counter",
           "Workers that ended, by reason: exited (0: a recycle, reload or shutdown), failed "
           "(another exit code), signaled (killed by a signal), timeout (killed by the master "
           "for --worker-timeout).");
    sample(out, "junction_worker_exits_total", "reason=\"exited\"",
           counter_value(counter::worker_exits_clean));
    sample(out, "junction_worker_exits_total", "reason=\"failed\"",
           counter_value(counter::worker_exits_failed));
    sample(out, "junction_worker_exits_total", "reason=\"signaled\"",
           counter_value(counter::worker_exits_signaled));
    sample(out, "junction_worker_exits_total", "reason=\"timeout\"",
           counter_value(counter::worker_exits_timeout));
  }
  return fmt::to_string(out);
}

std::string metrics_json(const MetricsSnapshot& snapshot, const MetricsLabels& labels, double now) {
  Buffer out;
  auto it = std::back_inserter(out);
  fmt::format_to(it, "{{\"time\":{:.3f},\"in_flight\":{},", now, snapshot.gauge(gauge::in_flight));
  auto open = snapshot.gauge(gauge::open_http1_plain) + snapshot.gauge(gauge::open_http1_tls) +
              snapshot.gauge(gauge::open_http2_plain) + snapshot.gauge(gauge::open_http2_tls);
  fmt::format_to(
      it, "\"connections\":{{\"open\":{},\"accepted\":{}}},\"routes\":[", open,
      snapshot.counter(counter::accepted_plain) + snapshot.counter(counter::accepted_tls));
  bool first = true;
  for (std::size_t r = 0; r < snapshot.routes; ++r) {
    auto cells = snapshot.route(r);
    std::uint64_t by_status[kStatusLabels] = {};
    std::uint64_t requests = 0;
    for (std::size_t m = 0; m < kMethodLabels; ++m)
      for (std::size_t s = 0; s < kStatusLabels; ++s)
        for (std::size_t p = 0; p < kProtocolLabels; ++p) {
          auto value = cells[route_cell::request_index(static_cast<MethodLabel>(m), s,
                                                       static_cast<ProtocolLabel>(p))];
          by_status[s] += value;
          requests += value;
        }
    const auto& label = label_of(labels, r);
    // The built-in routes (404s, the health path, the https redirect) once they served one.
    if (r < Router::kBuiltinRoutes && requests == 0) continue;
    if (!first) out.push_back(',');
    first = false;
    out.append(std::string_view("{\"app\":"));
    append_json_quoted(out, label.app);
    out.append(std::string_view(",\"route\":"));
    append_json_quoted(out, label.route);
    if (!label.side.empty()) {
      out.append(std::string_view(",\"side\":"));
      append_json_quoted(out, label.side);
    }
    fmt::format_to(it, ",\"requests\":{},\"status\":{{", requests);
    for (std::size_t s = 0; s < kStatusLabels; ++s)
      fmt::format_to(it, "{}\"{}\":{}", s == 0 ? "" : ",", status_name(s), by_status[s]);
    out.append(std::string_view("},\"duration\":"));
    json_histogram(out, &cells[route_cell::duration_bucket], cells[route_cell::duration_sum_us]);
    out.push_back('}');
  }
  fmt::format_to(it,
                 "],\"wsgi\":{{\"threads\":{},\"busy\":{},\"queued\":{},\"refused\":{},"
                 "\"overdue\":{},\"dropped\":{}}},",
                 snapshot.gauge(gauge::wsgi_threads), snapshot.gauge(gauge::wsgi_busy),
                 snapshot.gauge(gauge::wsgi_queued), snapshot.counter(counter::wsgi_refused),
                 snapshot.gauge(gauge::wsgi_overdue), snapshot.counter(counter::wsgi_dropped));
  fmt::format_to(it,
                 "\"buffers\":{{\"request_bytes\":{},\"response_bytes\":{}}},"
                 "\"asgi\":{{\"tasks\":{},\"limit\":{},\"refused\":{},\"dropped\":{},"
                 "\"loop_lag\":",
                 snapshot.gauge(gauge::request_buffer_bytes),
                 snapshot.gauge(gauge::response_buffer_bytes), snapshot.gauge(gauge::asgi_tasks),
                 snapshot.gauge(gauge::asgi_limit), snapshot.counter(counter::asgi_refused),
                 snapshot.counter(counter::asgi_dropped));
  std::uint64_t lag[kHistogramBuckets];
  for (std::size_t b = 0; b < kHistogramBuckets; ++b)
    lag[b] = snapshot.counter(counter::loop_lag_bucket + b);
  json_histogram(out, lag, snapshot.counter(counter::loop_lag_sum_us));
  fmt::format_to(it, "}},\"workers\":{{\"count\":{},\"starts\":{},\"exits\":{}}}}}", labels.workers,
                 snapshot.counter(counter::worker_starts),
                 snapshot.counter(counter::worker_exits_clean) +
                     snapshot.counter(counter::worker_exits_failed) +
                     snapshot.counter(counter::worker_exits_signaled) +
                     snapshot.counter(counter::worker_exits_timeout));
  return fmt::to_string(out);
}

}  // namespace junction::gateway
