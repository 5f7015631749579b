// The counters behind /metrics. Every process (the master and each worker) writes its own slot
// of one block of memory mapped before the first fork, so that any worker can answer a scrape
// with the sum over all of them; a counter is one relaxed atomic add on the data plane, never
// a lock or a message. When a worker exits, the master folds its counters into the "retired"
// slot, so the sums stay monotonic across restarts, as Prometheus counters must (a decrease is
// read as a reset); its gauges simply go.
//
// The cells are flat arrays indexed by the enums below, so that folding, zeroing and summing
// are plain loops, and a snapshot is the same layout in plain integers.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace junction::gateway {

using MetricCell = std::atomic<std::uint64_t>;

// Histogram bucket bounds, in seconds (upper bounds, inclusive: Prometheus `le`); one more
// bucket above the last for +Inf. Request durations and event-loop lag share them.
inline constexpr std::array<double, 13> kHistogramBounds{
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
inline constexpr std::size_t kHistogramBuckets = kHistogramBounds.size() + 1;
// The bucket a duration falls in (kHistogramBuckets - 1: +Inf).
std::size_t histogram_bucket(std::chrono::nanoseconds duration) noexcept;

// --- Labels -------------------------------------------------------------------------------------
enum class MethodLabel : std::uint8_t { get, head, post, put, delete_, patch, options, other };
inline constexpr std::size_t kMethodLabels = 8;
MethodLabel method_label(std::string_view method) noexcept;
std::string_view method_name(MethodLabel label) noexcept;

// "none": no response was completed (the client left first, or the exchange was cut).
inline constexpr std::size_t kStatusLabels = 6;
std::size_t status_label(int status, bool completed) noexcept;
std::string_view status_name(std::size_t label) noexcept;  // "none", "1xx" ... "5xx"

enum class ProtocolLabel : std::uint8_t { http10, http11, http2 };
inline constexpr std::size_t kProtocolLabels = 3;
std::string_view protocol_name(ProtocolLabel label) noexcept;  // "HTTP/1.0", "HTTP/1.1", "HTTP/2"
inline ProtocolLabel protocol_label(int major, int minor) noexcept {
  return major >= 2   ? ProtocolLabel::http2
         : minor == 0 ? ProtocolLabel::http10
                      : ProtocolLabel::http11;
}

// --- Cells
// ----------------------------------------------------------------------------------------
// Monotonic counts: folded into the retired slot when their worker exits.
namespace counter {
enum : std::size_t {
  accepted_plain,
  accepted_tls,
  tls_ok_tls12,  // handshakes by result and version
  tls_ok_tls13,
  tls_ok_other,
  tls_failed,
  tls_timeout,
  http2_streams,
  bytes_received,
  bytes_sent,
  websocket_sessions,
  websocket_messages_received,
  websocket_messages_sent,
  wsgi_refused,
  asgi_refused,
  request_timeouts,  // answered 504 by --request-timeout
  wsgi_dropped,      // their clients left while they waited for a thread
  asgi_dropped,      // their clients left before the loop began them
  loop_lag_bucket,   // kHistogramBuckets cells
  loop_lag_sum_us = loop_lag_bucket + kHistogramBuckets,
  worker_starts,  // the master's slot only
  worker_exits_clean,
  worker_exits_failed,
  worker_exits_signaled,
  worker_exits_timeout,
  count
};
}  // namespace counter

// Values as of now: zero once their process is gone. Figures a process samples about itself
// (Python's pool, its RSS) are stored here too, by the process's own sampler.
namespace gauge {
enum : std::size_t {
  in_flight,
  open_http1_plain,  // connections open now, by protocol and TLS
  open_http1_tls,
  open_http2_plain,
  open_http2_tls,
  http2_streams_open,
  websockets_open,
  wsgi_threads,
  wsgi_busy,
  wsgi_queued,
  wsgi_overdue,
  asgi_tasks,
  asgi_limit,
  pid,
  started_ms,  // Unix time, milliseconds
  rss_bytes,
  requests,               // requests dispatched by this process (for /status)
  request_buffer_bytes,   // request bodies read ahead of their apps (--request-buffer-total)
  response_buffer_bytes,  // response bytes held for slow readers (--response-buffer-total)
  count
};
}  // namespace gauge
inline constexpr std::size_t kCounterCells = counter::count;
inline constexpr std::size_t kGaugeCells = gauge::count;

// One route's cells: requests by method, status class and protocol; the duration histogram;
// for the first app of a fall-through route, its replays and the answers not replayed.
namespace route_cell {
inline constexpr std::size_t requests = 0;
inline constexpr std::size_t duration_bucket = kMethodLabels * kStatusLabels * kProtocolLabels;
inline constexpr std::size_t duration_sum_us = duration_bucket + kHistogramBuckets;
inline constexpr std::size_t fallthrough_replays = duration_sum_us + 1;
inline constexpr std::size_t fallthrough_not_replayed = fallthrough_replays + 1;
inline constexpr std::size_t count = fallthrough_not_replayed + 1;
inline constexpr std::size_t request_index(MethodLabel method, std::size_t status,
                                           ProtocolLabel protocol) noexcept {
  return (static_cast<std::size_t>(method) * kStatusLabels + status) * kProtocolLabels +
         static_cast<std::size_t>(protocol);
}
}  // namespace route_cell

// One process's cells: what the data plane writes through. Copyable view; the store owns them.
class ProcessMetrics {
 public:
  ProcessMetrics() = default;
  ProcessMetrics(MetricCell* cells, std::size_t routes) noexcept : cells_(cells), routes_(routes) {}

  void add(std::size_t counter_index, std::uint64_t n = 1) const noexcept {
    cells_[counter_index].fetch_add(n, std::memory_order_relaxed);
  }
  // A counter kept elsewhere in this process (monotonic), copied here.
  void counter_set(std::size_t counter_index, std::uint64_t value) const noexcept {
    cells_[counter_index].store(value, std::memory_order_relaxed);
  }
  void gauge_add(std::size_t gauge_index, std::int64_t n) const noexcept {
    cells_[kCounterCells + gauge_index].fetch_add(static_cast<std::uint64_t>(n),
                                                  std::memory_order_relaxed);
  }
  void gauge_set(std::size_t gauge_index, std::uint64_t value) const noexcept {
    cells_[kCounterCells + gauge_index].store(value, std::memory_order_relaxed);
  }
  std::uint64_t gauge(std::size_t gauge_index) const noexcept {
    return cells_[kCounterCells + gauge_index].load(std::memory_order_relaxed);
  }
  void observe_loop_lag(std::chrono::nanoseconds lag) const noexcept;
  // Adds to one of a route's route_cell counters (one beyond the table is not counted).
  void add_to_route(std::size_t route, std::size_t cell, std::uint64_t n = 1) const noexcept {
    if (cells_ && route < routes_)
      cells_[kCounterCells + kGaugeCells + route * route_cell::count + cell].fetch_add(
          n, std::memory_order_relaxed);
  }

  // A request is over (answered, or given up): counted under its route, with its duration
  // until its last byte left. `route` beyond the table (a router grown after the store was
  // sized) is not counted.
  void record_request(std::size_t route, std::string_view method, ProtocolLabel protocol,
                      int status, bool completed, std::chrono::nanoseconds duration) const noexcept;

  std::size_t routes() const noexcept { return routes_; }
  explicit operator bool() const noexcept { return cells_ != nullptr; }

  static constexpr std::size_t cells_for(std::size_t routes) noexcept {
    return kCounterCells + kGaugeCells + routes * route_cell::count;
  }

 private:
  MetricCell* cells_ = nullptr;
  std::size_t routes_ = 0;
};

// A gauge held up while something lives (an open connection, a request in flight, an HTTP/2
// stream, a WebSocket): +1 when taken, -1 when released or destroyed, whichever way its owner
// ends.
class GaugeHold {
 public:
  GaugeHold() = default;
  GaugeHold(ProcessMetrics metrics, std::size_t gauge_index) noexcept
      : metrics_(metrics), gauge_(gauge_index) {
    if (metrics_) metrics_.gauge_add(gauge_, 1);
  }
  GaugeHold(GaugeHold&& other) noexcept
      : metrics_(std::exchange(other.metrics_, {})), gauge_(other.gauge_) {}
  GaugeHold& operator=(GaugeHold&& other) noexcept {
    if (this != &other) {
      release();
      metrics_ = std::exchange(other.metrics_, {});
      gauge_ = other.gauge_;
    }
    return *this;
  }
  ~GaugeHold() { release(); }
  void release() noexcept {
    if (metrics_) metrics_.gauge_add(gauge_, -1);
    metrics_ = {};
  }

 private:
  ProcessMetrics metrics_;
  std::size_t gauge_ = 0;
};

// A sum over processes, in plain integers, in the ProcessMetrics layout.
struct MetricsSnapshot {
  std::vector<std::uint64_t> cells;
  std::size_t routes = 0;

  std::uint64_t counter(std::size_t index) const noexcept { return cells[index]; }
  std::uint64_t gauge(std::size_t index) const noexcept { return cells[kCounterCells + index]; }
  std::span<const std::uint64_t> route(std::size_t index) const noexcept {
    return {cells.data() + kCounterCells + kGaugeCells + index * route_cell::count,
            route_cell::count};
  }
};

// The slots, in anonymous memory (shared with forked children when `shared`).
class MetricsStore {
 public:
  // Throws std::system_error when the mapping fails.
  MetricsStore(std::size_t worker_slots, std::size_t routes, bool shared);
  ~MetricsStore();
  MetricsStore(const MetricsStore&) = delete;
  MetricsStore& operator=(const MetricsStore&) = delete;

  std::size_t worker_slots() const noexcept { return worker_slots_; }
  std::size_t routes() const noexcept { return routes_; }
  ProcessMetrics worker(std::size_t slot) noexcept { return view(slot); }
  ProcessMetrics master() noexcept { return view(worker_slots_); }
  // One worker's own figure (its pid, RSS, ...: /status).
  std::uint64_t gauge_of(std::size_t slot, std::size_t gauge_index) const noexcept {
    return cells_[slot * stride_ + kCounterCells + gauge_index].load(std::memory_order_relaxed);
  }

  // The master, once worker `slot` has exited: adds its counters to the retired slot, then
  // zeroes the slot (gauges included) for the next worker.
  // `keep_routes` false: its counts by route are dropped (a worker of an older route table).
  void retire(std::size_t slot, bool keep_routes = true) noexcept;
  // The route table changed (a reload): the retired counts by route are zeroed, which
  // Prometheus reads as a counter reset; and those of `live_slot`, a process that swapped its
  // routes itself (a single process).
  void forget_routes(std::size_t live_slot = static_cast<std::size_t>(-1)) noexcept;

  // The sum of the master, the retired slot and the workers `live(slot)` says are running; a
  // scrape that overlaps a retire() is taken again, so that no worker counts twice or not at
  // all.
  template <class Live>
  MetricsSnapshot sum(Live live) const {
    MetricsSnapshot snapshot;
    for (int attempt = 0; attempt < 100; ++attempt) {
      auto before = generation_->load(std::memory_order_acquire);
      if (before % 2 != 0) continue;
      snapshot = empty_snapshot();
      add_slot(snapshot, worker_slots_, true);
      add_slot(snapshot, worker_slots_ + 1, false);
      for (std::size_t slot = 0; slot < worker_slots_; ++slot)
        if (live(slot)) add_slot(snapshot, slot, true);
      if (generation_->load(std::memory_order_acquire) == before) break;
    }
    return snapshot;
  }

 private:
  ProcessMetrics view(std::size_t slot) noexcept { return {cells_ + slot * stride_, routes_}; }
  MetricsSnapshot empty_snapshot() const;
  void add_slot(MetricsSnapshot& into, std::size_t slot, bool gauges) const noexcept;

  std::size_t worker_slots_;
  std::size_t routes_;
  std::size_t stride_;  // cells per slot
  std::size_t bytes_ = 0;
  // Slots: the workers', then the master's, then the retired counters.
  MetricCell* cells_ = nullptr;
  std::atomic<std::uint64_t>* generation_ = nullptr;  // odd while a retire() runs
};

}  // namespace junction::gateway
