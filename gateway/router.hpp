// The routing table: which App answers a request. The health path (exact match) comes first;
// then, with --https-redirect, a 308 to the TLS listener for a request that came in plain text;
// then the static file prefixes (--static), then the longest mount prefix, each matching whole
// path segments; nothing else gets 404.
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
  // --static: `app` serves every request under `prefix`, before the mounts.
  void mount_static(std::string prefix, std::shared_ptr<App> app);
  // --https-redirect: a request that reached us in plain text (and that no trusted proxy says
  // was https) is answered 308 with the same URL on https://, on `port` (RFC 9110 §15.4.9:
  // 308 keeps the method and body, unlike 301).
  void redirect_to_https(std::uint16_t port);

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
  static void add_mount(std::vector<Mount>& mounts, std::string prefix, std::shared_ptr<App> app);
  std::shared_ptr<App> https_redirect_;  // null: off
  std::vector<Mount> statics_;           // longest prefix first
  std::vector<Mount> mounts_;            // longest prefix first
  std::shared_ptr<App> not_found_;
  mutable std::atomic<std::uint64_t> dispatched_{0};
};

}  // namespace junction::gateway
