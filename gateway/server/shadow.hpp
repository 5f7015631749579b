// A shadow route (docs/migration.md, "Shadow"): the primary app answers the client as usual;
// once its answer is complete, a copy of the request goes to the shadow app, whose answer goes
// nowhere but into a comparison with the primary's (shadow_diff.hpp). The figures and the last
// mismatches go to the ShadowReport that /migration shows.
//
// The shadow never touches the primary's response: the primary's exchange is the client's,
// with a tap that copies what passes (the head, the body up to shadow_max_body, the request body
// bytes the primary read); the shadow starts only after the primary's last byte was handed on,
// on an exchange of its own that no client holds; its exceptions and failures are counted, and
// never reach a client. It is bounded by construction: at most shadow_max_in_flight shadow
// requests per worker (beyond, the request is simply not shadowed, and counted), bodies kept
// up to shadow_max_body, and the comparisons run on a thread of their own (one per process,
// kept for its life: a comparison may end after the server that queued it).
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/exchange.hpp"
#include "gateway/metrics.hpp"
#include "gateway/server/shadow_diff.hpp"
#include "gateway/server/shadow_report.hpp"

namespace junction::gateway {

struct ShadowOptions {
  std::string primary_name;
  std::string shadow_name;
  // Methods whose requests are shadowed; others only reach the primary (both apps would run
  // their side effects).
  std::vector<std::string> methods{"GET", "HEAD", "OPTIONS"};
  std::size_t max_in_flight = 16;
  std::size_t max_body = 1 << 20;
  ShadowCompareOptions compare;
  std::size_t shadow_route = 0;  // the shadow app's index in Router::routes()
  std::size_t report_index = 0;  // this route's place in the ShadowReport
};

class ShadowApp final : public App, public std::enable_shared_from_this<ShadowApp> {
 public:
  ShadowApp(std::shared_ptr<App> primary, std::shared_ptr<App> shadow, ShadowOptions options);

  // Where the evidence goes: the report, and the metrics for the shadow's requests (counted
  // under its own route); either may be absent. Before the first request, and again with
  // nothing once the server is done: a shadow still running in an app thread, or a comparison
  // still queued, must not write into a report or metrics that are gone.
  void report_to(ShadowReport* report, ProcessMetrics metrics) noexcept {
    std::lock_guard lock(sink_mutex_);
    report_ = report;
    metrics_ = metrics;
  }

  void handle(std::shared_ptr<Exchange> exchange) override;

  std::size_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }

 private:
  friend class ShadowTap;
  friend struct ShadowCase;
  friend class ShadowExchange;
  void count(ShadowReport::Counter counter) noexcept {
    std::lock_guard lock(sink_mutex_);
    if (report_) report_->add(options_.report_index, counter);
  }

  std::shared_ptr<App> primary_;
  std::shared_ptr<App> shadow_;
  ShadowOptions options_;
  std::mutex sink_mutex_;  // report_to() against the shadows and comparisons that write
  ShadowReport* report_ = nullptr;
  ProcessMetrics metrics_;
  std::atomic<std::size_t> in_flight_{0};
};

}  // namespace junction::gateway
