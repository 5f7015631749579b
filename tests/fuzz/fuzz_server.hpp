// What the protocol fuzz targets share: a server as the harness runs it (ServeHarness: the one
// coroutine per accepted connection, HTTP/1.1, the HTTP/2 preface or an h2c upgrade), with
// apps that read bodies, stream, answer in pieces larger than the output high-water mark and
// accept WebSockets, all of whose handlers are counted. After each input the connection must
// end, every handler an app was given must have run exactly once, and no exchange may be left
// alive: anything else is a bug, reported with abort() so that libFuzzer keeps the input.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <string_view>

#include "gateway/health.hpp"
#include "support/serve_harness.hpp"
#include "support/test_apps.hpp"

namespace junction::fuzz {

using namespace std::chrono_literals;

// The server's log would be most of the run's time and output.
inline void quiet_logs() {
  spdlog::set_level(spdlog::level::off);
}

// How a client's bytes are cut into reads: the first input byte picks one of these read sizes
// (0: each segment whole), so that every parser state is also entered across a read boundary.
inline std::size_t read_size(std::uint8_t selector) {
  static constexpr std::size_t kSizes[] = {0, 1, 2, 3, 5, 7, 9, 16, 24, 64, 100, 512, 1000, 4096};
  return kSizes[selector % std::size(kSizes)];
}

class FuzzServer {
 public:
  explicit FuzzServer(gateway::HttpMode mode = gateway::HttpMode::automatic) {
    h.mode = mode;
    // Without diagnostics: ?sleep would make an input wait for a timer.
    h.router.set_health_path("/h", std::make_shared<gateway::HealthApp>(false));
    h.router.mount("/echo", std::make_shared<test::CountedEchoApp>(ledger));
    h.router.mount("/big", std::make_shared<test::CountedBigApp>(ledger, 3, 40000));
    h.router.mount("/stream", std::make_shared<test::StreamApp>());
    h.router.mount("/sink", std::make_shared<test::SinkApp>());
    h.router.mount("/ws", std::make_shared<test::CountedWebSocketEchoApp>(ledger));
    // Smaller than the defaults, so that inputs of a few kilobytes reach the 413/414/431 paths.
    h.limits.request_line = 512;
    h.limits.header_field_size = 512;
    h.limits.header_block_size = 2048;
    h.limits.header_fields = 20;
    h.limits.max_body_size = 65536;
    h.limits.ws_max_message_size = 4096;
  }

  // One client connection on the in-memory stream: `bytes`, in reads of `piece` bytes (0:
  // whole), then the end of its input. Runs until the connection is over, then checks.
  void serve(std::string_view bytes, std::size_t piece) {
    auto peer = h.open();
    if (piece != 0) peer->set_max_read(piece);
    peer->send(bytes);
    peer->end_input();
    finish();
  }

  // Runs until every connection has ended (a client that sent everything and closed its side
  // is owed no more than a moment's work), then cuts whatever is left, and checks.
  // `each_round` runs between rounds of the event loop (a client that reads what it is sent).
  void finish(const std::function<void()>& each_round = {}) {
    if (!h.run_until([this] { return h.live() == 0; }, 2s, each_round)) {
      h.terminate_all();
      h.run_until([this] { return h.live() == 0; }, 2s, each_round);
    }
    check();
  }

  void check() {
    if (!h.failures().empty()) {
      try {
        std::rethrow_exception(h.failures().front());
      } catch (const std::exception& e) {
        std::fprintf(stderr, "an exception escaped a connection: %s\n", e.what());
      } catch (...) {
        std::fprintf(stderr, "an exception escaped a connection\n");
      }
      std::abort();
    }
    if (h.live() != 0) {
      std::fprintf(stderr, "%zu connection(s) still running after being terminated\n", h.live());
      std::abort();
    }
    if (auto problems = ledger.problems(); !problems.empty()) {
      std::fprintf(stderr, "the apps' handlers: %s\n", problems.c_str());
      std::abort();
    }
  }

  // Declared first: destroyed last (the harness's handlers hold the apps, which hold it).
  test::Ledger ledger;
  test::ServeHarness h;
};

}  // namespace junction::fuzz
