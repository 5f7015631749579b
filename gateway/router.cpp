#include "gateway/router.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>

namespace junction::gateway {
namespace {

class NotFoundApp final : public App {
 public:
  void handle(std::shared_ptr<Exchange> exchange) override {
    exchange->start({404, {{"Content-Type", "text/plain; charset=utf-8"}}});
    exchange->async_write("Not Found\n", true, nullptr);
  }
};

}  // namespace

Router::Router() : not_found_(std::make_shared<NotFoundApp>()) {}

void Router::set_health_path(std::string path, std::shared_ptr<App> app) {
  health_path_ = std::move(path);
  health_ = std::move(app);
}

void Router::mount(std::string prefix, std::shared_ptr<App> app) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  mounts_.push_back({std::move(prefix), std::move(app)});
  std::stable_sort(mounts_.begin(), mounts_.end(), [](const Mount& a, const Mount& b) {
    return a.prefix.size() > b.prefix.size();
  });
}

bool Router::under_prefix(std::string_view path, std::string_view prefix) noexcept {
  if (prefix == "/" || prefix.empty()) return true;
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

App& Router::resolve(const RequestHead& head) const noexcept {
  if (health_ && head.path == health_path_) return *health_;
  for (const auto& mount : mounts_)
    if (under_prefix(head.path, mount.prefix)) return *mount.app;
  return *not_found_;
}

void Router::dispatch(std::shared_ptr<Exchange> exchange) const noexcept {
  dispatched_.fetch_add(1, std::memory_order_relaxed);
  const auto& head = exchange->request();
  try {
    resolve(head).handle(exchange);
  } catch (const std::exception& e) {
    spdlog::error("app failed on {} {}: {}", head.method, head.target, e.what());
    exchange->abort();
  } catch (...) {
    spdlog::error("app failed on {} {}: an exception that is not a std::exception", head.method,
                  head.target);
    exchange->abort();
  }
}

}  // namespace junction::gateway
