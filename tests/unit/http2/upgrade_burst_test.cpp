// Many h2c upgrades at once (RFC 7540 §3.2), each cut by its client at another step: after the
// request, after the 101, mid-preface, before SETTINGS, before the answer on stream 1, or by a
// reset. Every connection is spawned as the server spawns it, so a coroutine that outlives what
// it is bound to (the cancellation signal of a connection whose last reference a handler
// dropped: the crash this project shipped) is a use-after-free the ASan/UBSan build reports.
#include <boost/asio/co_spawn.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gateway/health.hpp"
#include "gateway/http1_connection.hpp"
#include "support/h2_harness.hpp"
#include "support/hang_guard.hpp"

namespace junction::test {
namespace {

using Http1 = gateway::Http1Connection<MemoryStream>;
using Http2 = http2::Http2Connection<MemoryStream>;

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr std::string_view kSwitching = "HTTP/1.1 101 Switching Protocols";

std::string upgrade_request() {
  H2Client client;
  return "GET /h HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\n"
         "Upgrade: h2c\r\nHTTP2-Settings: " +
         base64url(client.upgrade_settings({})) + "\r\n\r\n";
}

// How a client leaves.
enum class Cut {
  after_request,    // the request, then EOF before the 101
  after_switch,     // EOF once the 101 is out
  mid_preface,      // half the preface, then EOF
  before_settings,  // the preface without SETTINGS, then EOF
  before_answer,    // preface and SETTINGS, EOF before stream 1 is answered
  reset,            // preface and SETTINGS, then a reset
  served,           // preface and SETTINGS; EOF once stream 1 is answered
};
constexpr int kCuts = 7;

struct Client {
  std::shared_ptr<MemoryPeer> peer;
  Cut cut;
  bool sent_rest = false;
  bool ended = false;
};

// Connections of one io_context, spawned as gateway/server.cpp spawns them: the coroutine's
// frame holds the connection, with a completion handler and no cancellation slot.
class Burst {
 public:
  Burst() {
    router.set_health_path("/h", std::make_shared<gateway::HealthApp>(false));
    context_.emplace(gateway::ConnectionContext{limits, timeouts, router, nullptr});
    http2::enable_h2c_upgrade<MemoryStream>(
        *context_, options, [this](std::shared_ptr<Http2> h2) { spawn(std::move(h2)); });
  }

  // `prefilled`: the request is already read when the connection starts, as the server hands
  // over the bytes it read to tell HTTP/1.1 from the HTTP/2 preface; the connection coroutine
  // then upgrades without ever suspending.
  void open(Cut cut, bool prefilled) {
    auto peer = std::make_shared<MemoryPeer>(io);
    clients.push_back({peer, cut});
    auto connection =
        std::make_shared<Http1>(MemoryStream(peer), *context_, gateway::Address{"127.0.0.1", 1},
                                gateway::Address{"127.0.0.1", 80});
    if (prefilled)
      connection->prefill(upgrade_request());
    else
      peer->send(upgrade_request());
    spawn(std::move(connection));
  }

  // Plays every client's script as the server answers; true once every coroutine has ended.
  bool run(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      for (auto& client : clients) act(client);
      if (io.stopped()) io.restart();
      io.run_one_for(std::chrono::milliseconds(5));
      if (finished_ == spawned_ &&
          std::all_of(clients.begin(), clients.end(), [](const Client& c) { return c.ended; }))
        break;
    }
    io.restart();
    io.poll();
    return finished_ == spawned_;
  }

  int spawned() const noexcept { return spawned_; }
  int finished() const noexcept { return finished_; }
  int failures() const noexcept { return failures_; }

  asio::io_context io;
  gateway::Limits limits;
  gateway::Timeouts timeouts;
  gateway::Http2Options options;
  gateway::Router router;
  std::vector<Client> clients;

 private:
  template <class C>
  void spawn(std::shared_ptr<C> connection) {
    ++spawned_;
    asio::co_spawn(
        io,
        [](std::shared_ptr<C> c) -> asio::awaitable<void, Http1::executor_type> {
          co_await c->async_run();
        }(std::move(connection)),
        [this](std::exception_ptr e) {
          ++finished_;
          if (e) ++failures_;
        });
  }

  static void act(Client& c) {
    if (c.ended) return;
    const auto& out = c.peer->output();
    bool switched = out.find(kSwitching) != std::string::npos;
    auto rest = std::string(kPreface) + h2_frame(NGHTTP2_SETTINGS, 0, 0, "");
    switch (c.cut) {
      case Cut::after_request:
        return end(c);
      case Cut::after_switch:
        if (switched) end(c);
        return;
      case Cut::mid_preface:
        c.peer->send(kPreface.substr(0, 11));
        return end(c);
      case Cut::before_settings:
        c.peer->send(kPreface);
        return end(c);
      case Cut::before_answer:
        c.peer->send(rest);
        return end(c);
      case Cut::reset:
        if (!switched) return;
        c.peer->send(rest);
        c.peer->reset();
        c.ended = true;
        return;
      case Cut::served: {
        if (!c.sent_rest) {
          c.peer->send(rest);
          c.sent_rest = true;
        }
        // The HEADERS of stream 1 (frame type 1) after the 101 and our SETTINGS.
        auto at = out.find("\r\n\r\n");
        if (at == std::string::npos) return;
        for (const auto& frame : h2_parse_frames(std::string_view(out).substr(at + 4)))
          if (frame.type == NGHTTP2_HEADERS && frame.stream == 1) return end(c);
        return;
      }
    }
  }

  static void end(Client& c) {
    c.peer->end_input();
    c.ended = true;
  }

  std::optional<gateway::ConnectionContext> context_;
  int spawned_ = 0;
  int finished_ = 0;
  int failures_ = 0;
};

TEST_CASE("h2c upgrade burst: 64 upgrades cut at every step all end, nothing outlives its owner") {
  auto outcome = run_guarded(
      [] {
        Burst burst;
        for (int i = 0; i < 64; ++i) burst.open(static_cast<Cut>(i % kCuts), i % 2 == 0);
        bool ended = burst.run(std::chrono::seconds(10));
        bool ok = expect(ended, "every connection coroutine ended") &&
                  expect(burst.failures() == 0, "no exception escaped a connection") &&
                  // Every client that got as far as the preface ran HTTP/2 too.
                  expect(burst.spawned() > 64, "upgraded connections were spawned");
        if (!ok)
          std::fprintf(stderr, "spawned %d, finished %d\n", burst.spawned(), burst.finished());
        return ok;
      },
      std::chrono::seconds(30));
  CHECK(to_string(outcome) == std::string("passed"));
}

TEST_CASE("h2c upgrade burst: rounds of upgrades interleaved on one thread") {
  // The same cuts in another order each round, so handlers of different connections complete
  // in other interleavings.
  auto outcome = run_guarded(
      [] {
        for (int round = 0; round < 5; ++round) {
          Burst burst;
          for (int i = 0; i < 32; ++i)
            burst.open(static_cast<Cut>((i * (round + 2)) % kCuts), (i + round) % 2 == 0);
          if (!expect(burst.run(std::chrono::seconds(10)), "every connection ended") ||
              !expect(burst.failures() == 0, "no exception"))
            return false;
        }
        return true;
      },
      std::chrono::seconds(60));
  CHECK(to_string(outcome) == std::string("passed"));
}

}  // namespace
}  // namespace junction::test
