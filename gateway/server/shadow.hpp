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
// up to shadow_max_body, and the comparisons run on a thread of their own.
#pragma once

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <cstddef>
#include <memory>
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
  // `comparer` runs the comparisons (a thread of the worker's own).
  ShadowApp(std::shared_ptr<App> primary, std::shared_ptr<App> shadow, ShadowOptions options,
            std::shared_ptr<boost::asio::thread_pool> comparer);

  // Where the evidence goes: the report, and the metrics for the shadow's requests (counted
  // under its own route). Before the first request; either may be absent.
  void report_to(ShadowReport* report, ProcessMetrics metrics) noexcept {
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
    if (report_) report_->add(options_.report_index, counter);
  }

  std::shared_ptr<App> primary_;
  std::shared_ptr<App> shadow_;
  ShadowOptions options_;
  std::shared_ptr<boost::asio::thread_pool> comparer_;
  ShadowReport* report_ = nullptr;
  ProcessMetrics metrics_;
  std::atomic<std::size_t> in_flight_{0};
};

}  // namespace junction::gateway
