// One request over each protocol's connection, on an in-memory stream, behind one interface:
// tests that state a rule of the Exchange (exchange_contract_test.cpp, timed_exchange_test.cpp)
// run once per driver with TEMPLATE_TEST_CASE. Header-only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/connection_harness.hpp"
#include "support/h2_harness.hpp"

namespace junction::test {

// What the client saw of its one request.
struct Seen {
  int status = 0;
  std::string body;
  bool complete = false;  // a whole response
  bool cut = false;       // a response that began and was broken off
  std::vector<int> informational;
};

// HTTP/1.1 on a ConnectionHarness.
class Http1Driver {
 public:
  static constexpr const char* kName = "HTTP/1.1";
  ConnectionHarness h;

  gateway::Router& router() { return h.router; }
  gateway::Timeouts& timeouts() { return h.timeouts; }
  void use_response_budget(gateway::ByteBudget& budget) { h.response_budget = &budget; }
  void start() { h.start(); }

  void request(const std::string& method, const std::string& path,
               std::optional<std::string> body = {}) {
    send_head(method, path, body ? std::optional(body->size()) : std::nullopt, {});
    if (body) h.peer->send(*body);
  }
  // Declares ten bytes more than `part` and sends only `part`: the body stalls.
  void request_stalled(const std::string& method, const std::string& path, std::string part) {
    send_head(method, path, part.size() + 10, {});
    h.peer->send(part);
  }
  // The body waits for the 100 (RFC 9110 §10.1.1), as a client that asks for one does.
  void request_expecting_continue(const std::string& method, const std::string& path,
                                  std::string body) {
    send_head(method, path, body.size(), {{"Expect", "100-continue"}});
    held_body_ = std::move(body);
  }
  void leave() { h.peer->reset(); }
  // A client that stops taking our output, and one that takes it again.
  void stop_reading() { h.peer->hold_writes(); }
  void read_again() { h.peer->release_writes(); }

  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 3s) {
    return h.run_until(
        [&] {
          if (held_body_ && h.peer->output().find("HTTP/1.1 100") != std::string::npos)
            h.peer->send(*std::exchange(held_body_, std::nullopt));
          return done();
        },
        limit);
  }
  bool answered() {
    auto s = seen();
    return s.complete || s.cut;
  }

  Seen seen() {
    Seen s;
    auto parsed = h.responses();
    for (const auto& response : parsed.responses) {
      if (response.status < 200) {
        s.informational.push_back(response.status);
        continue;
      }
      s.status = response.status;
      s.body = response.body;
    }
    // A response the connection's end broke off does not parse whole.
    s.cut = s.status != 0 && !parsed.error.empty() && h.finished();
    s.complete = s.status != 0 && parsed.error.empty();
    return s;
  }

 private:
  void send_head(const std::string& method, const std::string& path,
                 std::optional<std::size_t> length, const gateway::Headers& extra) {
    std::string out = method + " " + path + " HTTP/1.1\r\nHost: example.test\r\n";
    for (const auto& [name, value] : extra) out += name + ": " + value + "\r\n";
    if (length) out += "Content-Length: " + std::to_string(*length) + "\r\n";
    h.peer->send(out + "\r\n");
  }
  std::optional<std::string> held_body_;
};

// HTTP/2 on an H2Harness, one stream.
class Http2Driver {
 public:
  static constexpr const char* kName = "HTTP/2";
  H2Harness h;
  H2Client client;
  std::int32_t id = 0;

  gateway::Router& router() { return h.router; }
  gateway::Timeouts& timeouts() { return h.timeouts; }
  void use_response_budget(gateway::ByteBudget& budget) { h.response_budget = &budget; }
  void start() { h.start(); }

  void request(const std::string& method, const std::string& path,
               std::optional<std::string> body = {}) {
    id = client.submit(method, path, {}, std::move(body));
  }
  void request_stalled(const std::string& method, const std::string& path, std::string part) {
    auto length = std::to_string(part.size() + 10);
    id = client.submit(method, path, {{"content-length", length}}, std::move(part), false);
  }
  void request_expecting_continue(const std::string& method, const std::string& path,
                                  std::string body) {
    auto length = std::to_string(body.size());
    id = client.submit(method, path, {{"content-length", length}, {"expect", "100-continue"}},
                       std::string(), false);
    held_body_ = std::move(body);
  }
  void leave() {
    client.reset(id);
    h.run_until(
        client, [] { return false; }, 50ms);
  }
  // A client that reads nothing opens no window (RFC 9113 §6.9): our frames wait in the stream.
  void stop_reading() { reading_ = false; }
  void read_again() { reading_ = true; }

  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 3s) {
    if (!reading_) {
      // What the client sends still goes; what the server sends stays unread.
      h.peer->send(client.output());
      return h.run_until(done, limit);
    }
    return h.run_until(
        client,
        [&] {
          if (held_body_ && !client.responses[id].informational.empty())
            client.finish_body(id, *std::exchange(held_body_, std::nullopt));
          return done();
        },
        limit);
  }
  bool answered() { return client.responses[id].closed; }

  Seen seen() {
    const auto& r = client.responses[id];
    Seen s;
    s.status = r.status;
    s.body = r.body;
    s.informational = r.informational;
    s.complete = r.closed && r.error_code == 0 && r.status != 0;
    s.cut = r.closed && r.error_code != 0;
    return s;
  }

  bool reading_ = true;
  std::optional<std::string> held_body_;
};

// Runs until the client has its answer (bounded in time).
template <class Driver>
bool settle(Driver& d) {
  return d.run_until([&] { return d.answered(); });
}

}  // namespace junction::test
