// The HTTP/1.1 connection's failure matrix: each scripted exchange runs once to count its
// stream operations, then once with each read failed, each write failed and each write held
// for good, and every run must end cleanly: the coroutine returns in bounded time with nothing
// escaped, the stream closed, every app handler run once and no exchange left alive (and, in
// the ASan build, nothing leaked).
#include "support/failure_matrix.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "support/connection_harness.hpp"
#include "support/hang_guard.hpp"
#include "support/test_apps.hpp"

namespace junction::test {
namespace {

// A run must be over this long after it started, its client done or not: every timeout but
// --timeout-send is left at its default (seconds), and a clean run takes milliseconds.
constexpr auto kRunLimit = std::chrono::milliseconds(500);
// A held write ends the connection through --timeout-send.
constexpr gateway::seconds_d kSendTimeout{0.02};

// The client of one run: it sends and waits for what it expects, until the run's deadline at
// most, and never once the connection is over or broken. A failed read or write stands for a
// reset connection, which the client sees too: it stops waiting (the server, which may still
// read, would otherwise wait for its next request until the keep-alive timeout).
class Client {
 public:
  explicit Client(ConnectionHarness& h)
      : h_(h), deadline_(std::chrono::steady_clock::now() + kRunLimit) {}

  void send(std::string_view bytes) { h_.peer->send(bytes); }
  void read_at_most(std::size_t n) { h_.peer->set_max_read(n); }
  void send_in_pieces(std::string_view bytes, std::size_t piece) {
    h_.peer->send_in_pieces(bytes, piece);
  }
  void wait_for(const std::function<bool()>& done) {
    h_.run_until([&] { return h_.finished() || broken() || done(); }, left());
  }
  void wait_for_responses(std::size_t n) {
    wait_for([&] { return h_.complete_responses() >= n; });
  }
  bool saw(std::string_view text) const { return h_.peer->output().find(text) != text.npos; }
  // The client closes its side; true when the connection is over by the deadline.
  bool close() {
    h_.peer->end_input();
    return h_.run_to_close(left());
  }

 private:
  bool broken() const { return h_.peer->failed_reads() + h_.peer->failed_writes() > 0; }
  std::chrono::milliseconds left() const {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline_) return std::chrono::milliseconds(0);
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now);
  }
  ConnectionHarness& h_;
  std::chrono::steady_clock::time_point deadline_;
};

// The client's side of one exchange.
struct Script {
  const char* name;
  std::function<void(Client&)> play;
  std::size_t responses;  // final responses of the clean run, each 200
};

const std::string kGet = "GET /e HTTP/1.1\r\nHost: a\r\n\r\n";

std::vector<Script> scripts() {
  return {
      {"a simple GET",
       [](Client& c) {
         c.send(kGet);
         c.wait_for_responses(1);
       },
       1},
      {"a keep-alive pair",
       [](Client& c) {
         c.send(kGet);
         c.wait_for_responses(1);
         c.send(kGet);
         c.wait_for_responses(2);
       },
       2},
      {"a pipelined pair",
       [](Client& c) {
         c.send(kGet + kGet);
         c.wait_for_responses(2);
       },
       2},
      {"a POST with Content-Length, echoed",
       [](Client& c) {
         c.send("POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n");
         c.send("hello");
         c.send(" world");
         c.wait_for_responses(1);
       },
       1},
      {"a POST read 4 bytes at a time",
       [](Client& c) {
         c.read_at_most(4);
         c.send("POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world");
         c.wait_for_responses(1);
       },
       1},
      {"a chunked POST, echoed",
       [](Client& c) {
         c.send("POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
         c.send("5\r\nhello\r\n");
         c.send("6\r\n world\r\n");
         c.send("0\r\n\r\n");
         c.wait_for_responses(1);
       },
       1},
      {"Expect: 100-continue",
       [](Client& c) {
         c.send("POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
         c.wait_for([&] { return c.saw("100 Continue"); });
         c.send("hello");
         c.wait_for_responses(1);
       },
       1},
      {"a response past the output high-water mark",
       [](Client& c) {
         c.send("GET /big HTTP/1.1\r\nHost: a\r\n\r\n");
         c.wait_for_responses(1);
       },
       1},
      {"a 200 KB echo through the health app",
       [](Client& c) {
         const std::size_t size = 200 * 1024;
         c.send("POST /h?echo HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(size) +
                "\r\n\r\n");
         c.send_in_pieces(std::string(size, 'e'), 50 * 1024);
         c.wait_for_responses(1);
       },
       1},
  };
}

// Plays `script` with `fault` at operation `n`, then the client closes its side.
FaultRun run(const Script& script, Fault fault, int n) {
  FaultRun out;
  Ledger ledger;
  {
    ConnectionHarness h;
    h.router.mount("/e", std::make_shared<CountedEchoApp>(ledger));
    // Four pieces of 48 KiB: the second one waits for the socket (64 KiB high-water mark).
    h.router.mount("/big", std::make_shared<CountedBigApp>(ledger, 4, 48 * 1024));
    if (fault == Fault::hold) h.timeouts.send = kSendTimeout;
    inject(*h.peer, fault, n);
    h.start();
    Client client(h);
    script.play(client);
    if (!client.close()) out.problems += "the connection did not end in time; ";
    if (h.failure()) out.problems += "an exception escaped the connection; ";
    if (!h.peer->closed()) out.problems += "the stream was not closed; ";
    if (h.peer->read_pending() || h.peer->write_pending())
      out.problems += "an operation is still pending; ";
    out.problems += ledger.problems();
    if (fault == Fault::none) {
      auto parsed = h.responses();
      bool ok = parsed.error.empty() && h.complete_responses() == script.responses;
      for (const auto& response : parsed.responses) ok = ok && response.status < 300;
      if (!ok) out.problems += "unexpected responses:\n" + describe(parsed);
    }
    out.reads = h.peer->reads();
    out.writes = h.peer->writes();
    out.struck = struck(*h.peer, fault, n);
  }
  // Once the harness is gone, nothing may hold an exchange.
  if (ledger.live() > 0) out.problems += "an exchange outlived the harness; ";
  return out;
}

// One child process per script and fault: a run that never returns fails that test only.
void check_matrix(Fault fault) {
  for (const auto& script : scripts()) {
    std::string said;
    auto outcome = run_guarded(
        [&](const Say& say) {
          bool ok = run_fault_matrix(
              script.name, [&](Fault f, int n) { return run(script, f, n); }, fault, say);
          return no_leaks() && ok;
        },
        std::chrono::seconds(30), said);
    INFO(said);
    CHECK(to_string(outcome) == std::string("passed"));
  }
}

TEST_CASE("Http1Connection failure matrix: each read fails in turn",
          "[http1_connection][failure_matrix]") {
  check_matrix(Fault::read);
}

TEST_CASE("Http1Connection failure matrix: each write fails in turn",
          "[http1_connection][failure_matrix]") {
  check_matrix(Fault::write);
}

TEST_CASE("Http1Connection failure matrix: each write is held until the send timeout",
          "[http1_connection][failure_matrix]") {
  check_matrix(Fault::hold);
}

// A write the client never takes is cut at --timeout-send, whichever read the coroutine is
// timing meanwhile (the next head, the body, the lingering close): not only once that read's
// own deadline (--timeout-keep-alive, --timeout-request-body, the linger time) runs out. One
// held-write point of the matrix of each kind.
TEST_CASE("Http1Connection: a write the client never takes is cut at --timeout-send",
          "[http1_connection][failure_matrix]") {
  Ledger ledger;  // outlives the harness, whose end runs the app's last handlers
  ConnectionHarness h;
  h.router.mount("/e", std::make_shared<CountedEchoApp>(ledger));
  h.timeouts.send = kSendTimeout;
  h.peer->hold_writes();
  h.start();
  SECTION("while the connection waits for the next request (--timeout-keep-alive)") {
    h.peer->send(kGet);
  }
  SECTION("while it waits for the body after 100 Continue (--timeout-request-body)") {
    h.peer->send(
        "POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  }
  SECTION("while it closes after the client closed its side (the linger time)") {
    h.peer->send(kGet);
    h.peer->end_input();
  }
  CHECK(h.run_to_close(kRunLimit));
  CHECK(h.peer->closed());
  CHECK_FALSE(h.failure());
}

// A response whose write fails ends the connection then, not when the client next sends or the
// keep-alive timeout runs out: nobody would take another answer.
TEST_CASE("Http1Connection: a failed last write closes the connection at once",
          "[http1_connection][failure_matrix]") {
  ConnectionHarness h;
  h.timeouts.keep_alive = gateway::seconds_d(30);
  h.peer->fail_write(0);
  h.start();
  h.peer->send(kGet);
  CHECK(h.run_to_close(kRunLimit));
  CHECK(h.peer->closed());
  CHECK_FALSE(h.failure());
}

}  // namespace
}  // namespace junction::test
