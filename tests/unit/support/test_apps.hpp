// Small Apps that behave in one particular way each, for connection tests. Header-only.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gateway/errors.hpp"
#include "gateway/exchange.hpp"
#include "gateway/websocket.hpp"

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

// What apps asked of their exchanges: the handlers they passed and the exchanges they were
// given, so that a test can tell that every handler ran exactly once and no exchange outlived
// its connection.
class Ledger {
 public:
  // Wraps a handler so that its call is counted.
  template <class Handler>
  auto track(Handler handler) {
    ++issued_;
    return [this, handler = std::move(handler)](auto... args) {
      ++completed_;
      handler(args...);
    };
  }
  void add(const std::shared_ptr<Exchange>& exchange) { exchanges_.push_back(exchange); }

  int issued() const noexcept { return issued_; }
  int completed() const noexcept { return completed_; }
  int exchanges() const noexcept { return static_cast<int>(exchanges_.size()); }
  // Exchanges still alive: someone holds one.
  int live() const noexcept {
    int n = 0;
    for (const auto& exchange : exchanges_) n += !exchange.expired();
    return n;
  }
  // What is wrong, or empty.
  std::string problems() const {
    std::string out;
    if (completed_ != issued_)
      out += std::to_string(completed_) + " of " + std::to_string(issued_) + " handlers ran; ";
    if (live() > 0) out += std::to_string(live()) + " exchanges still alive; ";
    return out;
  }

 private:
  int issued_ = 0;
  int completed_ = 0;
  std::vector<std::weak_ptr<Exchange>> exchanges_;
};

// Answers a request without a body with "hello"; echoes a body piece by piece (one read or
// one write in flight), as the health app's ?echo does, with its Content-Length when it has
// one. Every handler is counted in the ledger.
class CountedEchoApp final : public App {
 public:
  explicit CountedEchoApp(Ledger& ledger) : ledger_(ledger) {}

  void handle(std::shared_ptr<Exchange> exchange) override {
    ledger_.add(exchange);
    const auto& request = exchange->request();
    if (!request.has_body) {
      exchange->start({200, {{"Content-Type", "text/plain"}}});
      exchange->async_write("hello", true, ledger_.track([](error_code) {}));
      return;
    }
    Headers headers{{"Content-Type", "application/octet-stream"}};
    if (request.content_length)
      headers.emplace_back("Content-Length", std::to_string(*request.content_length));
    exchange->start({200, std::move(headers)});
    read(std::make_shared<State>(std::move(exchange), ledger_));
  }

 private:
  struct State {
    State(std::shared_ptr<Exchange> e, Ledger& l) : exchange(std::move(e)), ledger(l) {}
    std::shared_ptr<Exchange> exchange;
    Ledger& ledger;
    std::array<char, 4096> buffer{};
  };

  static void read(std::shared_ptr<State> state) {
    auto& exchange = *state->exchange;
    exchange.async_read_body(
        state->buffer, state->ledger.track([state](error_code ec, std::size_t n) {
          auto& ledger = state->ledger;
          if (ec == gateway::errc::end_of_body) {
            state->exchange->async_finish({}, ledger.track([](error_code) {}));
            return;
          }
          if (ec) return;  // the client went away, or the body was refused: the gateway answered
          state->exchange->async_write(std::string(state->buffer.data(), n), false,
                                       ledger.track([state](error_code write_ec) {
                                         if (!write_ec) read(state);
                                       }));
        }));
  }

  Ledger& ledger_;
};

// Writes `pieces` pieces of `size` bytes without declaring the length, each after the last
// one's handler: past the connection's output high-water mark a handler waits for the client
// to take our output. Every handler is counted in the ledger.
class CountedBigApp final : public App {
 public:
  CountedBigApp(Ledger& ledger, std::size_t pieces, std::size_t size)
      : ledger_(ledger), pieces_(pieces), size_(size) {}

  void handle(std::shared_ptr<Exchange> exchange) override {
    ledger_.add(exchange);
    exchange->start({200, {{"Content-Type", "application/octet-stream"}}});
    write(std::move(exchange), 0);
  }

  std::size_t total() const noexcept { return pieces_ * size_; }

 private:
  void write(std::shared_ptr<Exchange> exchange, std::size_t i) {
    bool last = i + 1 == pieces_;
    auto& e = *exchange;
    e.async_write(std::string(size_, char('a' + i % 26)), last,
                  ledger_.track([this, exchange = std::move(exchange), i, last](error_code ec) {
                    if (!ec && !last) write(exchange, i + 1);
                  }));
  }

  Ledger& ledger_;
  std::size_t pieces_;
  std::size_t size_;
};

// Accepts a WebSocket and echoes every message until the connection is over (a request that
// is not a WebSocket handshake gets 400). "close" as a text message makes it close with 1000.
// Every handler is counted in the ledger.
class CountedWebSocketEchoApp final : public App {
 public:
  explicit CountedWebSocketEchoApp(Ledger& ledger) : ledger_(ledger) {}

  void handle(std::shared_ptr<Exchange> exchange) override {
    ledger_.add(exchange);
    if (!exchange->request().websocket) {
      exchange->start({400, {{"Content-Type", "text/plain"}}});
      exchange->async_write("not a WebSocket", true, ledger_.track([](error_code) {}));
      return;
    }
    exchange->async_accept_websocket(
        {}, ledger_.track([this](error_code ec, std::shared_ptr<gateway::WebSocket> socket) {
          if (!ec) receive(std::move(socket));
        }));
  }

 private:
  void receive(std::shared_ptr<gateway::WebSocket> socket) {
    auto& s = *socket;
    s.async_receive(ledger_.track([this, socket](error_code ec, gateway::WebSocketMessage message) {
      if (ec) return;
      if (message.text && message.data == "close") {
        socket->async_close(1000, "bye", ledger_.track([](error_code) {}));
        return receive(socket);
      }
      socket->async_send(std::move(message), ledger_.track([this, socket](error_code send_ec) {
        if (!send_ec) receive(socket);
      }));
    }));
  }

  Ledger& ledger_;
};

}  // namespace junction::test
