#include "gateway/metrics.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <new>
#include <system_error>

namespace junction::gateway {

// Shared between processes: an atomic that hid a lock would not work there.
static_assert(MetricCell::is_always_lock_free);
static_assert(sizeof(MetricCell) == sizeof(std::uint64_t));

std::size_t histogram_bucket(std::chrono::nanoseconds duration) noexcept {
  double seconds = std::chrono::duration<double>(duration).count();
  auto it = std::lower_bound(kHistogramBounds.begin(), kHistogramBounds.end(), seconds);
  return static_cast<std::size_t>(it - kHistogramBounds.begin());
}

MethodLabel method_label(std::string_view method) noexcept {
  switch (method.size()) {
    case 3:
      if (method == "GET") return MethodLabel::get;
      if (method == "PUT") return MethodLabel::put;
      break;
    case 4:
      if (method == "HEAD") return MethodLabel::head;
      if (method == "POST") return MethodLabel::post;
      break;
    case 5:
      if (method == "PATCH") return MethodLabel::patch;
      break;
    case 6:
      if (method == "DELETE") return MethodLabel::delete_;
      break;
    case 7:
      if (method == "OPTIONS") return MethodLabel::options;
      break;
    default:
      break;
  }
  // Any other token (RFC 9110 §9.1 allows extension methods): one label, so that a client
  // cannot grow the series without bound.
  return MethodLabel::other;
}

std::string_view method_name(MethodLabel label) noexcept {
  static constexpr std::string_view names[kMethodLabels] = {"GET",    "HEAD",  "POST",    "PUT",
                                                            "DELETE", "PATCH", "OPTIONS", "other"};
  return names[static_cast<std::size_t>(label)];
}

std::size_t status_label(int status, bool completed) noexcept {
  if (!completed || status < 100 || status > 599) return 0;
  return static_cast<std::size_t>(status / 100);
}

std::string_view status_name(std::size_t label) noexcept {
  static constexpr std::string_view names[kStatusLabels] = {"none", "1xx", "2xx",
                                                            "3xx",  "4xx", "5xx"};
  return names[label < kStatusLabels ? label : 0];
}

std::string_view protocol_name(ProtocolLabel label) noexcept {
  static constexpr std::string_view names[kProtocolLabels] = {"HTTP/1.0", "HTTP/1.1", "HTTP/2"};
  return names[static_cast<std::size_t>(label)];
}

void ProcessMetrics::observe_loop_lag(std::chrono::nanoseconds lag) const noexcept {
  if (!cells_) return;
  add(counter::loop_lag_bucket + histogram_bucket(lag));
  add(counter::loop_lag_sum_us,
      static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(lag).count()));
}

void ProcessMetrics::record_request(std::size_t route, std::string_view method,
                                    ProtocolLabel protocol, int status, bool completed,
                                    std::chrono::nanoseconds duration) const noexcept {
  if (!cells_ || route >= routes_) return;
  MetricCell* cells = cells_ + kCounterCells + kGaugeCells + route * route_cell::count;
  auto index =
      route_cell::request_index(method_label(method), status_label(status, completed), protocol);
  cells[route_cell::requests + index].fetch_add(1, std::memory_order_relaxed);
  cells[route_cell::duration_bucket + histogram_bucket(duration)].fetch_add(
      1, std::memory_order_relaxed);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(duration).count();
  cells[route_cell::duration_sum_us].fetch_add(
      static_cast<std::uint64_t>(std::max<long>(micros, 0)), std::memory_order_relaxed);
}

MetricsStore::MetricsStore(std::size_t worker_slots, std::size_t routes, bool shared)
    : worker_slots_(worker_slots), routes_(routes), stride_(ProcessMetrics::cells_for(routes)) {
  // One generation cell, then the slots: the workers', the master's, the retired one. Pages
  // that no worker touches are never backed by memory.
  bytes_ = sizeof(MetricCell) * (1 + stride_ * (worker_slots + 2));
  void* memory = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE,
                        (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED)
    throw std::system_error(errno, std::generic_category(), "mapping the metrics");
  // Anonymous mappings are zero-filled: every cell starts at 0.
  generation_ = new (memory) std::atomic<std::uint64_t>(0);
  cells_ = new (static_cast<char*>(memory) + sizeof(MetricCell))
      MetricCell[stride_ * (worker_slots + 2)];
}

MetricsStore::~MetricsStore() {
  if (generation_) ::munmap(generation_, bytes_);
}

void MetricsStore::retire(std::size_t slot, bool keep_routes) noexcept {
  if (slot >= worker_slots_) return;
  generation_->fetch_add(1, std::memory_order_acq_rel);
  MetricCell* from = cells_ + slot * stride_;
  MetricCell* into = cells_ + (worker_slots_ + 1) * stride_;
  auto fold = [&](std::size_t i) {
    into[i].fetch_add(from[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
  };
  for (std::size_t i = 0; i < kCounterCells; ++i) fold(i);
  if (keep_routes)
    for (std::size_t i = kCounterCells + kGaugeCells; i < stride_; ++i) fold(i);
  for (std::size_t i = 0; i < stride_; ++i) from[i].store(0, std::memory_order_relaxed);
  generation_->fetch_add(1, std::memory_order_acq_rel);
}

void MetricsStore::forget_routes(std::size_t live_slot) noexcept {
  generation_->fetch_add(1, std::memory_order_acq_rel);
  for (std::size_t slot : {worker_slots_ + 1, live_slot}) {
    if (slot > worker_slots_ + 1) continue;
    MetricCell* cells = cells_ + slot * stride_;
    for (std::size_t i = kCounterCells + kGaugeCells; i < stride_; ++i)
      cells[i].store(0, std::memory_order_relaxed);
  }
  generation_->fetch_add(1, std::memory_order_acq_rel);
}

MetricsSnapshot MetricsStore::empty_snapshot() const {
  MetricsSnapshot snapshot;
  snapshot.cells.assign(stride_, 0);
  snapshot.routes = routes_;
  return snapshot;
}

void MetricsStore::add_slot(MetricsSnapshot& into, std::size_t slot, bool gauges) const noexcept {
  const MetricCell* from = cells_ + slot * stride_;
  for (std::size_t i = 0; i < stride_; ++i) {
    bool is_gauge = i >= kCounterCells && i < kCounterCells + kGaugeCells;
    if (is_gauge && !gauges) continue;
    into.cells[i] += from[i].load(std::memory_order_relaxed);
  }
}

}  // namespace junction::gateway
