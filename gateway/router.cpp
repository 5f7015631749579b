#include "gateway/router.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>

#include "gateway/log_tag.hpp"

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

Router::Router() {
  routes_.push_back({{"none", ""}, std::make_shared<NotFoundApp>()});
  routes_.push_back({{"health", ""}, nullptr});
  routes_.push_back({{"https-redirect", ""}, nullptr});
}

void Router::set_health_path(std::string path, std::shared_ptr<App> app) {
  routes_[kHealthRoute] = {{"health", path}, std::move(app)};
  health_path_ = std::move(path);
}

void Router::add_mount(std::vector<Mount>& mounts, std::string prefix, std::shared_ptr<App> app,
                       std::string name) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  mounts.push_back({prefix, routes_.size()});
  routes_.push_back({{std::move(name), std::move(prefix)}, std::move(app)});
  std::stable_sort(mounts.begin(), mounts.end(), [](const Mount& a, const Mount& b) {
    return a.prefix.size() > b.prefix.size();
  });
}

void Router::mount(std::string prefix, std::shared_ptr<App> app, std::string name) {
  add_mount(mounts_, std::move(prefix), std::move(app), std::move(name));
}

void Router::mount_static(std::string prefix, std::shared_ptr<App> app) {
  add_mount(statics_, std::move(prefix), std::move(app), "static");
}

void Router::redirect_to_https(std::uint16_t port) {
  routes_[kRedirectRoute].app = std::make_shared<HttpsRedirectApp>(port);
}

std::vector<RouteLabel> Router::routes() const {
  std::vector<RouteLabel> labels;
  for (const auto& route : routes_) labels.push_back(route.label);
  return labels;
}

bool Router::under_prefix(std::string_view path, std::string_view prefix) noexcept {
  if (prefix == "/" || prefix.empty()) return true;
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

std::size_t Router::route_of(const RequestHead& head) const noexcept {
  if (routes_[kHealthRoute].app && head.path == health_path_) return kHealthRoute;
  if (routes_[kRedirectRoute].app && !head.tls && head.scheme != "https") return kRedirectRoute;
  for (const auto& mount : statics_)
    if (under_prefix(head.path, mount.prefix)) return mount.route;
  for (const auto& mount : mounts_)
    if (under_prefix(head.path, mount.prefix)) return mount.route;
  return kNotFoundRoute;
}

std::size_t Router::dispatch(std::shared_ptr<Exchange> exchange) const noexcept {
  dispatched_.fetch_add(1, std::memory_order_relaxed);
  const auto& head = exchange->request();
  auto route = route_of(head);
  try {
    routes_[route].app->handle(exchange);
  } catch (const std::exception& e) {
    spdlog::error("app failed on {}: {}", LogTag{head}, e.what());
    exchange->abort();
  } catch (...) {
    spdlog::error("app failed on {}: an exception that is not a std::exception", LogTag{head});
    exchange->abort();
  }
  return route;
}

}  // namespace junction::gateway
