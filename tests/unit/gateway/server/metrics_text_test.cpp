// /metrics and /metrics.json: the text exposition format's families, labels, escaping and
// cumulative histograms, and the dashboard's JSON.
#include "gateway/server/metrics_text.hpp"

#include <catch2/catch.hpp>
#include <string>

namespace junction::gateway {
namespace {

using namespace std::chrono_literals;

MetricsLabels labels_for(std::size_t routes) {
  MetricsLabels labels{{}, "1.2.3", "3.11.2", 2, true};
  labels.routes = {{"none", ""}, {"health", ""}, {"https-redirect", ""}};
  for (std::size_t r = labels.routes.size(); r < routes; ++r)
    labels.routes.push_back({"app" + std::to_string(r), "/r" + std::to_string(r)});
  return labels;
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST_CASE("metrics text: families, labelled series and cumulative buckets", "[metrics]") {
  MetricsStore store(1, 5, false);
  auto worker = store.worker(0);
  worker.record_request(4, "GET", ProtocolLabel::http11, 200, true, 3ms);
  worker.record_request(4, "GET", ProtocolLabel::http11, 200, true, 40ms);
  worker.record_request(4, "DELETE", ProtocolLabel::http2, 404, true, 1ms);
  worker.gauge_set(gauge::in_flight, 1);
  worker.add(counter::accepted_tls, 2);
  auto snapshot = store.sum([](std::size_t) { return true; });
  auto text = prometheus_text(snapshot, labels_for(5));
  CHECK(text.starts_with("# HELP junction_build_info "));
  CHECK(has_line(text, "# TYPE junction_requests_total counter"));
  CHECK(has_line(text, "junction_build_info{version=\"1.2.3\",python=\"3.11.2\"} 1"));
  CHECK(has_line(text,
                 "junction_requests_total{app=\"app4\",route=\"/r4\",method=\"GET\",status=\"2xx\","
                 "protocol=\"HTTP/1.1\"} 2"));
  CHECK(has_line(text,
                 "junction_requests_total{app=\"app4\",route=\"/r4\",method=\"DELETE\","
                 "status=\"4xx\",protocol=\"HTTP/2\"} 1"));
  // Series still at 0 are left out; route 3 served nothing.
  CHECK(text.find("route=\"/r3\"") == std::string::npos);
  CHECK(
      has_line(text,
               "junction_request_duration_seconds_bucket{app=\"app4\",route=\"/r4\",le=\"0.001\"} "
               "1"));
  CHECK(
      has_line(text,
               "junction_request_duration_seconds_bucket{app=\"app4\",route=\"/r4\",le=\"0.005\"} "
               "2"));
  CHECK(has_line(text,
                 "junction_request_duration_seconds_bucket{app=\"app4\",route=\"/r4\",le=\"+Inf\"} "
                 "3"));
  CHECK(has_line(text, "junction_request_duration_seconds_sum{app=\"app4\",route=\"/r4\"} 0.044"));
  CHECK(has_line(text, "junction_request_duration_seconds_count{app=\"app4\",route=\"/r4\"} 3"));
  CHECK(has_line(text, "junction_requests_in_flight 1"));
  CHECK(has_line(text, "junction_connections_accepted_total{tls=\"true\"} 2"));
  CHECK(has_line(text, "junction_workers 2"));
  CHECK(has_line(text, "junction_worker_exits_total{reason=\"timeout\"} 0"));
  CHECK(text.back() == '\n');
}

TEST_CASE("metrics text: label values are escaped", "[metrics]") {
  CHECK(escape_label_value(R"(a"b\c)") == R"(a\"b\\c)");
  CHECK(escape_label_value("line\nbreak") == "line\\nbreak");
  MetricsStore store(1, 4, false);
  store.worker(0).record_request(3, "GET", ProtocolLabel::http11, 200, true, 1ms);
  auto labels = labels_for(3);
  labels.routes.push_back({"weird\"app", "/a\\b"});
  auto text = prometheus_text(store.sum([](std::size_t) { return true; }), labels);
  CHECK(text.find("app=\"weird\\\"app\",route=\"/a\\\\b\"") != std::string::npos);
}

TEST_CASE("metrics text: a migration route's sides and its fall-through counts", "[metrics]") {
  MetricsStore store(1, 5, false);
  auto worker = store.worker(0);
  worker.record_request(3, "GET", ProtocolLabel::http11, 404, true, 1ms);
  worker.record_request(4, "GET", ProtocolLabel::http11, 200, true, 1ms);
  worker.add_to_route(3, route_cell::fallthrough_replays);
  worker.add_to_route(3, route_cell::fallthrough_not_replayed, 2);
  worker.add_to_route(9, route_cell::fallthrough_replays);  // beyond the table: not counted
  auto labels = labels_for(3);
  labels.routes.push_back({"new", "/orders", "primary"});
  labels.routes.push_back({"legacy", "/orders", "fallthrough"});
  auto snapshot = store.sum([](std::size_t) { return true; });
  auto text = prometheus_text(snapshot, labels);
  CHECK(has_line(text,
                 "junction_requests_total{app=\"legacy\",route=\"/orders\",side=\"fallthrough\","
                 "method=\"GET\",status=\"2xx\",protocol=\"HTTP/1.1\"} 1"));
  CHECK(has_line(text,
                 "junction_request_duration_seconds_count{app=\"new\",route=\"/orders\","
                 "side=\"primary\"} 1"));
  CHECK(has_line(text, "# TYPE junction_fallthrough_replays_total counter"));
  CHECK(has_line(text,
                 "junction_fallthrough_replays_total{app=\"new\",route=\"/orders\","
                 "side=\"primary\"} 1"));
  CHECK(has_line(text,
                 "junction_fallthrough_not_replayed_total{app=\"new\",route=\"/orders\","
                 "side=\"primary\"} 2"));
  CHECK(text.find("junction_fallthrough_replays_total{app=\"legacy\"") == std::string::npos);
  auto json = metrics_json(snapshot, labels, 0);
  CHECK(json.find("\"app\":\"legacy\",\"route\":\"/orders\",\"side\":\"fallthrough\"") !=
        std::string::npos);
}

TEST_CASE("metrics text: no worker families for a single process", "[metrics]") {
  MetricsStore store(1, 3, false);
  auto labels = labels_for(3);
  labels.supervised = false;
  auto text = prometheus_text(store.sum([](std::size_t) { return true; }), labels);
  CHECK(text.find("junction_worker_starts_total") == std::string::npos);
  CHECK(text.find("junction_workers 2") != std::string::npos);
}

TEST_CASE("metrics json: routes with status classes and cumulative histograms", "[metrics]") {
  MetricsStore store(1, 5, false);
  auto worker = store.worker(0);
  worker.record_request(3, "GET", ProtocolLabel::http11, 500, true, 2ms);
  worker.record_request(3, "GET", ProtocolLabel::http11, 200, true, 2ms);
  worker.gauge_set(gauge::wsgi_threads, 8);
  auto json = metrics_json(store.sum([](std::size_t) { return true; }), labels_for(5), 12.5);
  CHECK(json.starts_with("{\"time\":12.500,\"in_flight\":0,"));
  // The built-in routes appear once they served a request; the added ones always.
  CHECK(json.find("\"app\":\"none\"") == std::string::npos);
  CHECK(json.find("{\"app\":\"app3\",\"route\":\"/r3\",\"requests\":2,\"status\":{\"none\":0,"
                  "\"1xx\":0,\"2xx\":1,\"3xx\":0,\"4xx\":0,\"5xx\":1},\"duration\":{\"bounds\":"
                  "[0.001,0.0025,") != std::string::npos);
  CHECK(json.find("\"counts\":[0,2,2,2,2,2,2,2,2,2,2,2,2,2],\"sum\":0.004,\"count\":2}") !=
        std::string::npos);
  CHECK(json.find("{\"app\":\"app4\",\"route\":\"/r4\",\"requests\":0") != std::string::npos);
  CHECK(json.find("\"wsgi\":{\"threads\":8,") != std::string::npos);
  CHECK(json.ends_with("\"workers\":{\"count\":2,\"starts\":0,\"exits\":0}}"));
}

}  // namespace
}  // namespace junction::gateway
