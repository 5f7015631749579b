// The routing table: which App answers a request. The health path (exact match) comes first;
// then, with --https-redirect, a 308 to the TLS listener for a request that came in plain text;
// then the static file prefixes (--static), then the routes, most specific first (RouteRule);
// prefixes match whole path segments; nothing else gets 404.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/exchange.hpp"

namespace junction::gateway {

// What /metrics calls a route: the app that answers it and the prefix (or path) it answers.
struct RouteLabel {
  std::string app;
  std::string route;
  // On a migration route, which part the app plays: "primary", "shadow", "fallthrough" or
  // "split" (docs/migration.md); empty on any other route.
  std::string side;
};

// What requests a route takes. Routes are tried most specific first: an exact host before a
// wildcard one (the longer wildcard first) before any host; then the longer prefix; then a route
// with methods before one without.
struct RouteRule {
  // "" any host; "example.com" that host; "*.example.com" its subdomains (not example.com
  // itself, as nginx's server_name). Compared without the port, case-insensitively.
  std::string host;
  std::string prefix = "/";          // "/api" takes "/api" and "/api/...", not "/apix"
  std::vector<std::string> methods;  // upper case; empty: any method

  bool matches(std::string_view host_name, std::string_view path,
               std::string_view method) const noexcept;
  // True when no request could tell the two apart: the same host and prefix, and either no
  // methods on both or a method both name (what a configuration must refuse: one of them would
  // never answer). A route with methods and one without are told apart (methods first).
  bool same_requests(const RouteRule& other) const noexcept;
  // "example.com/api [GET,POST]", for messages and the route table.
  std::string describe() const;
  // What /metrics and /status call the route: its prefix alone when it names no host or
  // methods (a mount), else describe().
  std::string label() const { return host.empty() && methods.empty() ? prefix : describe(); }
};

// Whether `a` is tried before `b` (RouteRule's order).
bool more_specific(const RouteRule& a, const RouteRule& b) noexcept;

// The host a request names (Host, or the authority of its target), without the port and in
// lower case: what RouteRule::host is compared with.
std::string request_host(std::string_view authority);

class Router {
 public:
  // Routes every router has, whatever it serves: their indexes in routes().
  static constexpr std::size_t kNotFoundRoute = 0;
  static constexpr std::size_t kHealthRoute = 1;
  static constexpr std::size_t kRedirectRoute = 2;
  static constexpr std::size_t kBuiltinRoutes = 3;

  Router();

  void set_health_path(std::string path, std::shared_ptr<App> app);
  // PREFIX "/" mounts at the root; "/api" takes "/api" and "/api/..." but not "/apix".
  // `name` labels the route in /metrics (the app's MODULE:ATTR).
  void mount(std::string prefix, std::shared_ptr<App> app, std::string name = "app");
  // A route with a host and methods as well (mount() is a route for any host and method).
  // Returns its index in routes().
  std::size_t add_route(RouteRule rule, std::shared_ptr<App> app, std::string name);

  // A migration route (docs/migration.md) has several apps, each with its own index in routes()
  // so that /metrics and the access log say which one answered. `choose` picks one for each
  // request (a split), as an index into `choices`; without it the first takes every request (a
  // fall-through, which hands a request on itself: Exchange::reroute). It runs on the I/O
  // thread and must not block. Returns the index in routes() of the first choice; the others
  // follow it.
  struct Choice {
    std::shared_ptr<App> app;
    std::string name;
    std::string side;  // RouteLabel::side
  };
  using Chooser = std::function<std::size_t(const RequestHead&)>;
  std::size_t add_choice_route(RouteRule rule, std::vector<Choice> choices, Chooser choose);
  // --static: `app` serves every request under `prefix`, before the mounts.
  void mount_static(std::string prefix, std::shared_ptr<App> app);
  // --https-redirect: a request that reached us in plain text (and that no trusted proxy says
  // was https) is answered 308 with the same URL on https://, on `port` (RFC 9110 §15.4.9:
  // 308 keeps the method and body, unlike 301).
  void redirect_to_https(std::uint16_t port);

  App& resolve(const RequestHead& head) const noexcept { return *routes_[route_of(head)].app; }
  // The index in routes() of the route that answers `head`.
  std::size_t route_of(const RequestHead& head) const noexcept;

  // Hands `exchange` to the app that answers it, and returns the route's index (the protocol
  // counts the request under it when it is over). The contract of App::handle is the same on
  // every protocol: an exception that escapes it is logged, and the exchange aborted (a 500
  // when nothing was sent yet). Never throws.
  std::size_t dispatch(std::shared_ptr<Exchange> exchange) const noexcept;

  // SIGHUP in a single process (docs/configuration.md): from now on this router hands every
  // request to `next`, which must outlive it, so that the connections holding this one serve
  // the routes re-read from the file. The route index dispatch() returns is then `next`'s.
  void forward_to(const Router* next) noexcept { forward_.store(next, std::memory_order_release); }

  // Every route, by index: the built-in ones first, then in the order they were added (the same
  // in every worker built from the same configuration, so their counters line up).
  std::vector<RouteLabel> routes() const;
  std::size_t route_count() const noexcept { return routes_.size(); }

  // Requests dispatched so far, on every protocol (--max-requests counts them).
  std::uint64_t dispatched() const noexcept { return dispatched_.load(std::memory_order_relaxed); }

  // True when `path` is `prefix` or lies below it, segment-wise.
  static bool under_prefix(std::string_view path, std::string_view prefix) noexcept;

 private:
  struct Route {
    RouteLabel label;
    std::shared_ptr<App> app;  // null for a built-in route that is off
    Chooser choose;            // a split: picks among `choices` (indexes in routes_)
    std::vector<std::size_t> choices;
  };
  struct Mount {
    RouteRule rule;
    std::size_t route;
  };
  std::size_t add_mount(std::vector<Mount>& mounts, RouteRule rule, std::shared_ptr<App> app,
                        std::string name);
  std::string health_path_;
  std::vector<Route> routes_;
  std::vector<Mount> statics_;   // longest prefix first
  std::vector<Mount> mounts_;    // most specific first
  bool any_host_rules_ = false;  // a route names a host: requests' hosts must be looked at
  mutable std::atomic<std::uint64_t> dispatched_{0};
  std::atomic<const Router*> forward_{nullptr};
};

}  // namespace junction::gateway
