// HTTP/2 flood and resource defences: each attack ends in GOAWAY ENHANCE_YOUR_CALM (or a
// refused stream), never in unbounded work or memory.
#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <string>

#include "gateway/errors.hpp"
#include "http1/http1.hpp"
#include "http2/session.hpp"
#include "support/h2_harness.hpp"
#include "support/hang_guard.hpp"
#include "support/test_apps.hpp"

namespace junction::test {
namespace {

using http2::Session;

// The client preface and an empty SETTINGS frame: a raw client's opening.
std::string raw_opening() {
  return std::string(http1::kHttp2Preface) + h2_frame(NGHTTP2_SETTINGS, 0, 0, {});
}

// Sends `bytes` as a raw client and runs until the connection closes.
bool run_raw(H2Harness& h, const std::string& bytes) {
  h.start();
  h.peer->send(bytes);
  return h.run_until([&] { return h.finished(); });
}

TEST_CASE("http2 defence: rapid reset (CVE-2023-44487) ends in ENHANCE_YOUR_CALM") {
  guarded([] {
    H2Harness h;
    auto app = std::make_shared<HoldApp>();
    h.router.mount("/", app);
    h.start();
    H2Client client;
    h.run_until(client, [&] { return h.peer->output().size() > 0; });
    for (std::uint32_t round = 0; round * 50 <= Session::kMaxResetsPerSecond + 50; ++round) {
      std::vector<std::int32_t> ids;
      for (int i = 0; i < 50; ++i) ids.push_back(client.submit("GET", "/"));
      h.peer->send(client.output());
      for (auto id : ids) client.reset(id);
      h.peer->send(client.output());
    }
    bool closed = h.run_until(client, [&] { return h.finished(); });
    return expect(closed, "closed") && expect(!client.goaways.empty(), "GOAWAY") &&
           expect(client.goaways.back().error_code == NGHTTP2_ENHANCE_YOUR_CALM, "calm");
  });
}

TEST_CASE("http2 defence: a CONTINUATION flood (CVE-2024-28182) closes the connection") {
  guarded([] {
    H2Harness h;
    auto app = std::make_shared<HoldApp>();
    h.router.mount("/", app);
    std::string field("\x00\x01x\x01y", 5);  // "x: y", literal without indexing
    auto bytes = raw_opening() + h2_frame(NGHTTP2_HEADERS, 0, 1, h2_request_block(false));
    for (std::size_t i = 0; i < Session::kMaxContinuations + 20; ++i)
      bytes += h2_frame(NGHTTP2_CONTINUATION, 0, 1, field);
    bool closed = run_raw(h, bytes);
    return expect(closed, "closed") &&
           expect(h2_goaway_code(h.peer->output()).has_value(), "GOAWAY") &&
           expect(app->exchanges.empty(), "no request");
  });
}

TEST_CASE("http2 defence: a SETTINGS flood ends in ENHANCE_YOUR_CALM") {
  guarded([] {
    H2Harness h;
    auto bytes = raw_opening();
    for (std::uint32_t i = 0; i <= Session::kMaxControlFramesPerSecond + 10; ++i)
      bytes += h2_frame(NGHTTP2_SETTINGS, 0, 0, {});
    bool closed = run_raw(h, bytes);
    return expect(closed, "closed") &&
           expect(h2_goaway_code(h.peer->output()) == NGHTTP2_ENHANCE_YOUR_CALM, "calm");
  });
}

TEST_CASE("http2 defence: a PING flood ends in ENHANCE_YOUR_CALM") {
  guarded([] {
    H2Harness h;
    auto bytes = raw_opening();
    for (std::uint32_t i = 0; i <= Session::kMaxControlFramesPerSecond + 10; ++i)
      bytes += h2_frame(NGHTTP2_PING, 0, 0, std::string(8, char(i)));
    bool closed = run_raw(h, bytes);
    return expect(closed, "closed") &&
           expect(h2_goaway_code(h.peer->output()) == NGHTTP2_ENHANCE_YOUR_CALM, "calm");
  });
}

TEST_CASE("http2 defence: a SETTINGS frame with too many entries closes the connection") {
  guarded([] {
    H2Harness h;
    std::string entries;
    for (std::size_t i = 0; i <= Session::kMaxSettingsEntries; ++i)
      entries += std::string("\x00\x03\x00\x00\x00\x64", 6);  // MAX_CONCURRENT_STREAMS 100
    bool closed =
        run_raw(h, std::string(http1::kHttp2Preface) + h2_frame(NGHTTP2_SETTINGS, 0, 0, entries));
    return expect(closed, "closed") &&
           expect(h2_goaway_code(h.peer->output()).has_value(), "GOAWAY");
  });
}

TEST_CASE("http2 defence: an empty DATA flood ends in ENHANCE_YOUR_CALM") {
  guarded([] {
    H2Harness h;
    auto app = std::make_shared<HoldApp>();
    h.router.mount("/", app);
    auto bytes = raw_opening() +
                 h2_frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 1, h2_request_block(true));
    for (std::uint32_t i = 0; i <= Session::kMaxEmptyDataPerSecond + 10; ++i)
      bytes += h2_frame(NGHTTP2_DATA, 0, 1, {});
    bool closed = run_raw(h, bytes);
    return expect(closed, "closed") &&
           expect(h2_goaway_code(h.peer->output()) == NGHTTP2_ENHANCE_YOUR_CALM, "calm");
  });
}

TEST_CASE("http2 defence: an HPACK bomb past the header list size gets 431") {
  guarded([] {
    H2Harness h;
    auto app = std::make_shared<HoldApp>();
    h.router.mount("/", app);
    h.start();
    H2Client client;
    // One 3000-byte field enters the client's HPACK table (nghttp2 indexes fields up to 3/4 of
    // the table); each repeat costs a byte on the wire and 3 KB decoded.
    gateway::Headers bomb;
    for (int i = 0; i < 100; ++i) bomb.emplace_back("x-bomb", std::string(3000, 'a'));
    auto id = client.submit("GET", "/", bomb);
    h.run_until(client, [&] { return client.responses[id].closed; });
    auto also = client.submit("GET", "/h");
    h.run_until(client, [&] { return client.responses[also].closed; });
    return expect(client.responses[id].status == 431, "431") &&
           expect(app->exchanges.empty(), "the app never saw it") &&
           expect(client.responses[also].status == 200, "the connection lives on");
  });
}

TEST_CASE("http2 defence: a stream whose client opens no window is reset after --timeout-send") {
  guarded([] {
    H2Harness h;
    h.timeouts.send = gateway::seconds_d(0.1);
    auto app = std::make_shared<HoldApp>();
    h.router.mount("/", app);
    // The client's stream window is 0: no response byte may leave until it says so.
    auto bytes = raw_opening().substr(0, http1::kHttp2Preface.size()) +
                 h2_frame(NGHTTP2_SETTINGS, 0, 0, std::string("\x00\x04\x00\x00\x00\x00", 6)) +
                 h2_frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, 1,
                          h2_request_block(false));
    h.start();
    h.peer->send(bytes);
    if (!h.run_until([&] { return app->exchanges.size() == 1; })) return false;
    std::vector<error_code> results;
    auto& exchange = *app->exchanges[0];
    exchange.start({200, {}});
    // More than the per-stream high-water mark: the second write's handler must wait.
    exchange.async_write(std::string(Session::kStreamHighWater, 'a'), false,
                         [&](error_code ec) { results.push_back(ec); });
    exchange.async_write(std::string(Session::kStreamHighWater, 'b'), false,
                         [&](error_code ec) { results.push_back(ec); });
    h.run_until([&] { return results.size() == 2; });
    bool reset = false;
    for (const auto& frame : h2_parse_frames(h.peer->output()))
      reset = reset || (frame.type == NGHTTP2_RST_STREAM && frame.stream == 1);
    return expect(results.size() == 2 && !results[0], "first write within the bound") &&
           expect(results.size() == 2 && results[1] == gateway::errc::client_gone,
                  "the waiting write fails") &&
           expect(reset, "RST_STREAM") && expect(!h.finished(), "the connection lives on");
  });
}

}  // namespace
}  // namespace junction::test
