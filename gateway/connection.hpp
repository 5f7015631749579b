// What every protocol session shares with the server that runs it: the context all connections
// of a server refer to, the face a connection shows the server for graceful shutdown, and the
// registration one accepted socket holds for its whole life.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>

#include "gateway/access_log.hpp"
#include "gateway/byte_budget.hpp"
#include "gateway/forwarded.hpp"
#include "gateway/metrics.hpp"
#include "gateway/options.hpp"
#include "gateway/request_id.hpp"
#include "gateway/router.hpp"

namespace junction::gateway {

// What every connection of a server shares; outlives them all.
struct ConnectionContext {
  const Limits& limits;
  const Timeouts& timeouts;
  const Router& router;
  AccessLog* access_log = nullptr;  // null: off
  // Trusted proxy headers; null: none are trusted (each protocol calls apply_forwarded on a
  // complete head when set).
  const ForwardedPolicy* forwarded = nullptr;
  // --hsts: the Strict-Transport-Security value for responses on TLS connections whose app set
  // none (RFC 6797 §7.2: never over plain text); empty: off.
  std::string hsts;
  // /metrics: this process's counters (empty: not counted).
  ProcessMetrics metrics;
  // --request-id-header: the field that carries each request's ID (empty: no IDs).
  std::string request_id_header;
  // --response-buffer-total: response bytes queued past each connection's high-water mark,
  // in all, so that an app's writes need not wait for a slow reader; null: none are.
  ByteBudget* response_budget = nullptr;
};

// A request is over (answered, or given up on): counted under its route, and logged when it was
// answered.
inline void record_exchange(ProcessMetrics metrics, AccessLog* access_log,
                            const RequestHead& request, std::size_t route, int status,
                            bool completed, std::uint64_t body_bytes) {
  auto duration = std::chrono::steady_clock::now() - request.received_at;
  if (metrics)
    metrics.record_request(route, request.method,
                           protocol_label(request.version.major, request.version.minor), status,
                           completed, duration);
  if (completed && access_log) access_log->write(request, status, body_bytes, duration, route);
}

// The face a connection (or a phase of one, such as its TLS handshake) shows the server.
class Closable {
 public:
  virtual ~Closable() = default;
  // Finish the request in flight (if any) with Connection: close; close an idle connection now.
  virtual void on_shutdown() = 0;
  // The grace period is over: close now.
  virtual void terminate() = 0;
  // Since when the connection has been idle between requests (keep-alive), or nullopt while it
  // is busy or has not served a request yet: out of descriptors, the server closes the idle
  // connection that waited longest (terminate()) so that a new client can be accepted.
  virtual std::optional<std::chrono::steady_clock::time_point> idle_since() const noexcept {
    return std::nullopt;
  }
};

class ConnectionSlot;

// The connections one I/O thread runs, as the server sees them for shutdown. Touched only on
// that thread.
class ConnectionRegistry {
 public:
  virtual ~ConnectionRegistry() = default;
  virtual void add(ConnectionSlot& slot) = 0;
  virtual void remove(ConnectionSlot& slot) noexcept = 0;
  // The server is shutting down: a connection registered now is asked to finish at once.
  virtual bool stopping() const noexcept = 0;
};

// One accepted socket's place in its server, for its whole life, whichever phase runs it (the
// TLS handshake, HTTP/1.1, then perhaps HTTP/2): an RAII guard in the frame of the coroutine
// that serves the socket. Shutdown reaches the phase attached now; a phase attached after it
// hears it at once.
class ConnectionSlot final : public Closable {
 public:
  explicit ConnectionSlot(ConnectionRegistry& registry) : registry_(registry) {
    registry_.add(*this);
    shutting_down_ = registry_.stopping();
  }
  ~ConnectionSlot() override { registry_.remove(*this); }
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;

  void on_shutdown() override {
    shutting_down_ = true;
    if (current_) current_->on_shutdown();
  }
  void terminate() override {
    shutting_down_ = terminated_ = true;
    if (current_) current_->terminate();
  }
  bool shutting_down() const noexcept { return shutting_down_; }
  std::optional<std::chrono::steady_clock::time_point> idle_since() const noexcept override {
    return current_ ? current_->idle_since() : std::nullopt;
  }

  // `phase` runs the socket while this lives (a local of the frame that awaits it).
  class Attach {
   public:
    Attach(ConnectionSlot& slot, Closable& phase) : slot_(slot) {
      slot_.current_ = &phase;
      if (slot_.terminated_)
        phase.terminate();
      else if (slot_.shutting_down_)
        phase.on_shutdown();
    }
    ~Attach() { slot_.current_ = nullptr; }
    Attach(const Attach&) = delete;
    Attach& operator=(const Attach&) = delete;

   private:
    ConnectionSlot& slot_;
  };

 private:
  ConnectionRegistry& registry_;
  Closable* current_ = nullptr;
  bool shutting_down_ = false;
  bool terminated_ = false;
};

// Counts live things across threads (the server's connections, which the drain waits for): one
// Token each, moved, never copied, released when it is destroyed.
class LiveCounter {
 public:
  class Token {
   public:
    Token() = default;
    explicit Token(LiveCounter& counter) : counter_(&counter) {
      counter_->count_.fetch_add(1, std::memory_order_relaxed);
      if (counter_->mirror_) counter_->mirror_->fetch_add(1, std::memory_order_relaxed);
    }
    Token(Token&& other) noexcept : counter_(std::exchange(other.counter_, nullptr)) {}
    Token& operator=(Token&& other) noexcept {
      if (this != &other) {
        release();
        counter_ = std::exchange(other.counter_, nullptr);
      }
      return *this;
    }
    ~Token() { release(); }

   private:
    void release() noexcept {
      if (counter_) {
        counter_->count_.fetch_sub(1, std::memory_order_acq_rel);
        if (counter_->mirror_) counter_->mirror_->fetch_sub(1, std::memory_order_relaxed);
      }
      counter_ = nullptr;
    }
    LiveCounter* counter_ = nullptr;
  };

  Token enter() { return Token(*this); }
  std::size_t count() const noexcept { return count_.load(std::memory_order_acquire); }
  // Also keeps `mirror` (somewhere others read it: the workers' shared board) up to date. Set
  // before the first enter().
  void mirror_to(std::atomic<std::int64_t>* mirror) noexcept { mirror_ = mirror; }

 private:
  std::atomic<std::size_t> count_{0};
  std::atomic<std::int64_t>* mirror_ = nullptr;
};

}  // namespace junction::gateway
