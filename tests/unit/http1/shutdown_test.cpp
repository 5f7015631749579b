// A graceful shutdown and the connections that are idle when it begins: a request already on its
// way (the next one of a keep-alive connection, or the first of one accepted just before) is
// still served, with Connection: close; a connection that stays quiet closes within
// kShutdownIdle, without a response.
#include <catch2/catch.hpp>

#include "support/serve_harness.hpp"

using namespace junction;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kGet = "GET /h HTTP/1.1\r\nHost: x\r\n\r\n";

bool answered(const test::MemoryPeer& peer, int count) {
  std::size_t at = 0;
  for (int i = 0; i < count; ++i) {
    at = peer.output().find("\r\n\r\nok", at);
    if (at == std::string::npos) return false;
    at += 6;
  }
  return true;
}

}  // namespace

TEST_CASE("shutdown: the first request of a connection accepted just before is served",
          "[http1][shutdown]") {
  test::ServeHarness h;
  auto peer = h.open();
  h.run_until([] { return false; }, 20ms);  // the connection waits for its first bytes
  h.shutdown_all();
  h.run_until([] { return false; }, 100ms);
  REQUIRE_FALSE(peer->closed());
  peer->send(kGet);
  REQUIRE(h.run_until([&] { return peer->closed(); }, 3s));
  CHECK(peer->output().starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(peer->output().find("Connection: close\r\n") != std::string::npos);
  CHECK(answered(*peer, 1));
}

TEST_CASE("shutdown: an idle keep-alive connection's next request is served, then it closes",
          "[http1][shutdown]") {
  test::ServeHarness h;
  auto peer = h.open();
  peer->send(kGet);
  REQUIRE(h.run_until([&] { return answered(*peer, 1); }));
  CHECK(peer->output().find("Connection: close") == std::string::npos);  // keep-alive
  h.shutdown_all();
  h.run_until([] { return false; }, 100ms);
  REQUIRE_FALSE(peer->closed());
  peer->send(kGet);
  REQUIRE(h.run_until([&] { return peer->closed(); }, 3s));
  CHECK(answered(*peer, 2));
  CHECK(peer->output().find("Connection: close\r\n") != std::string::npos);
}

TEST_CASE("shutdown: a quiet idle connection closes within kShutdownIdle, without an answer",
          "[http1][shutdown]") {
  test::ServeHarness h;
  auto peer = h.open();
  peer->send(kGet);
  REQUIRE(h.run_until([&] { return answered(*peer, 1); }));
  auto before = peer->output().size();
  auto started = std::chrono::steady_clock::now();
  h.shutdown_all();
  REQUIRE(h.run_until([&] { return h.live() == 0; }, 5s));
  auto took = std::chrono::steady_clock::now() - started;
  CHECK(peer->output().size() == before);  // closed silently
  // Not cut at once (a request may be on its way), and not held for the keep-alive timeout.
  CHECK(took >= 900ms);
  CHECK(took <
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(h.timeouts.keep_alive));
}
