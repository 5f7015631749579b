// HTTP/2 by Upgrade: h2c from HTTP/1.1 (RFC 7540 §3.2), on a connection started as the server
// starts it: HTTP/1.1 hands the stream back, HTTP/2 answers 101 and the request on stream 1;
// requests it must not upgrade are served as HTTP/1.1.
#include <boost/asio/co_spawn.hpp>
#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <string>

#include "gateway/text.hpp"
#include "support/h2_harness.hpp"
#include "support/hang_guard.hpp"
#include "support/serve_harness.hpp"
#include "support/wire.hpp"

namespace junction::test {
namespace {

constexpr std::string_view kSwitching =
    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";

// Answers with what the app saw: method, path, version, Host, and whether the h2c fields
// reached it.
class ProtocolApp final : public gateway::App {
 public:
  void handle(std::shared_ptr<gateway::Exchange> exchange) override {
    const auto& head = exchange->request();
    std::string host, upgrade_fields;
    for (const auto& [name, value] : head.headers) {
      if (gateway::iequals(name, "host")) host = value;
      if (gateway::iequals(name, "upgrade") || gateway::iequals(name, "http2-settings"))
        upgrade_fields += name + ";";
    }
    auto body = head.method + " " + head.target + " HTTP/" + std::to_string(head.version.major) +
                "." + std::to_string(head.version.minor) + " host=" + host +
                " upgrade=" + upgrade_fields;
    exchange->start({200, {{"Content-Type", "text/plain"}}});
    exchange->async_write(std::move(body), true, [exchange](gateway::error_code) {});
  }
};

// One connection started as the server starts it, whose client may upgrade to h2c.
class UpgradeHarness {
 public:
  UpgradeHarness() { serve.router.mount("/app", std::make_shared<ProtocolApp>()); }

  void start() { peer = serve.open(); }

  // Moves client output in and server output (past the 101) to the client.
  void pump(H2Client* client) {
    if (!client) return;
    auto out = client->output();
    if (!out.empty()) peer->send(out);
    const auto& output = peer->output();
    if (output.size() > taken_) {
      client->receive(std::string_view(output).substr(taken_));
      taken_ = output.size();
    }
  }

  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s,
                 H2Client* client = nullptr) {
    return serve.run_until(done, limit, [&] { pump(client); });
  }

  // Runs until the 101 is out; the HTTP/2 client reads what follows it.
  bool run_to_switch() {
    bool ok = run_until([&] { return peer->output().size() >= kSwitching.size(); });
    if (!ok || !peer->output().starts_with(kSwitching)) {
      std::fprintf(stderr, "output: %s\n", peer->output().c_str());
      return false;
    }
    taken_ = kSwitching.size();
    return true;
  }

  // The client reads the server's output from `at` on.
  void skip_to(std::size_t at) noexcept { taken_ = at; }

  bool upgraded() const { return peer->output().starts_with("HTTP/1.1 101"); }

  ServeHarness serve;
  std::shared_ptr<MemoryPeer> peer;

 private:
  std::size_t taken_ = 0;
};

std::string upgrade_request(std::string_view method, std::string_view settings_field,
                            std::string_view extra = {}, std::string_view body = {}) {
  std::string out(method);
  out += " /app/x?y=1 HTTP/1.1\r\nHost: example.test:8080\r\n";
  out += "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n";
  out += "HTTP2-Settings: ";
  out += settings_field;
  out += "\r\n";
  out += extra;
  out += "\r\n";
  out += body;
  return out;
}

// Serves as HTTP/1.1: the one response is a 200 from ProtocolApp, seen as HTTP/1.1.
bool served_as_http1(UpgradeHarness& h, std::string_view expected_body_start) {
  bool ok =
      expect(h.run_until([&] { return parse_responses(h.peer->output()).responses.size() >= 1; }),
             "answered");
  auto parsed = parse_responses(h.peer->output());
  ok = ok && expect(!h.upgraded(), "not upgraded") &&
       expect(!h.peer->output().starts_with("HTTP/1.1 101"), "no 101") &&
       expect(parsed.responses.size() == 1 && parsed.responses[0].status == 200, "200") &&
       expect(parsed.responses[0].body.starts_with(expected_body_start), "HTTP/1.1 to the app");
  if (!ok) std::fprintf(stderr, "output: %s\n", h.peer->output().c_str());
  return ok;
}

TEST_CASE("h2c upgrade: 101, the request answered on stream 1, then stream 3") {
  guarded([] {
    UpgradeHarness h;
    h.start();
    H2Client client;
    auto settings = client.upgrade_settings(
        {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}, {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}});
    h.peer->send(upgrade_request("GET", base64url(settings)));
    bool ok = expect(h.run_to_switch(), "101 Switching Protocols");
    ok = ok && expect(client.upgrade(settings), "client upgraded");
    ok = ok && expect(h.run_until([&] { return client.responses[1].closed; }, 5s, &client),
                      "stream 1 answered");
    auto& first = client.responses[1];
    ok = ok && expect(first.status == 200, "200 on stream 1") &&
         expect(first.body == "GET /app/x?y=1 HTTP/2.0 host=example.test:8080 upgrade=",
                "the app saw HTTP/2, the Host and no h2c fields") &&
         expect(first.error_code == 0, "no reset");
    if (!ok) std::fprintf(stderr, "body: %s\n", first.body.c_str());
    auto id = client.submit("GET", "/h");
    ok = ok && expect(id == 3, "next stream is 3") &&
         expect(h.run_until([&] { return client.responses[3].closed; }, 5s, &client),
                "stream 3 answered") &&
         expect(client.responses[3].status == 200 && client.responses[3].body == "ok", "ok");
    ok = ok && expect(h.serve.live() == 1, "one connection, now HTTP/2");
    return ok;
  });
}

TEST_CASE("h2c upgrade: the preface and frames sent with the request are not lost") {
  guarded([] {
    UpgradeHarness h;
    h.start();
    H2Client client;
    auto settings = client.upgrade_settings({});
    bool ok = expect(client.upgrade(settings), "client upgraded");
    // RFC 7540 §3.2: the client may send its preface before it sees the 101.
    h.peer->send(upgrade_request("GET", base64url(settings)) + client.output());
    ok = ok && expect(h.run_to_switch(), "101");
    ok = ok &&
         expect(h.run_until([&] { return client.responses[1].closed; }, 5s, &client),
                "stream 1 answered") &&
         expect(client.responses[1].status == 200, "200");
    return ok;
  });
}

TEST_CASE("h2c upgrade: a request with a body is served as HTTP/1.1") {
  guarded([] {
    UpgradeHarness h;
    h.start();
    H2Client client;
    auto settings = client.upgrade_settings({});
    h.peer->send(upgrade_request("POST", base64url(settings), "Content-Length: 5\r\n", "hello"));
    return served_as_http1(h, "POST /app/x?y=1 HTTP/1.1 host=example.test:8080 upgrade=Upgrade;");
  });
}

TEST_CASE("h2c upgrade: HTTP2-Settings that are not base64url are ignored") {
  guarded([] {
    UpgradeHarness h;
    h.start();
    h.peer->send(upgrade_request("GET", "AAMAAABk!!"));
    return served_as_http1(h, "GET /app/x?y=1 HTTP/1.1");
  });
}

TEST_CASE("h2c upgrade: settings nghttp2 refuses are ignored") {
  guarded([] {
    UpgradeHarness h;
    h.start();
    // SETTINGS_ENABLE_PUSH = 2 (RFC 9113 §6.5.2 allows 0 and 1 only).
    std::string bad{'\x00', '\x02', '\x00', '\x00', '\x00', '\x02'};
    h.peer->send(upgrade_request("GET", base64url(bad)));
    bool ok = served_as_http1(h, "GET /app/x?y=1 HTTP/1.1");
    // A length that is not a multiple of 6 (§6.5): malformed.
    UpgradeHarness h2;
    h2.start();
    h2.peer->send(upgrade_request("GET", base64url(std::string("\x00\x03\x00", 3))));
    return served_as_http1(h2, "GET /app/x?y=1 HTTP/1.1") && ok;
  });
}

TEST_CASE("h2c upgrade: --http 1 ignores Upgrade: h2c") {
  guarded([] {
    UpgradeHarness h;
    h.serve.mode = gateway::HttpMode::http1;
    h.start();
    H2Client client;
    h.peer->send(upgrade_request("GET", base64url(client.upgrade_settings({}))));
    return served_as_http1(h, "GET /app/x?y=1 HTTP/1.1");
  });
}

TEST_CASE("h2c upgrade: without http2-settings in Connection it is plain HTTP/1.1") {
  guarded([] {
    UpgradeHarness h;
    h.start();
    H2Client client;
    auto request = upgrade_request("GET", base64url(client.upgrade_settings({})));
    request.replace(request.find("Upgrade, HTTP2-Settings"), 23, "Upgrade");
    h.peer->send(request);
    return served_as_http1(h, "GET /app/x?y=1 HTTP/1.1");
  });
}

TEST_CASE("h2c upgrade: after a keep-alive HTTP/1.1 request on the same connection") {
  guarded([] {
    UpgradeHarness h;
    h.start();
    H2Client client;
    auto settings = client.upgrade_settings({});
    auto plain = std::string("GET /h HTTP/1.1\r\nHost: x\r\n\r\n");
    h.peer->send(plain + upgrade_request("GET", base64url(settings)));
    bool ok =
        expect(h.run_until([&] { return h.peer->output().find(kSwitching) != std::string::npos; }),
               "101 after the first response");
    auto at = h.peer->output().find(kSwitching);
    ok = ok && expect(parse_responses(h.peer->output().substr(0, at)).responses.size() == 1,
                      "the HTTP/1.1 response first");
    if (!ok) return false;
    h.skip_to(at + kSwitching.size());
    ok = expect(client.upgrade(settings), "client upgraded") &&
         expect(h.run_until([&] { return client.responses[1].closed; }, 5s, &client), "stream 1") &&
         expect(client.responses[1].status == 200, "200");
    return ok;
  });
}

}  // namespace
}  // namespace junction::test
