// Body pieces of kGatherMin or more join the output queue as the app handed them over and leave
// in one gathered write with the bytes around them: the framing, the order, the declared length,
// HEAD, and the high-water mark must come out as when every piece was copied.
#include <catch2/catch.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "support/connection_harness.hpp"
#include "support/test_apps.hpp"

namespace junction::http1 {
namespace {

using namespace junction::gateway;

using test::ConnectionHarness;
using test::describe;
using test::kGet;

constexpr std::size_t kGatherMin = ConnectionHarness::Connection::kGatherMin;
constexpr std::size_t kHighWater = ConnectionHarness::Connection::kOutputHighWater;

// Writes its pieces one after another, each when the last one's handler ran, then finishes
// with a trailer. Remembers what each write's handler heard.
class PiecesApp final : public App {
 public:
  PiecesApp(std::vector<std::string> pieces, Headers headers = {})
      : pieces_(std::move(pieces)), headers_(std::move(headers)) {}

  void handle(std::shared_ptr<Exchange> exchange) override {
    exchange->start({200, headers_});
    write(std::move(exchange), 0);
  }

  std::vector<error_code> results;

 private:
  void write(std::shared_ptr<Exchange> exchange, std::size_t i) {
    if (i == pieces_.size()) {
      exchange->async_finish({{"X-Trailer", "t"}}, nullptr);
      return;
    }
    auto& e = *exchange;
    e.async_write(pieces_[i], false,
                  [this, exchange = std::move(exchange), i](error_code ec) mutable {
                    results.push_back(ec);
                    if (!ec) write(std::move(exchange), i + 1);
                  });
  }

  std::vector<std::string> pieces_;
  Headers headers_;
};

// Large and small pieces, alternating, one exactly at the threshold; each piece's bytes differ
// from its neighbours', so a piece out of place shows.
std::vector<std::string> mixed_pieces() {
  return {std::string(kGatherMin + 4000, 'a'),
          "b-small",
          std::string(64 * 1024, 'c'),
          std::string(kGatherMin, 'd'),
          "e",
          std::string(kGatherMin - 1, 'f'),
          std::string(40000, 'g')};
}

std::string joined(const std::vector<std::string>& pieces) {
  std::string all;
  for (const auto& piece : pieces) all += piece;
  return all;
}

TEST_CASE("gathered writes: large pieces keep their place and their chunk framing",
          "[http1_connection][gather]") {
  auto pieces = mixed_pieces();
  ConnectionHarness h;
  h.router.mount("/pieces", std::make_shared<PiecesApp>(pieces));
  h.start();
  h.peer->send("GET /pieces HTTP/1.1\r\nHost: a\r\n\r\n" + kGet);
  REQUIRE(h.run_until_responses(2));
  auto parsed = h.responses();
  INFO(parsed.error);
  REQUIRE(parsed.responses.size() == 2);
  CHECK(parsed.responses[0].chunked);
  CHECK(parsed.responses[0].body == joined(pieces));
  REQUIRE(parsed.responses[0].trailers.size() == 1);
  CHECK(parsed.responses[0].trailers[0].first == "X-Trailer");
  // The connection goes on: the next response follows the last chunk.
  CHECK(parsed.responses[1].status == 200);
  CHECK_FALSE(h.finished());
}

TEST_CASE("gathered writes: a declared length frames them, and cuts the piece that passes it",
          "[http1_connection][gather]") {
  std::vector<std::string> pieces = {std::string(30000, 'a'), std::string(30000, 'b')};
  auto app = std::make_shared<PiecesApp>(pieces, Headers{{"Content-Length", "50000"}});
  ConnectionHarness h;
  h.router.mount("/pieces", app);
  h.start();
  h.peer->send("GET /pieces HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(h.run_until_responses(1));
  auto parsed = h.responses();
  INFO(parsed.error);
  REQUIRE(parsed.responses.size() == 1);
  CHECK_FALSE(parsed.responses[0].chunked);
  CHECK(parsed.responses[0].body == std::string(30000, 'a') + std::string(20000, 'b'));
  // The bytes past the declared length are the app's error, and nothing of them is sent.
  REQUIRE(app->results.size() == 2);
  CHECK_FALSE(app->results[0]);
  CHECK(app->results[1] == errc::length_mismatch);
  CHECK(h.peer->output().ends_with(std::string(20000, 'b')));
}

TEST_CASE("gathered writes: HTTP/1.0 reads them until the close, HEAD gets none of them",
          "[http1_connection][gather]") {
  auto pieces = mixed_pieces();
  SECTION("HTTP/1.0") {
    ConnectionHarness h;
    h.router.mount("/pieces", std::make_shared<PiecesApp>(pieces));
    h.start();
    h.peer->send("GET /pieces HTTP/1.0\r\n\r\n");
    REQUIRE(h.run_to_close());
    auto parsed = h.responses();
    REQUIRE(parsed.responses.size() == 1);
    CHECK(parsed.responses[0].until_close);
    CHECK(parsed.responses[0].body == joined(pieces));
  }
  SECTION("HEAD") {
    ConnectionHarness h;
    h.router.mount("/pieces", std::make_shared<PiecesApp>(pieces));
    h.head_responses = {0};
    h.start();
    h.peer->send("HEAD /pieces HTTP/1.1\r\nHost: a\r\n\r\n" + kGet);
    REQUIRE(h.run_until_responses(2));
    auto parsed = h.responses();
    INFO(describe(parsed));
    REQUIRE(parsed.responses.size() == 2);
    CHECK(parsed.responses[0].body.empty());
    CHECK(parsed.responses[1].body == "ok");
    CHECK(h.peer->output().size() < 1024);  // two heads and the health app's short body
  }
}

TEST_CASE("gathered writes: past the high-water mark the app waits; released, all arrives",
          "[http1_connection][gather]") {
  std::vector<std::string> pieces;
  for (char c = 'a'; c < 'a' + 8; ++c) pieces.emplace_back(32 * 1024, c);
  auto app = std::make_shared<PiecesApp>(pieces);
  ConnectionHarness h;
  h.router.mount("/pieces", app);
  h.start();
  h.peer->hold_writes();  // a client that takes nothing yet
  h.peer->send("GET /pieces HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(h.run_until([&] { return h.peer->write_pending() && !app->results.empty(); }));
  h.run_until([] { return false; }, std::chrono::milliseconds(50));
  // Past the high-water mark the app's write waits for the client.
  CHECK(app->results.size() * 32 * 1024 <= kHighWater);
  h.peer->release_writes();
  REQUIRE(h.run_until_responses(1));
  auto parsed = h.responses();
  INFO(parsed.error);
  REQUIRE(parsed.responses.size() == 1);
  CHECK(parsed.responses[0].body == joined(pieces));
  CHECK(app->results.size() == pieces.size());
}

TEST_CASE("gathered writes: a client that resets fails the app's next write",
          "[http1_connection][gather]") {
  std::vector<std::string> pieces(6, std::string(48 * 1024, 'x'));
  auto app = std::make_shared<PiecesApp>(pieces);
  ConnectionHarness h;
  h.router.mount("/pieces", app);
  h.start();
  h.peer->fail_write(1);  // the head and first piece go, then the socket breaks
  h.peer->send("GET /pieces HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(h.run_to_close());
  REQUIRE_FALSE(app->results.empty());
  CHECK(app->results.back() == errc::client_gone);
  CHECK(app->results.size() < pieces.size());
}

// Writes pieces borrowed from its own strings (BodyPiece with an owner, as a bridge hands over a
// Python bytes object), one after another; counts the owners let go of.
class BorrowingApp final : public App {
 public:
  explicit BorrowingApp(std::vector<std::string> pieces) : sources(std::move(pieces)) {}

  void handle(std::shared_ptr<Exchange> exchange) override {
    exchange->start({200, {}});
    write(std::move(exchange), 0);
  }

  std::vector<std::string> sources;
  std::vector<error_code> results;
  int released = 0;

 private:
  void write(std::shared_ptr<Exchange> exchange, std::size_t i) {
    if (i == sources.size()) {
      exchange->async_finish({}, nullptr);
      return;
    }
    BodyPiece::Owner owner(this, [](BorrowingApp* app) { ++app->released; });
    auto& e = *exchange;
    e.async_write(BodyPiece(sources[i], std::move(owner)), false,
                  [this, exchange = std::move(exchange), i](error_code ec) mutable {
                    results.push_back(ec);
                    if (!ec) write(std::move(exchange), i + 1);
                  });
  }
};

TEST_CASE("gathered writes: a borrowed piece is sent from its owner's bytes, kept until sent",
          "[http1_connection][gather]") {
  auto app = std::make_shared<BorrowingApp>(
      std::vector<std::string>{std::string(kGatherMin, 'a'), std::string(kGatherMin, 'b')});
  ConnectionHarness h;
  h.router.mount("/pieces", app);
  h.start();
  h.peer->hold_writes();  // a client that takes nothing yet
  h.peer->send("GET /pieces HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(h.run_until([&] { return h.peer->write_pending() && app->results.size() == 2; }));
  // Both writes were accepted (under the high-water mark), none has left: the connection
  // still holds both owners.
  CHECK(app->released == 0);
  // The second piece waits in the queue as the app handed it over, not as a copy: what the
  // owner's bytes say when they leave is what the client gets.
  app->sources[1].assign(kGatherMin, 'Z');
  h.peer->release_writes();
  REQUIRE(h.run_until_responses(1));
  auto parsed = h.responses();
  INFO(parsed.error);
  REQUIRE(parsed.responses.size() == 1);
  CHECK(parsed.responses[0].body == std::string(kGatherMin, 'a') + std::string(kGatherMin, 'Z'));
  CHECK(app->released == 2);
}

}  // namespace
}  // namespace junction::http1
