// The metrics cells: labels, histogram buckets, recording a request, and the store's sums over
// processes, with exited workers folded into the retired slot.
#include "gateway/metrics.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

namespace junction::gateway {
namespace {

using namespace std::chrono_literals;

std::uint64_t requests(const MetricsSnapshot& snapshot, std::size_t route, MethodLabel method,
                       std::size_t status, ProtocolLabel protocol) {
  return snapshot.route(
      route)[route_cell::requests + route_cell::request_index(method, status, protocol)];
}

TEST_CASE("metrics: methods, status classes and protocols map to a bounded set of labels",
          "[metrics]") {
  CHECK(method_label("GET") == MethodLabel::get);
  CHECK(method_label("DELETE") == MethodLabel::delete_);
  CHECK(method_label("OPTIONS") == MethodLabel::options);
  // Extension methods, and any case but the registered one, share one label: a client cannot
  // grow the series.
  CHECK(method_label("PROPFIND") == MethodLabel::other);
  CHECK(method_label("get") == MethodLabel::other);
  CHECK(method_name(MethodLabel::other) == "other");
  CHECK(status_name(status_label(200, true)) == "2xx");
  CHECK(status_name(status_label(101, true)) == "1xx");
  CHECK(status_name(status_label(599, true)) == "5xx");
  CHECK(status_name(status_label(200, false)) == "none");
  CHECK(status_name(status_label(0, true)) == "none");
  CHECK(status_name(status_label(600, true)) == "none");
  CHECK(protocol_name(protocol_label(1, 0)) == "HTTP/1.0");
  CHECK(protocol_name(protocol_label(1, 1)) == "HTTP/1.1");
  CHECK(protocol_name(protocol_label(2, 0)) == "HTTP/2");
}

TEST_CASE("metrics: histogram buckets are inclusive upper bounds, then +Inf", "[metrics]") {
  CHECK(histogram_bucket(0ns) == 0);
  CHECK(histogram_bucket(1ms) == 0);  // le="0.001" holds exactly 1 ms
  CHECK(histogram_bucket(1001us) == 1);
  CHECK(histogram_bucket(250ms) == 7);
  CHECK(histogram_bucket(10s) == kHistogramBounds.size() - 1);
  CHECK(histogram_bucket(11s) == kHistogramBuckets - 1);
}

TEST_CASE("metrics: a request is counted under its route, labels and duration", "[metrics]") {
  MetricsStore store(2, 4, false);
  auto worker = store.worker(0);
  worker.record_request(3, "POST", ProtocolLabel::http2, 201, true, 30ms);
  worker.record_request(3, "POST", ProtocolLabel::http2, 503, true, 2ms);
  worker.record_request(3, "GET", ProtocolLabel::http11, 200, false, 12s);  // the client left
  worker.record_request(9, "GET", ProtocolLabel::http11, 200, true, 1ms);   // beyond the table
  auto snapshot = store.sum([](std::size_t slot) { return slot == 0; });
  CHECK(requests(snapshot, 3, MethodLabel::post, 2, ProtocolLabel::http2) == 1);
  CHECK(requests(snapshot, 3, MethodLabel::post, 5, ProtocolLabel::http2) == 1);
  CHECK(requests(snapshot, 3, MethodLabel::get, 0, ProtocolLabel::http11) == 1);
  auto route = snapshot.route(3);
  CHECK(route[route_cell::duration_bucket + histogram_bucket(30ms)] == 1);
  CHECK(route[route_cell::duration_bucket + histogram_bucket(2ms)] == 1);
  CHECK(route[route_cell::duration_bucket + kHistogramBuckets - 1] == 1);
  CHECK(route[route_cell::duration_sum_us] == 30000 + 2000 + 12000000);
  std::uint64_t others = 0;
  for (std::size_t r = 0; r < 3; ++r)
    for (auto cell : snapshot.route(r)) others += cell;
  CHECK(others == 0);
}

TEST_CASE("metrics: gauges held by GaugeHold come back down however their owner ends",
          "[metrics]") {
  MetricsStore store(1, 1, false);
  auto worker = store.worker(0);
  {
    GaugeHold a(worker, gauge::in_flight);
    GaugeHold b(worker, gauge::in_flight);
    CHECK(worker.gauge(gauge::in_flight) == 2);
    b.release();
    b.release();  // once only
    CHECK(worker.gauge(gauge::in_flight) == 1);
    GaugeHold moved = std::move(a);
    CHECK(worker.gauge(gauge::in_flight) == 1);
    a = GaugeHold(worker, gauge::in_flight);
    CHECK(worker.gauge(gauge::in_flight) == 2);
  }
  CHECK(worker.gauge(gauge::in_flight) == 0);
  GaugeHold off;  // no metrics: nothing counted, nothing to release
  off.release();
}

TEST_CASE("metrics: sums cover live workers, the master and retired workers' counters",
          "[metrics]") {
  MetricsStore store(3, 4, false);
  store.worker(0).add(counter::bytes_sent, 100);
  store.worker(1).add(counter::bytes_sent, 20);
  store.worker(2).add(counter::bytes_sent, 3);  // not running: not summed
  store.worker(0).gauge_set(gauge::wsgi_busy, 2);
  store.worker(1).gauge_set(gauge::wsgi_busy, 1);
  store.worker(1).record_request(3, "GET", ProtocolLabel::http11, 200, true, 1ms);
  store.master().add(counter::worker_starts, 2);
  auto live = [](std::size_t slot) { return slot < 2; };
  auto before = store.sum(live);
  CHECK(before.counter(counter::bytes_sent) == 120);
  CHECK(before.gauge(gauge::wsgi_busy) == 3);
  CHECK(before.counter(counter::worker_starts) == 2);
  CHECK(requests(before, 3, MethodLabel::get, 2, ProtocolLabel::http11) == 1);

  // Worker 1 exits: its counters stay in the sums, its gauges go, its slot starts from zero.
  store.retire(1);
  auto after = store.sum(live);
  CHECK(after.counter(counter::bytes_sent) == 120);
  CHECK(after.gauge(gauge::wsgi_busy) == 2);
  CHECK(requests(after, 3, MethodLabel::get, 2, ProtocolLabel::http11) == 1);
  CHECK(store.gauge_of(1, gauge::wsgi_busy) == 0);
  store.worker(1).add(counter::bytes_sent, 5);  // its replacement
  CHECK(store.sum(live).counter(counter::bytes_sent) == 125);
}

TEST_CASE("metrics: a shared store is written by forked children and read by the parent",
          "[metrics]") {
  MetricsStore store(2, 1, true);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    store.worker(1).add(counter::http2_streams, 7);
    store.worker(1).observe_loop_lag(3ms);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  auto snapshot = store.sum([](std::size_t) { return true; });
  CHECK(snapshot.counter(counter::http2_streams) == 7);
  CHECK(snapshot.counter(counter::loop_lag_bucket + histogram_bucket(3ms)) == 1);
  CHECK(snapshot.counter(counter::loop_lag_sum_us) == 3000);
}

}  // namespace
}  // namespace junction::gateway
