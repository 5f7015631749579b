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

class HttpsRedirectApp final : public App {
 public:
  explicit HttpsRedirectApp(std::uint16_t port) : port_(port) {}
  void handle(std::shared_ptr<Exchange> exchange) override {
    const auto& head = exchange->request();
    // The host the client asked for, without its port (that is the plain listener's); a
    // request without one (HTTP/1.0) goes to the address it reached.
    std::string host = head.authority;
    if (host.empty())
      host = head.server.host.find(':') != std::string::npos ? "[" + head.server.host + "]"
                                                             : head.server.host;
    auto close = host.rfind(']');
    auto colon = host.rfind(':');
    if (colon != std::string::npos && (close == std::string::npos || colon > close))
      host.resize(colon);
    std::string location = "https://" + host;
    if (port_ != 443) location += ":" + std::to_string(port_);
    location += head.path == "*" ? "/" : head.path;
    if (!head.query.empty()) location += "?" + head.query;
    exchange->start({308,
                     {{"Location", location},
                      {"Content-Type", "text/plain; charset=utf-8"},
                      {"Cache-Control", "no-store"}}});
    exchange->async_write("Permanent Redirect: " + location + "\n", true, nullptr);
  }

 private:
  std::uint16_t port_;
};

}  // namespace

Router::Router() : not_found_(std::make_shared<NotFoundApp>()) {}

void Router::set_health_path(std::string path, std::shared_ptr<App> app) {
  health_path_ = std::move(path);
  health_ = std::move(app);
}

void Router::add_mount(std::vector<Mount>& mounts, std::string prefix, std::shared_ptr<App> app) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  mounts.push_back({std::move(prefix), std::move(app)});
  std::stable_sort(mounts.begin(), mounts.end(), [](const Mount& a, const Mount& b) {
    return a.prefix.size() > b.prefix.size();
  });
}

void Router::mount(std::string prefix, std::shared_ptr<App> app) {
  add_mount(mounts_, std::move(prefix), std::move(app));
}

void Router::mount_static(std::string prefix, std::shared_ptr<App> app) {
  add_mount(statics_, std::move(prefix), std::move(app));
}

void Router::redirect_to_https(std::uint16_t port) {
  https_redirect_ = std::make_shared<HttpsRedirectApp>(port);
}

bool Router::under_prefix(std::string_view path, std::string_view prefix) noexcept {
  if (prefix == "/" || prefix.empty()) return true;
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

App& Router::resolve(const RequestHead& head) const noexcept {
  if (health_ && head.path == health_path_) return *health_;
  if (https_redirect_ && !head.tls && head.scheme != "https") return *https_redirect_;
  for (const auto& mount : statics_)
    if (under_prefix(head.path, mount.prefix)) return *mount.app;
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
