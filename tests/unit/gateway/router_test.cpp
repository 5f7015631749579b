// The routing table: health path by exact match, then the longest whole-segment prefix.
#include "gateway/router.hpp"

#include <catch2/catch.hpp>
#include <memory>

namespace junction::gateway {
namespace {

class NamedApp final : public App {
 public:
  void handle(std::shared_ptr<Exchange>) override {}
};

RequestHead at(std::string path) {
  RequestHead head;
  head.path = std::move(path);
  return head;
}

TEST_CASE("Router::under_prefix matches whole segments", "[router]") {
  CHECK(Router::under_prefix("/api", "/api"));
  CHECK(Router::under_prefix("/api/", "/api"));
  CHECK(Router::under_prefix("/api/v1/x", "/api"));
  CHECK_FALSE(Router::under_prefix("/apix", "/api"));
  CHECK_FALSE(Router::under_prefix("/ap", "/api"));
  CHECK_FALSE(Router::under_prefix("/", "/api"));
  CHECK_FALSE(Router::under_prefix("/other/api", "/api"));
  CHECK(Router::under_prefix("/", "/"));
  CHECK(Router::under_prefix("/anything/at/all", "/"));
  CHECK(Router::under_prefix("/a/b", "/a/b"));
  CHECK_FALSE(Router::under_prefix("/a/bc", "/a/b"));
}

TEST_CASE("Router: the longest matching prefix wins", "[router]") {
  auto root = std::make_shared<NamedApp>();
  auto api = std::make_shared<NamedApp>();
  auto api_v2 = std::make_shared<NamedApp>();
  Router router;
  // Mounted shortest first: the order of mount() calls must not matter.
  router.mount("/", root);
  router.mount("/api", api);
  router.mount("/api/v2", api_v2);
  CHECK(&router.resolve(at("/")) == root.get());
  CHECK(&router.resolve(at("/index.html")) == root.get());
  CHECK(&router.resolve(at("/api")) == api.get());
  CHECK(&router.resolve(at("/api/v1/users")) == api.get());
  CHECK(&router.resolve(at("/api/v2")) == api_v2.get());
  CHECK(&router.resolve(at("/api/v2/users")) == api_v2.get());
  CHECK(&router.resolve(at("/api/v22")) == api.get());
  CHECK(&router.resolve(at("/apix")) == root.get());
}

TEST_CASE("Router: a trailing slash on a mount prefix is ignored", "[router]") {
  auto api = std::make_shared<NamedApp>();
  Router router;
  router.mount("/api/", api);
  CHECK(&router.resolve(at("/api")) == api.get());
  CHECK(&router.resolve(at("/api/x")) == api.get());
  CHECK(&router.resolve(at("/apix")) != api.get());
}

TEST_CASE("Router: the health path is an exact match and comes first", "[router]") {
  auto root = std::make_shared<NamedApp>();
  auto health = std::make_shared<NamedApp>();
  Router router;
  router.mount("/", root);
  router.set_health_path("/healthz", health);
  CHECK(&router.resolve(at("/healthz")) == health.get());
  CHECK(&router.resolve(at("/healthz/")) == root.get());
  CHECK(&router.resolve(at("/healthz/x")) == root.get());
  CHECK(&router.resolve(at("/healthzz")) == root.get());
  CHECK(&router.resolve(at("/health")) == root.get());
}

TEST_CASE("Router: nothing matching falls back to one 404 app", "[router]") {
  auto api = std::make_shared<NamedApp>();
  auto health = std::make_shared<NamedApp>();
  Router router;
  App& empty_fallback = router.resolve(at("/"));
  router.mount("/api", api);
  router.set_health_path("/h", health);
  App& fallback = router.resolve(at("/"));
  CHECK(&fallback == &empty_fallback);
  CHECK(&fallback != api.get());
  CHECK(&fallback != health.get());
  CHECK(&router.resolve(at("/apix")) == &fallback);
  CHECK(&router.resolve(at("/h/")) == &fallback);
  CHECK(&router.resolve(at("*")) == &fallback);
}

}  // namespace
TEST_CASE("Router: every route has an index and a label for /metrics", "[router]") {
  Router router;
  router.mount("/", std::make_shared<NamedApp>(), "mysite.wsgi:application");
  router.mount("/api/", std::make_shared<NamedApp>(), "main:app");
  router.mount_static("/static", std::make_shared<NamedApp>());
  router.set_health_path("/healthz", std::make_shared<NamedApp>());
  auto routes = router.routes();
  REQUIRE(routes.size() == Router::kBuiltinRoutes + 3);
  CHECK(routes[Router::kNotFoundRoute].app == "none");
  CHECK(routes[Router::kHealthRoute].app == "health");
  CHECK(routes[Router::kHealthRoute].route == "/healthz");
  CHECK(routes[Router::kRedirectRoute].app == "https-redirect");
  // Added routes keep the order they were added in, whatever the matching order.
  CHECK(routes[3].app == "mysite.wsgi:application");
  CHECK(routes[3].route == "/");
  CHECK(routes[4].app == "main:app");
  CHECK(routes[4].route == "/api");
  CHECK(routes[5].app == "static");
  CHECK(router.route_of(at("/api/items")) == 4);
  CHECK(router.route_of(at("/static/app.css")) == 5);
  CHECK(router.route_of(at("/healthz")) == Router::kHealthRoute);
  CHECK(router.route_of(at("/about")) == 3);
  Router bare;
  CHECK(bare.route_of(at("/anything")) == Router::kNotFoundRoute);
}

RequestHead request(std::string method, std::string authority, std::string path) {
  RequestHead head = at(std::move(path));
  head.method = std::move(method);
  head.authority = std::move(authority);
  return head;
}

TEST_CASE("Router: routes by host and method, most specific first", "[router]") {
  Router router;
  // Added least specific first: the order of add_route() calls must not matter.
  router.mount("/", std::make_shared<NamedApp>(), "any");                                     // 3
  router.add_route({"*.example.com", "/", {}}, std::make_shared<NamedApp>(), "sub");          // 4
  router.add_route({"API.Example.com", "/", {}}, std::make_shared<NamedApp>(), "api");        // 5
  router.add_route({"", "/orders", {"POST", "PUT"}}, std::make_shared<NamedApp>(), "write");  // 6
  router.add_route({"", "/orders", {}}, std::make_shared<NamedApp>(), "read");                // 7
  router.add_route({"*.shop.example.com", "/", {}}, std::make_shared<NamedApp>(), "shop");    // 8
  CHECK(router.route_of(request("GET", "api.example.com", "/x")) == 5);
  CHECK(router.route_of(request("GET", "API.EXAMPLE.COM:8443", "/x")) == 5);
  CHECK(router.route_of(request("GET", "www.example.com", "/x")) == 4);
  CHECK(router.route_of(request("GET", "a.b.example.com", "/x")) == 4);
  CHECK(router.route_of(request("GET", "eu.shop.example.com", "/x")) == 8);  // the longer one
  CHECK(router.route_of(request("GET", "example.com", "/x")) == 3);  // not its own subdomain
  CHECK(router.route_of(request("GET", "badexample.com", "/x")) == 3);
  CHECK(router.route_of(request("POST", "other.org", "/orders/7")) == 6);
  CHECK(router.route_of(request("GET", "other.org", "/orders/7")) == 7);
  CHECK(router.route_of(request("GET", "other.org", "/ordersx")) == 3);
  CHECK(router.route_of(request("GET", "", "/x")) == 3);  // HTTP/1.0 without Host
  // A host route wins over a longer prefix for any host (host first, then prefix).
  CHECK(router.route_of(request("POST", "www.example.com", "/orders")) == 4);
  auto routes = router.routes();
  CHECK(routes[5].route == "api.example.com/");
  CHECK(routes[6].route == "*/orders [POST,PUT]");
  CHECK(routes[7].route == "/orders");
}

TEST_CASE("RouteRule: which rules no request can tell apart", "[router]") {
  RouteRule any{"", "/api", {}};
  RouteRule get{"", "/api", {"GET"}};
  RouteRule post{"", "/api", {"POST", "PATCH"}};
  RouteRule patch{"", "/api", {"PATCH"}};
  CHECK(any.same_requests(RouteRule{"", "/api", {}}));
  CHECK_FALSE(any.same_requests(get));  // GET goes to `get`, the rest to `any`
  CHECK_FALSE(get.same_requests(post));
  CHECK(post.same_requests(patch));
  CHECK_FALSE(any.same_requests(RouteRule{"", "/api/v2", {}}));
  CHECK_FALSE(any.same_requests(RouteRule{"example.com", "/api", {}}));
  CHECK(request_host("Example.COM:80") == "example.com");
  CHECK(request_host("[::1]:8000") == "[::1]");
  CHECK(request_host("[::1]") == "[::1]");
}

}  // namespace junction::gateway

namespace junction::gateway {
namespace {

// Only its head is looked at: what Router::dispatch needs.
class HeadOnlyExchange final : public Exchange {
 public:
  explicit HeadOnlyExchange(RequestHead head) : head_(std::move(head)) {}
  const RequestHead& request() const noexcept override { return head_; }
  boost::asio::any_io_executor executor() const override { return {}; }
  void async_read_body(std::span<char>, ReadHandler) override {}
  void start(ResponseHead) override {}
  void async_write(BodyPiece, bool, Handler) override {}
  void async_finish(Headers, Handler) override {}
  void abort() override {}
  void on_client_gone(std::function<void()>) override {}

 private:
  RequestHead head_;
};

class CountingApp final : public App {
 public:
  void handle(std::shared_ptr<Exchange>) override { ++calls; }
  int calls = 0;
};

TEST_CASE("Router: a route with several apps counts each under its own index", "[router]") {
  auto a = std::make_shared<CountingApp>();
  auto b = std::make_shared<CountingApp>();
  auto plain = std::make_shared<CountingApp>();
  Router router;
  router.mount("/", plain, "plain");
  // The chooser sends paths ending in "b" to the second app.
  auto first = router.add_choice_route(
      {"", "/orders", {}}, {{a, "new"}, {b, "legacy"}},
      [](const RequestHead& head) -> std::size_t { return head.path.ends_with("b") ? 1 : 0; });
  CHECK(first == Router::kBuiltinRoutes + 1);
  auto routes = router.routes();
  REQUIRE(routes.size() == Router::kBuiltinRoutes + 3);
  CHECK(routes[first].app == "new");
  CHECK(routes[first].route == "/orders");
  CHECK(routes[first + 1].app == "legacy");
  CHECK(routes[first + 1].route == "/orders");

  auto send = [&](std::string path) {
    return router.dispatch(std::make_shared<HeadOnlyExchange>(at(std::move(path))));
  };
  CHECK(send("/orders/a") == first);
  CHECK(send("/orders/b") == first + 1);
  CHECK(send("/other") == Router::kBuiltinRoutes);
  CHECK(a->calls == 1);
  CHECK(b->calls == 1);
  CHECK(plain->calls == 1);

  // Without a chooser the first app takes every request (a fall-through hands them on itself).
  Router fallthrough;
  auto only = fallthrough.add_choice_route({"", "/", {}}, {{a, "new"}, {b, "legacy"}}, nullptr);
  CHECK(fallthrough.dispatch(std::make_shared<HeadOnlyExchange>(at("/xb"))) == only);
  CHECK(a->calls == 2);
}

TEST_CASE("Router: forward_to hands every later request to the new router", "[router]") {
  auto old_app = std::make_shared<CountingApp>();
  auto new_app = std::make_shared<CountingApp>();
  auto orders = std::make_shared<CountingApp>();
  Router front;
  front.mount("/", old_app, "old");
  Router next;
  next.mount("/", new_app, "new");
  next.add_choice_route({"", "/orders", {}}, {{orders, "orders", "primary"}}, nullptr);
  CHECK(next.routes()[Router::kBuiltinRoutes + 1].side == "primary");
  auto send = [&](std::string path) {
    return front.dispatch(std::make_shared<HeadOnlyExchange>(at(std::move(path))));
  };
  CHECK(send("/orders/1") == Router::kBuiltinRoutes);
  CHECK(old_app->calls == 1);
  front.forward_to(&next);
  // The index is the new router's: the labels the access log and /metrics use are its own.
  CHECK(send("/orders/1") == Router::kBuiltinRoutes + 1);
  CHECK(send("/x") == Router::kBuiltinRoutes);
  CHECK(old_app->calls == 1);
  CHECK(new_app->calls == 1);
  CHECK(orders->calls == 1);
  CHECK(front.dispatched() == 3);  // the front counts every request (--max-requests)
}

}  // namespace
}  // namespace junction::gateway
