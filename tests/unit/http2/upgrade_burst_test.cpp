// Many h2c upgrades at once (RFC 7540 §3.2), each cut by its client at another step: after the
// request, after the 101, mid-preface, before SETTINGS, before the answer on stream 1, or by a
// reset; and prior-knowledge connections cut after the preface. Every connection starts as the
// server starts it (gateway/server/serve_connection.hpp), so a coroutine that outlives what it
// is bound to (the cancellation signal of a connection whose last reference a handler dropped:
// the crash this project shipped) is a use-after-free the ASan/UBSan build reports.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "support/h2_harness.hpp"
#include "support/hang_guard.hpp"
#include "support/serve_harness.hpp"

namespace junction::test {
namespace {

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr std::string_view kSwitchingLine = "HTTP/1.1 101 Switching Protocols";

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
  prior_knowledge,  // no upgrade: the preface first, then SETTINGS and EOF
};
constexpr int kCuts = 8;

struct BurstClient {
  std::shared_ptr<MemoryPeer> peer;
  Cut cut;
  bool sent_rest = false;
  bool ended = false;
};

// Clients that each act at their own step, over connections started as the server starts them.
class Burst {
 public:
  void open(Cut cut) {
    auto peer = serve.open();
    clients.push_back({peer, cut});
    peer->send(cut == Cut::prior_knowledge ? std::string(kPreface) : upgrade_request());
  }

  // Plays every client's script as the server answers; true once every coroutine has ended.
  bool run(std::chrono::milliseconds limit) {
    return serve.run_until(
        [this] {
          return serve.live() == 0 && std::all_of(clients.begin(), clients.end(),
                                                  [](const BurstClient& c) { return c.ended; });
        },
        limit,
        [this] {
          for (auto& client : clients) act(client);
        });
  }

  ServeHarness serve;
  std::vector<BurstClient> clients;

 private:
  static void act(BurstClient& c) {
    if (c.ended) return;
    const auto& out = c.peer->output();
    bool switched = out.find(kSwitchingLine) != std::string::npos;
    auto settings = h2_frame(NGHTTP2_SETTINGS, 0, 0, "");
    auto rest = std::string(kPreface) + settings;
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
      case Cut::prior_knowledge:
        // The preface went first; SETTINGS, then gone before any answer.
        c.peer->send(settings);
        return end(c);
      case Cut::served: {
        if (!c.sent_rest) {
          c.peer->send(rest);
          c.sent_rest = true;
        }
        // The HEADERS of stream 1 after the 101 and our SETTINGS.
        auto at = out.find("\r\n\r\n");
        if (at == std::string::npos) return;
        for (const auto& frame : h2_parse_frames(std::string_view(out).substr(at + 4)))
          if (frame.type == NGHTTP2_HEADERS && frame.stream == 1) return end(c);
        return;
      }
    }
  }

  static void end(BurstClient& c) {
    c.peer->end_input();
    c.ended = true;
  }
};

bool ended_cleanly(Burst& burst, std::chrono::milliseconds limit) {
  bool ended = burst.run(limit);
  bool ok = expect(ended, "every connection coroutine ended") &&
            expect(burst.serve.failures().empty(), "no exception escaped a connection") &&
            expect(burst.serve.finished() == burst.serve.spawned(), "every completion ran");
  if (!ok)
    std::fprintf(stderr, "spawned %d, finished %d, live %zu\n", burst.serve.spawned(),
                 burst.serve.finished(), burst.serve.live());
  return ok;
}

TEST_CASE("h2c upgrade burst: 64 upgrades cut at every step all end, nothing outlives its owner") {
  auto outcome = run_guarded(
      [] {
        Burst burst;
        for (int i = 0; i < 64; ++i) burst.open(static_cast<Cut>(i % kCuts));
        bool ok = ended_cleanly(burst, std::chrono::seconds(10));
        // The clients that waited for it saw the 101.
        for (const auto& client : burst.clients)
          if (client.cut == Cut::after_switch || client.cut == Cut::served)
            ok = ok && expect(client.peer->output().starts_with(kSwitchingLine), "101");
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
          for (int i = 0; i < 32; ++i) burst.open(static_cast<Cut>((i * (round + 2)) % kCuts));
          if (!ended_cleanly(burst, std::chrono::seconds(10))) return false;
        }
        return true;
      },
      std::chrono::seconds(60));
  CHECK(to_string(outcome) == std::string("passed"));
}

}  // namespace
}  // namespace junction::test
