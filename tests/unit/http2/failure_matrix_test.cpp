// The HTTP/2 connection's failure matrix, as for HTTP/1.1 (http1/failure_matrix_test.cpp):
// each scripted exchange runs once to count its stream operations, then once with each read
// failed, each write failed and each write held for good, and every run must end cleanly: the
// coroutine returns in bounded time with nothing escaped, the stream closed, every app handler
// run once and no exchange left alive (and, in the ASan build, nothing leaked).
#include "support/failure_matrix.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "support/h2_harness.hpp"
#include "support/hang_guard.hpp"
#include "support/test_apps.hpp"

namespace junction::test {
namespace {

// A run must be over this long after it started; a clean run takes milliseconds.
constexpr auto kRunLimit = std::chrono::milliseconds(500);
// A held write ends the connection through --timeout-send.
constexpr gateway::seconds_d kSendTimeout{0.02};

// The client of one run: an nghttp2 client that submits requests and waits for their
// responses, until the run's deadline at most, and never once the connection is over.
class Client {
 public:
  explicit Client(H2Harness& h) : h_(h), deadline_(std::chrono::steady_clock::now() + kRunLimit) {}

  std::int32_t submit(std::string method, std::string path, gateway::Headers extra = {},
                      std::optional<std::string> body = std::nullopt) {
    auto id = client_.submit(std::move(method), std::move(path), std::move(extra), std::move(body));
    ids_.push_back(id);
    return id;
  }
  void read_at_most(std::size_t n) { h_.peer->set_max_read(n); }
  // Until every submitted stream is closed.
  void wait() {
    h_.run_until(
        client_,
        [&] {
          if (h_.finished()) return true;
          for (auto id : ids_)
            if (!client_.responses[id].closed) return false;
          return true;
        },
        left());
  }
  // The client closes its side; true when the connection is over by the deadline.
  bool close() {
    h_.peer->end_input();
    return h_.run_until([&] { return h_.finished(); }, left());
  }

  // What the clean run must have got: every stream answered 200 with `bodies[i]` (in order of
  // submission), nothing reset.
  std::string check(const std::vector<std::string>& bodies) {
    std::string problems;
    for (std::size_t i = 0; i < ids_.size(); ++i) {
      const auto& r = client_.responses[ids_[i]];
      if (!r.closed || r.status != 200 || r.error_code != 0 || r.body.size() != bodies[i].size() ||
          r.body != bodies[i])
        problems += "stream " + std::to_string(ids_[i]) + ": status " + std::to_string(r.status) +
                    ", " + std::to_string(r.body.size()) + " bytes, code " +
                    std::to_string(r.error_code) + "; ";
    }
    return problems;
  }

 private:
  std::chrono::milliseconds left() const {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline_) return std::chrono::milliseconds(0);
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now);
  }
  H2Harness& h_;
  H2Client client_;
  std::vector<std::int32_t> ids_;
  std::chrono::steady_clock::time_point deadline_;
};

// The client's side of one exchange.
struct Script {
  const char* name;
  std::function<void(Client&)> play;
  std::vector<std::string> bodies;  // the clean run's response bodies, in order of submission
};

const std::size_t kBigPieces = 4;
const std::size_t kBigPiece = 48 * 1024;

std::string big_body() {
  std::string out;
  for (std::size_t i = 0; i < kBigPieces; ++i) out.append(kBigPiece, char('a' + i));
  return out;
}

std::vector<Script> scripts() {
  const std::string echo(200 * 1024, 'e');
  return {
      {"a simple GET",
       [](Client& c) {
         c.submit("GET", "/e");
         c.wait();
       },
       {"hello"}},
      {"a GET read 10 bytes at a time",
       [](Client& c) {
         c.read_at_most(10);
         c.submit("GET", "/e");
         c.wait();
       },
       {"hello"}},
      {"two streams at once",
       [](Client& c) {
         c.submit("GET", "/e");
         c.submit("GET", "/e");
         c.wait();
       },
       {"hello", "hello"}},
      {"a POST with content-length, echoed",
       [](Client& c) {
         c.submit("POST", "/e", {{"content-length", "11"}}, "hello world");
         c.wait();
       },
       {"hello world"}},
      {"a response past the stream high-water mark",
       [](Client& c) {
         c.submit("GET", "/big");
         c.wait();
       },
       {big_body()}},
      {"a 200 KB echo through the health app",
       [echo](Client& c) {
         c.submit("POST", "/h?echo", {{"content-length", std::to_string(echo.size())}}, echo);
         c.wait();
       },
       {echo}},
  };
}

// Plays `script` with `fault` at operation `n`, then the client closes its side.
FaultRun run(const Script& script, Fault fault, int n) {
  FaultRun out;
  Ledger ledger;
  {
    H2Harness h;
    h.router.mount("/e", std::make_shared<CountedEchoApp>(ledger));
    h.router.mount("/big", std::make_shared<CountedBigApp>(ledger, kBigPieces, kBigPiece));
    if (fault == Fault::hold) h.timeouts.send = kSendTimeout;
    inject(*h.peer, fault, n);
    h.start();
    Client client(h);
    script.play(client);
    if (fault == Fault::none) out.problems += client.check(script.bodies);
    if (!client.close()) out.problems += "the connection did not end in time; ";
    if (h.failure()) out.problems += "an exception escaped the connection; ";
    if (!h.peer->closed()) out.problems += "the stream was not closed; ";
    if (h.peer->read_pending() || h.peer->write_pending())
      out.problems += "an operation is still pending; ";
    out.problems += ledger.problems();
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

TEST_CASE("http2 failure matrix: each read fails in turn", "[http2][failure_matrix]") {
  check_matrix(Fault::read);
}

TEST_CASE("http2 failure matrix: each write fails in turn", "[http2][failure_matrix]") {
  check_matrix(Fault::write);
}

TEST_CASE("http2 failure matrix: each write is held until the send timeout",
          "[http2][failure_matrix]") {
  check_matrix(Fault::hold);
}

}  // namespace
}  // namespace junction::test
