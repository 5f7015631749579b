// HTTP/2 connections over an in-memory stream, driven by an nghttp2 client: requests become
// exchanges, bodies flow both ways under flow control, streams end in every way they can.
#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <string>

#include "gateway/errors.hpp"
#include "support/h2_harness.hpp"
#include "support/hang_guard.hpp"
#include "support/test_apps.hpp"

namespace junction::test {
namespace {

using gateway::errc;

std::string pattern(std::size_t size) {
  std::string out(size, '\0');
  std::uint32_t x = 12345;
  for (auto& c : out) {
    x = x * 1103515245u + 12345u;
    c = char(x >> 16);
  }
  return out;
}

std::string header(const gateway::Headers& headers, std::string_view name) {
  for (const auto& [n, v] : headers)
    if (n == name) return v;
  return {};
}

// Writes `total` bytes in 1 MiB pieces, each after the previous one's handler.
class BigApp final : public gateway::App {
 public:
  explicit BigApp(std::size_t total) : body_(pattern(total)) {}
  void handle(std::shared_ptr<Exchange> exchange) override {
    exchange->start({200, {{"Content-Type", "application/octet-stream"}}});
    write(std::move(exchange), 0);
  }
  const std::string& body() const noexcept { return body_; }
  std::vector<error_code> results;

 private:
  void write(std::shared_ptr<Exchange> exchange, std::size_t at) {
    auto n = std::min<std::size_t>(1 << 20, body_.size() - at);
    bool last = at + n == body_.size();
    auto& e = *exchange;
    e.async_write(body_.substr(at, n), last, [this, exchange, at, n, last](error_code ec) mutable {
      results.push_back(ec);
      if (!ec && !last) write(std::move(exchange), at + n);
    });
  }
  std::string body_;
};

TEST_CASE("http2: a GET becomes an exchange with the request head HTTP/1 apps expect") {
  guarded([] {
    H2Harness h;
    auto app = std::make_shared<HoldApp>();
    h.router.mount("/", app);
    h.start();
    H2Client client;
    auto id = client.submit("GET", "/a/b?x=1&y=2", {{"cookie", "a=1"}, {"cookie", "b=2"}});
    if (!expect(h.run_until(client, [&] { return app->exchanges.size() == 1; }), "dispatched"))
      return false;
    const auto& head = app->exchanges[0]->request();
    bool ok = expect(head.method == "GET", "method") && expect(head.path == "/a/b", "path") &&
              expect(head.query == "x=1&y=2", "query") &&
              expect(head.target == "/a/b?x=1&y=2", "target") &&
              expect(head.authority == "example.test", "authority") &&
              expect(head.version == gateway::HttpVersion{2, 0}, "version") &&
              expect(head.scheme == "http", "scheme") && expect(!head.has_body, "no body") &&
              expect(header(head.headers, "host") == "example.test", "host from :authority") &&
              expect(head.headers.size() == 3 && head.headers[0].second == "a=1" &&
                         head.headers[1].second == "b=2",
                     "cookies kept apart, in order");
    app->exchanges[0]->start({200, {{"Content-Type", "text/plain"}, {"Connection", "close"}}});
    app->exchanges[0]->async_write("hello", true, nullptr);
    ok = ok && expect(h.run_until(client, [&] { return client.responses[id].closed; }), "answered");
    auto& r = client.responses[id];
    return ok && expect(r.status == 200, "status") && expect(r.body == "hello", "body") &&
           expect(header(r.headers, "content-type") == "text/plain", "lower-cased names") &&
           expect(header(r.headers, "content-length") == "5", "length of a one-piece body") &&
           expect(header(r.headers, "connection").empty(), "hop-by-hop dropped") &&
           expect(!header(r.headers, "date").empty(), "date") &&
           expect(header(r.headers, "server") == "junction", "server");
  });
}

TEST_CASE("http2: the preface the server read is handed over, not lost") {
  guarded([] {
    H2Harness h;
    H2Client client;
    client.submit("GET", "/h");
    auto first = client.output();
    h.start(std::string_view(first).substr(0, 30));  // the preface and a little more
    h.peer->send(std::string_view(first).substr(30));
    return expect(h.run_until(client, [&] { return client.responses[1].closed; }), "answered") &&
           expect(client.responses[1].status == 200 && client.responses[1].body == "ok", "ok");
  });
}

TEST_CASE("http2: a 5 MiB POST is echoed back intact") {
  guarded([] {
    H2Harness h;
    h.start();
    H2Client client;
    auto body = pattern(5 << 20);
    auto id = client.submit("POST", "/h?echo", {}, body);
    if (!expect(h.run_until(
                    client, [&] { return client.responses[id].closed; }, 15s),
                "done"))
      return false;
    auto& r = client.responses[id];
    return expect(r.status == 200, "status") && expect(r.error_code == 0, "no reset") &&
           expect(std::hash<std::string>{}(r.body) == std::hash<std::string>{}(body), "same bytes");
  });
}

TEST_CASE("http2: a 16 MiB response arrives whole, written under backpressure") {
  guarded([] {
    H2Harness h;
    auto app = std::make_shared<BigApp>(16 << 20);
    h.router.mount("/", app);
    h.start();
    H2Client client;
    auto id = client.submit("GET", "/big");
    if (!expect(h.run_until(
                    client, [&] { return client.responses[id].closed; }, 15s),
                "done"))
      return false;
    auto& r = client.responses[id];
    bool all_ok = true;
    for (auto ec : app->results) all_ok = all_ok && !ec;
    return expect(r.status == 200 && r.error_code == 0, "complete") &&
           expect(r.body == app->body(), "same bytes") && expect(all_ok, "every write accepted");
  });
}

TEST_CASE("http2: 100 concurrent streams are all answered") {
  guarded([] {
    H2Harness h;
    h.start();
    H2Client client;
    std::vector<std::int32_t> ids;
    for (int i = 0; i < 100; ++i) ids.push_back(client.submit("GET", "/h"));
    h.run_until(client, [&] {
      for (auto id : ids)
        if (!client.responses[id].closed) return false;
      return true;
    });
    for (auto id : ids) {
      auto& r = client.responses[id];
      if (!expect(r.status == 200 && r.body == "ok", "each answered")) return false;
    }
    return true;
  });
}

TEST_CASE("http2: a client RST_STREAM tells the app and fails its reads") {
  guarded([] {
    H2Harness h;
    auto app = std::make_shared<HoldApp>();
    h.router.mount("/", app);
    h.options.initial_window_size = 65535;
    h.start();
    H2Client client;
    // More than a window: the body is still coming when the client resets the stream.
    auto id = client.submit("POST", "/upload", {}, std::string(1 << 20, 'x'));
    if (!h.run_until(client, [&] { return app->exchanges.size() == 1; })) return false;
    client.reset(id);
    bool gone = h.run_until(client, [&] { return app->gone[0] == 1; });
    // The bytes that came before the reset are still the app's; then the read fails.
    error_code last;
    std::array<char, 64> buffer{};
    std::function<void()> read_on;
    bool read_done = false;
    read_on = [&] {
      app->exchanges[0]->async_read_body(buffer, [&](error_code ec, std::size_t) {
        if (ec) {
          last = ec;
          read_done = true;
        } else {
          read_on();
        }
      });
    };
    read_on();
    h.run_until([&] { return read_done; });
    error_code write_ec;
    bool written = false;
    app->exchanges[0]->start({200, {}});
    app->exchanges[0]->async_write("late", true, [&](error_code ec) {
      write_ec = ec;
      written = true;
    });
    h.run_until([&] { return written; });
    return expect(gone, "on_client_gone ran once") && expect(last == errc::client_gone, "read") &&
           expect(write_ec == errc::client_gone, "write fails");
  });
}

TEST_CASE("http2: an app that aborts after its head resets the stream") {
  guarded([] {
    H2Harness h;
    h.router.mount("/", std::make_shared<AbortApp>(true));
    h.start();
    H2Client client;
    auto id = client.submit("GET", "/");
    h.run_until(client, [&] { return client.responses[id].closed; });
    auto& r = client.responses[id];
    return expect(r.closed && r.error_code == NGHTTP2_INTERNAL_ERROR, "RST_STREAM INTERNAL_ERROR");
  });
}

TEST_CASE("http2: an app that aborts before its head answers 500") {
  guarded([] {
    H2Harness h;
    h.router.mount("/", std::make_shared<AbortApp>(false));
    h.start();
    H2Client client;
    auto id = client.submit("GET", "/");
    h.run_until(client, [&] { return client.responses[id].closed; });
    return expect(client.responses[id].status == 500, "500");
  });
}

TEST_CASE("http2: trailers follow a streamed body") {
  guarded([] {
    H2Harness h;
    h.router.mount("/", std::make_shared<StreamApp>());
    h.start();
    H2Client client;
    auto id = client.submit("GET", "/");
    h.run_until(client, [&] { return client.responses[id].closed; });
    auto& r = client.responses[id];
    return expect(r.status == 200 && r.error_code == 0, "complete") &&
           expect(r.body == "one two three", "body") &&
           expect(header(r.trailers, "x-trailer") == "t", "trailer, lower-cased");
  });
}

TEST_CASE("http2: an app that does not read holds the client to the stream window") {
  guarded([] {
    H2Harness h;
    h.options.initial_window_size = 256 * 1024;
    auto app = std::make_shared<HoldApp>();
    h.router.mount("/", app);
    h.start();
    H2Client client;
    auto id = client.submit("POST", "/", {}, pattern(5 << 20));
    if (!h.run_until(client, [&] { return app->exchanges.size() == 1; })) return false;
    h.settle(&client);
    auto sent = client.responses[id].data_sent;
    bool held = expect(sent > 0 && sent <= h.options.initial_window_size, "held to the window") &&
                expect(client.responses[id].window_updates == 0, "no WINDOW_UPDATE unread");
    // Once the app reads, the window opens again.
    std::array<char, 65536> buffer{};
    std::size_t read = 0;
    std::function<void()> read_on = [&] {
      app->exchanges[0]->async_read_body(buffer, [&](error_code ec, std::size_t n) {
        read += n;
        if (!ec && read < (1u << 20)) read_on();
      });
    };
    read_on();
    h.run_until(client, [&] { return read >= (1u << 20); });
    return held && expect(client.responses[id].data_sent > sent, "more after reading");
  });
}

TEST_CASE("http2: a body past --max-body-size gets 413") {
  guarded([] {
    H2Harness h;
    h.limits.max_body_size = 1000;
    h.router.mount("/", std::make_shared<SinkApp>());
    h.start();
    H2Client client;
    auto declared =
        client.submit("POST", "/", {{"content-length", "5000"}}, std::string(5000, 'x'));
    auto chunked = client.submit("POST", "/", {}, std::string(5000, 'x'));
    h.run_until(client, [&] {
      return client.responses[declared].closed && client.responses[chunked].closed;
    });
    return expect(client.responses[declared].status == 413, "declared too large") &&
           expect(client.responses[chunked].status == 413, "grew too large");
  });
}

TEST_CASE("http2: shutdown sends GOAWAY, lets the open stream finish, then closes") {
  guarded([] {
    H2Harness h;
    auto app = std::make_shared<HoldApp>();
    h.router.mount("/", app);
    h.start();
    H2Client client;
    auto id = client.submit("GET", "/");
    if (!h.run_until(client, [&] { return app->exchanges.size() == 1; })) return false;
    h.connection->on_shutdown();
    bool final_goaway = h.run_until(client, [&] {
      return !client.goaways.empty() && client.goaways.back().last_stream_id == id;
    });
    bool still_open = !h.finished();
    app->exchanges[0]->start({200, {}});
    app->exchanges[0]->async_write("bye", true, nullptr);
    bool closed = h.run_until(client, [&] { return h.finished(); });
    return expect(client.goaways.size() >= 1 && client.goaways[0].error_code == NGHTTP2_NO_ERROR,
                  "GOAWAY NO_ERROR") &&
           expect(final_goaway, "final GOAWAY names the last stream") &&
           expect(still_open, "open while the stream is in flight") &&
           expect(client.responses[id].body == "bye", "the stream finished") &&
           expect(closed, "closed after");
  });
}

TEST_CASE("http2: an idle connection closes after --timeout-keep-alive with GOAWAY") {
  guarded([] {
    H2Harness h;
    h.timeouts.keep_alive = gateway::seconds_d(0.05);
    h.start();
    H2Client client;
    client.submit("GET", "/h");
    bool closed = h.run_until(client, [&] { return h.finished(); });
    return expect(closed, "closed") && expect(client.responses[1].status == 200, "answered") &&
           expect(!client.goaways.empty(), "GOAWAY");
  });
}

// RFC 9113 §5.1.1: a HEADERS on a stream id the client skipped (lower than one it already
// used) is a connection error, PROTOCOL_ERROR (h2spec 5.1.1/2); nghttp2 alone would ignore it.
TEST_CASE("http2: a HEADERS on a lower, never used stream id ends in GOAWAY PROTOCOL_ERROR") {
  CHECK(to_string(run_guarded(
            [] {
              H2Harness h;
              auto app = std::make_shared<HoldApp>();
              h.router.mount("/", app);
              auto flags = NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM;
              auto bytes = std::string(http1::kHttp2Preface) +
                           h2_frame(NGHTTP2_SETTINGS, 0, 0, {}) +
                           h2_frame(NGHTTP2_HEADERS, flags, 5, h2_request_block(false)) +
                           h2_frame(NGHTTP2_HEADERS, flags, 3, h2_request_block(false));
              h.start();
              h.peer->send(bytes);
              bool closed = h.run_until([&] { return h.finished(); });
              return expect(closed, "closed") &&
                     expect(h2_goaway_code(h.peer->output()) == NGHTTP2_PROTOCOL_ERROR,
                            "PROTOCOL_ERROR");
            },
            20s)) == std::string("passed"));
}

}  // namespace
}  // namespace junction::test
