// The routing table: which App answers a request. The health path (exact match) comes first,
// then the longest mount prefix that matches whole path segments; nothing else gets 404.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/exchange.hpp"

namespace junction::gateway {

class Router {
 public:
  Router();

  void set_health_path(std::string path, std::shared_ptr<App> app);
  // PREFIX "/" mounts at the root; "/api" takes "/api" and "/api/..." but not "/apix".
  void mount(std::string prefix, std::shared_ptr<App> app);

  App& resolve(const RequestHead& head) const noexcept;

  // Hands `exchange` to the app that answers it. The contract of App::handle is the same on
  // every protocol: an exception that escapes it is logged, and the exchange aborted (a 500
  // when nothing was sent yet). Never throws.
  void dispatch(std::shared_ptr<Exchange> exchange) const noexcept;

  // Requests dispatched so far, on every protocol (--max-requests counts them).
  std::uint64_t dispatched() const noexcept { return dispatched_.load(std::memory_order_relaxed); }

  // True when `path` is `prefix` or lies below it, segment-wise.
  static bool under_prefix(std::string_view path, std::string_view prefix) noexcept;

 private:
  struct Mount {
    std::string prefix;
    std::shared_ptr<App> app;
  };
  std::string health_path_;
  std::shared_ptr<App> health_;
  std::vector<Mount> mounts_;  // longest prefix first
  std::shared_ptr<App> not_found_;
  mutable std::atomic<std::uint64_t> dispatched_{0};
};

}  // namespace junction::gateway
