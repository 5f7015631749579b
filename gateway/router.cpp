#include "gateway/router.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <stdexcept>

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

// How specific a rule is, most specific first (RouteRule's order).
bool more_specific(const RouteRule& a, const RouteRule& b) noexcept {
  auto host_rank = [](const RouteRule& rule) {
    return rule.host.empty() ? 0 : rule.host.starts_with("*.") ? 1 : 2;
  };
  if (host_rank(a) != host_rank(b)) return host_rank(a) > host_rank(b);
  if (a.host.size() != b.host.size()) return a.host.size() > b.host.size();
  if (a.prefix.size() != b.prefix.size()) return a.prefix.size() > b.prefix.size();
  return !a.methods.empty() && b.methods.empty();
}

Router::Router() {
  routes_.push_back({{"none", ""}, std::make_shared<NotFoundApp>(), {}, {}});
  routes_.push_back({{"health", ""}, nullptr, {}, {}});
  routes_.push_back({{"https-redirect", ""}, nullptr, {}, {}});
}

void Router::set_health_path(std::string path, std::shared_ptr<App> app) {
  routes_[kHealthRoute] = {{"health", path}, std::move(app)};
  health_path_ = std::move(path);
}

std::string request_host(std::string_view authority) {
  std::string host(authority);
  auto close = host.rfind(']');
  auto colon = host.rfind(':');
  if (colon != std::string::npos && (close == std::string::npos || colon > close))
    host.resize(colon);
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return host;
}

bool RouteRule::matches(std::string_view host_name, std::string_view path,
                        std::string_view method) const noexcept {
  if (!host.empty()) {
    if (host.starts_with("*.")) {
      std::string_view suffix = std::string_view(host).substr(1);  // ".example.com"
      if (host_name.size() <= suffix.size() || !host_name.ends_with(suffix)) return false;
    } else if (host_name != host) {
      return false;
    }
  }
  if (!Router::under_prefix(path, prefix)) return false;
  return methods.empty() || std::find(methods.begin(), methods.end(), method) != methods.end();
}

bool RouteRule::same_requests(const RouteRule& other) const noexcept {
  if (host != other.host || prefix != other.prefix) return false;
  // One with methods and one without: the first takes its methods, the other the rest.
  if (methods.empty() || other.methods.empty()) return methods.empty() && other.methods.empty();
  return std::any_of(methods.begin(), methods.end(), [&](const std::string& method) {
    return std::find(other.methods.begin(), other.methods.end(), method) != other.methods.end();
  });
}

std::string RouteRule::describe() const {
  std::string out = (host.empty() ? "*" : host) + prefix;
  if (!methods.empty()) {
    out += " [";
    for (std::size_t i = 0; i < methods.size(); ++i) out += (i ? "," : "") + methods[i];
    out += "]";
  }
  return out;
}

std::size_t Router::add_mount(std::vector<Mount>& mounts, RouteRule rule, std::shared_ptr<App> app,
                              std::string name) {
  while (rule.prefix.size() > 1 && rule.prefix.back() == '/') rule.prefix.pop_back();
  for (char& c : rule.host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  any_host_rules_ = any_host_rules_ || !rule.host.empty();
  std::string label = rule.label();
  mounts.push_back({rule, routes_.size()});
  routes_.push_back({{std::move(name), std::move(label)}, std::move(app), {}, {}});
  std::stable_sort(mounts.begin(), mounts.end(),
                   [](const Mount& a, const Mount& b) { return more_specific(a.rule, b.rule); });
  return routes_.size() - 1;
}

void Router::mount(std::string prefix, std::shared_ptr<App> app, std::string name) {
  add_mount(mounts_, {"", std::move(prefix), {}}, std::move(app), std::move(name));
}

std::size_t Router::add_route(RouteRule rule, std::shared_ptr<App> app, std::string name) {
  return add_mount(mounts_, std::move(rule), std::move(app), std::move(name));
}

std::size_t Router::add_choice_route(RouteRule rule, std::vector<Choice> choices, Chooser choose) {
  if (choices.empty()) throw std::invalid_argument("a route needs at least one app");
  std::size_t first = add_mount(mounts_, rule, choices[0].app, choices[0].name);
  auto label = routes_[first].label.route;
  routes_[first].label.side = choices[0].side;
  routes_[first].choices.push_back(first);
  for (std::size_t i = 1; i < choices.size(); ++i) {
    routes_[first].choices.push_back(routes_.size());
    routes_.push_back({{std::move(choices[i].name), label, std::move(choices[i].side)},
                       std::move(choices[i].app),
                       {},
                       {}});
  }
  routes_[first].choose = std::move(choose);
  return first;
}

void Router::mount_static(std::string prefix, std::shared_ptr<App> app) {
  add_mount(statics_, {"", std::move(prefix), {}}, std::move(app), "static");
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
    if (under_prefix(head.path, mount.rule.prefix)) return mount.route;
  // The host is only worked out (an allocation) when some route names one.
  std::string host = any_host_rules_ ? request_host(head.authority) : std::string();
  for (const auto& mount : mounts_)
    if (mount.rule.matches(host, head.path, head.method)) return mount.route;
  return kNotFoundRoute;
}

std::size_t Router::dispatch(std::shared_ptr<Exchange> exchange) const noexcept {
  dispatched_.fetch_add(1, std::memory_order_relaxed);
  if (const Router* next = forward_.load(std::memory_order_acquire))
    return next->dispatch(std::move(exchange));
  const auto& head = exchange->request();
  auto route = route_of(head);
  try {
    if (const auto& choose = routes_[route].choose) {
      auto pick = choose(head);
      route = routes_[route].choices[pick < routes_[route].choices.size() ? pick : 0];
    }
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
