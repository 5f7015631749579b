// A fall-through route (docs/migration.md, "Fall-through"): the new app answers first; when its
// status is one of the route's `fallthrough_on` (404 by default), its response is dropped
// before a byte of it leaves and the request is replayed to the legacy app, which answers the
// client instead. This is how a route moves to a new app before the new app does everything.
//
// The replay needs the request body again: the bytes the first app read are kept, up to
// `max_body`, and the legacy app reads them first and then the rest from the client. A body
// longer than that is not kept, and the first answer stands (counted as not replayed). The
// decision is taken when the first app commits its response (its first write, file, finish or
// abort), which is the moment its head would have left: a response that has started to stream
// never falls through. WebSocket requests never fall through (a 101 cannot be taken back).
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/exchange.hpp"
#include "gateway/metrics.hpp"

namespace junction::gateway {

struct FallthroughOptions {
  std::vector<int> statuses{404};  // the first app's answers that fall through
  std::size_t max_body = 1 << 20;  // request body bytes kept for the replay
  std::size_t primary_route = 0;   // the first app's index in Router::routes(): the counts'
  std::size_t legacy_route = 0;    // the legacy app's index in Router::routes()
  std::string legacy_name;         // for X-Junction-App and the log
  bool expose_decision = false;    // X-Junction-App names the app that answered
  std::string primary_name;
};

class FallthroughApp final : public App, public std::enable_shared_from_this<FallthroughApp> {
 public:
  FallthroughApp(std::shared_ptr<App> primary, std::shared_ptr<App> legacy,
                 FallthroughOptions options);

  // The process's counters (replays, answers not replayed), once they exist, and none once the
  // server is done (a first app still running must not count into metrics that are gone).
  void count_into(ProcessMetrics metrics) noexcept {
    std::lock_guard lock(metrics_mutex_);
    metrics_ = metrics;
  }

  void handle(std::shared_ptr<Exchange> exchange) override;

 private:
  friend class FallthroughExchange;
  friend class ReplayExchange;
  std::shared_ptr<App> primary_;
  std::shared_ptr<App> legacy_;
  // A route_cell counter of the first app's route.
  void count(std::size_t cell) noexcept {
    std::lock_guard lock(metrics_mutex_);
    metrics_.add_to_route(options_.primary_route, cell);
  }

  FallthroughOptions options_;
  std::mutex metrics_mutex_;
  ProcessMetrics metrics_;
};

}  // namespace junction::gateway
