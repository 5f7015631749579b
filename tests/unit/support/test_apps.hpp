// Small Apps that behave in one particular way each, for connection tests. Header-only.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gateway/errors.hpp"
#include "gateway/exchange.hpp"

namespace junction::test {

using gateway::App;
using gateway::error_code;
using gateway::Exchange;
using gateway::Headers;

// Answers 200 at once, without reading the request body.
class NoReadApp final : public App {
 public:
  void handle(std::shared_ptr<Exchange> exchange) override {
    exchange->start({200, {{"Content-Type", "text/plain"}}});
    exchange->async_write("answered without reading", true, nullptr);
  }
};

// Reads the whole request body first, then answers 200 "got N" (N bytes of body). When the
// body fails (too large, stalled, malformed) it answers nothing: the gateway does.
class SinkApp final : public App {
 public:
  void handle(std::shared_ptr<Exchange> exchange) override {
    auto state = std::make_shared<State>(std::move(exchange));
    read(state);
  }

 private:
  struct State {
    explicit State(std::shared_ptr<Exchange> e) : exchange(std::move(e)) {}
    std::shared_ptr<Exchange> exchange;
    std::array<char, 4096> buffer{};
    std::size_t total = 0;
  };
  static void read(std::shared_ptr<State> state) {
    auto& exchange = *state->exchange;
    exchange.async_read_body(state->buffer, [state](error_code ec, std::size_t n) {
      if (ec == gateway::errc::end_of_body) {
        state->exchange->start({200, {}});
        state->exchange->async_write("got " + std::to_string(state->total), true, nullptr);
        return;
      }
      if (ec) return;
      state->total += n;
      read(state);
    });
  }
};

// Streams a body of several pieces without declaring its length, then trailers.
class StreamApp final : public App {
 public:
  void handle(std::shared_ptr<Exchange> exchange) override {
    exchange->start({200, {{"Content-Type", "text/plain"}}});
    write(std::move(exchange), 0);
  }

  static constexpr std::array<const char*, 3> kPieces = {"one ", "two ", "three"};

 private:
  static void write(std::shared_ptr<Exchange> exchange, std::size_t i) {
    if (i == kPieces.size()) {
      exchange->async_finish({{"X-Trailer", "t"}}, nullptr);
      return;
    }
    auto& e = *exchange;
    e.async_write(kPieces[i], false, [exchange = std::move(exchange), i](error_code ec) mutable {
      if (!ec) write(std::move(exchange), i + 1);
    });
  }
};

// Declares Content-Length 10, writes 5 bytes and finishes: an app error the client must see
// as a cut response.
class ShortApp final : public App {
 public:
  void handle(std::shared_ptr<Exchange> exchange) override {
    exchange->start({200, {{"Content-Length", "10"}}});
    auto& e = *exchange;
    e.async_write("12345", false, [exchange = std::move(exchange)](error_code ec) {
      if (!ec) exchange->async_finish({}, nullptr);
    });
  }
};

// Aborts after sending the head and part of the body (after_head), or before anything.
class AbortApp final : public App {
 public:
  explicit AbortApp(bool after_head) : after_head_(after_head) {}
  void handle(std::shared_ptr<Exchange> exchange) override {
    if (!after_head_) {
      exchange->abort();
      return;
    }
    exchange->start({200, {}});
    auto& e = *exchange;
    e.async_write("partial", false,
                  [exchange = std::move(exchange)](error_code) { exchange->abort(); });
  }

 private:
  bool after_head_;
};

// Keeps every exchange without answering, and records when the client goes away.
class HoldApp final : public App {
 public:
  void handle(std::shared_ptr<Exchange> exchange) override {
    auto index = exchanges.size();
    exchanges.push_back(exchange);
    gone.push_back(0);
    exchange->on_client_gone([this, index] { ++gone[index]; });
  }

  std::vector<std::shared_ptr<Exchange>> exchanges;
  std::vector<int> gone;  // on_client_gone calls, per exchange
};

}  // namespace junction::test
