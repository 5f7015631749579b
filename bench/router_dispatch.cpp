// Router::dispatch alone, in a loop: nanoseconds per request for a two-mount table, best of 7
// rounds of 20 M. An A/B of a change to gateway/router.{hpp,cpp}: build this file against each
// version's router and run them interleaved on one core (docs/benchmarks.md, "Routing"):
//
//   git show REV:gateway/router.cpp > /tmp/old/gateway/router.cpp   # and router.hpp
//   g++ -std=c++20 -O3 -DNDEBUG -I/tmp/old -I. bench/router_dispatch.cpp \
//       /tmp/old/gateway/router.cpp gateway/errors.cpp -lspdlog -lfmt -o /tmp/dispatch_old
//   g++ -std=c++20 -O3 -DNDEBUG -I. bench/router_dispatch.cpp gateway/router.cpp \
//       gateway/errors.cpp -lspdlog -lfmt -o /tmp/dispatch_new
//   for i in 1 2 3 4 5 6 7; do taskset -c 0 /tmp/dispatch_old; taskset -c 0 /tmp/dispatch_new; done
#include <chrono>
#include <cstdio>

#include "gateway/router.hpp"
using namespace junction::gateway;
class Ex final : public Exchange {
 public:
  explicit Ex(RequestHead h) : head_(std::move(h)) {}
  const RequestHead& request() const noexcept override { return head_; }
  boost::asio::any_io_executor executor() const override { return {}; }
  void async_read_body(std::span<char>, ReadHandler) override {}
  void start(ResponseHead) override {}
  void async_write(BodyPiece, bool, Handler) override {}
  void async_finish(Headers, Handler) override {}
  void abort() override {}
  void on_client_gone(std::function<void()>) override {}
  RequestHead head_;
};
class Noop final : public App {
 public:
  void handle(std::shared_ptr<Exchange>) override { ++calls; }
  long calls = 0;
};
int main() {
  Router router;
  auto a = std::make_shared<Noop>(), b = std::make_shared<Noop>();
  router.mount("/", a, "root");
  router.mount("/api", b, "api");
  RequestHead head;
  head.method = "GET";
  head.path = "/api/orders/7";
  head.target = head.path;
  auto ex = std::make_shared<Ex>(head);
  constexpr long n = 20'000'000;
  double best = 1e9;
  for (int round = 0; round < 7; ++round) {
    auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < n; ++i) router.dispatch(ex);
    double ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / n;
    if (ns < best) best = ns;
  }
  std::printf("%.2f ns/dispatch (best of 7 x %ld), calls %ld\n", best, n, b->calls);
}
