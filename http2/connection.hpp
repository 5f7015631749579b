// One HTTP/2 connection: the Asio half around a Session (session.hpp). The connection
// coroutine keeps one read in flight and feeds the session what it reads; output leaves by a
// callback chain with one write in flight, taking at most kOutputLimit bytes from nghttp2 at a
// time, so a client that does not read holds that much of ours (plus what each stream may
// queue) and no more. A watchdog ticks the session's timeouts and holds a stuck write to
// --timeout-send. The connection ends when the session wants neither to read nor to write.
//
// Stream is a connected socket (or an in-memory stream in tests) on an io_context executor.
#pragma once

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/connection.hpp"
#include "gateway/options.hpp"
#include "gateway/transport.hpp"
#include "gateway/watchdog.hpp"
#include "http2/http2.hpp"
#include "http2/options.hpp"
#include "http2/session.hpp"

namespace junction::http2 {

template <class Stream>
class Connection final : public gateway::Closable,
                         public gateway::ConnectionTypes,
                         public SessionHost,
                         public std::enable_shared_from_this<Connection<Stream>> {
 public:
  static constexpr std::size_t kReadBufferSize = 32 * 1024;
  // Bytes of frames taken from nghttp2 for one socket write.
  static constexpr std::size_t kOutputLimit = 64 * 1024;
  // After the session ends: how long our last frames may take to leave, and how long we read
  // on after shutting down our side, so that a client still sending does not turn our GOAWAY
  // into a TCP reset.
  static constexpr std::chrono::seconds kLingerTime{2};

  Connection(Stream stream, const gateway::ConnectionContext& context, const Options& options,
             gateway::Address client, gateway::Address server)
      : stream_(std::move(stream)),
        session_context_{context.limits,         context.timeouts, context.router,
                         context.access_log,     options,          context.forwarded,
                         context.hsts,           context.metrics,  context.request_id_header,
                         context.response_budget},
        read_buffer_(new char[kReadBufferSize]),
        watchdog_(stream_.get_executor(), tick_interval(context.timeouts)),
        wake_(stream_.get_executor()),
        client_(std::move(client)),
        server_(std::move(server)) {}

  // Bytes the server already read (the preface, and what came with it), fed to the session
  // before anything is read. Before async_run().
  void prefill(std::string_view bytes) { initial_.assign(bytes); }

  // RFC 7540 §3.2: the connection was HTTP/1.1 until `head` asked to upgrade to h2c with the
  // (decoded) `settings`, which Session::accepts_upgrade() took. The 101 goes out first, then
  // our SETTINGS; the request is stream 1. Before async_run().
  void upgrade(gateway::RequestHead head, std::string settings) {
    upgrade_.emplace(Upgrade{std::move(head), std::move(settings)});
    out_ = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
  }

  // The connection came over TLS (ALPN h2): its requests carry what the handshake settled.
  // Before async_run().
  void set_tls(std::shared_ptr<const gateway::TlsInfo> tls) noexcept { tls_ = std::move(tls); }

  executor_type get_executor() { return stream_.get_executor(); }

  // The connection coroutine. Returns once the connection is closed.
  awaitable<void> async_run();

  // Graceful shutdown: GOAWAY (RFC 9113 §6.8); open streams finish, then the connection ends.
  void on_shutdown() override {
    shutting_down_ = true;
    if (session_) {
      session_->shutdown();
      flush();
    }
  }

  void terminate() override { close_now(); }
  std::optional<std::chrono::steady_clock::time_point> idle_since() const noexcept override {
    return session_ ? session_->idle_since() : std::nullopt;
  }

  void on_session_output() override { flush(); }

 private:
  // One read into the buffer; end_session() cancels it through run_cancel_.
  auto async_read() {
    return stream_.async_read_some(asio::buffer(read_buffer_.get(), kReadBufferSize),
                                   asio::bind_cancellation_slot(run_cancel_.slot(), use_awaitable));
  }
  void count(std::size_t what, std::size_t n) {
    if (n > 0 && session_context_.metrics) session_context_.metrics.add(what, n);
  }

  // Sends what the session has, one write in flight.
  void flush() {
    if (closed_ || !session_ || session_->busy()) return;
    if (flushing_) {
      flush_again_ = true;
      return;
    }
    flushing_ = true;
    do {
      flush_again_ = false;
      if (!write_in_flight_) {
        if (!session_->produce(out_, kOutputLimit)) session_failed_ = true;
        if (!out_.empty()) start_write();
      }
    } while (flush_again_ && !write_in_flight_ && !closed_);
    flushing_ = false;
    if (!write_in_flight_ && out_.empty() && (session_failed_ || session_->done())) end_session();
  }

  void start_write() {
    writing_.swap(out_);
    out_.clear();
    write_in_flight_ = true;
    write_started_ = clock::now();
    asio::async_write(stream_, asio::buffer(writing_),
                      [self = this->shared_from_this()](error_code ec, std::size_t n) {
                        self->count(gateway::counter::bytes_sent, n);
                        self->on_written(ec);
                      });
  }

  void on_written(error_code ec) {
    write_in_flight_ = false;
    writing_.clear();
    if (ec) {
      // The client is gone: nothing we could still send would reach it.
      close_now();
    } else {
      flush();
    }
    notify();
  }

  // The session wants neither to read nor to write: stop the read in flight.
  void end_session() {
    if (session_over_) return;
    session_over_ = true;
    run_cancel_.emit(asio::cancellation_type::terminal);
    notify();
  }

  // The one way this connection ends: let the last frames leave, shut our side, read what the
  // client still sends for a moment, close.
  awaitable<void> async_close();

  void close_now() {
    if (closed_) return;
    closed_ = true;
    if (session_) session_->close();
    error_code ignored;
    stream_.shutdown(asio::socket_base::shutdown_both, ignored);
    stream_.close(ignored);
    watchdog_.stop();
    wake_.cancel();
  }

  // Suspends until notify() (or a cancellation); callers re-check their state after.
  awaitable<void> async_wait_event();
  void notify() { wake_.cancel(); }

  // The watchdog ticks at a fraction of the shortest timeout (at most once a second): the
  // timeouts of many streams are checked at each tick; HTTP/2 connections live long, and a
  // tick costs far less than their requests.
  static clock::duration tick_interval(const gateway::Timeouts& t) {
    auto shortest = std::min({t.keep_alive, t.request_body, t.send, t.min_rate_grace}) / 4;
    auto interval = std::chrono::duration_cast<clock::duration>(shortest);
    return std::clamp<clock::duration>(interval, std::chrono::milliseconds(10),
                                       std::chrono::seconds(1));
  }

 public:
  // The watchdog's wake-up (gateway/watchdog.hpp): the linger has a deadline; the write in
  // flight and the streams' timeouts (the session's) are checked at each tick.
  bool on_watchdog(clock::time_point now, int passed) {
    if (closed_) return false;
    auto send_limit = std::chrono::duration_cast<clock::duration>(session_context_.timeouts.send);
    if (passed == kLingerOver || (write_in_flight_ && now - write_started_ >= send_limit)) {
      // The client took none of our output for --timeout-send, or the linger is over.
      close_now();
      notify();
      return false;
    }
    if (session_ && !closing_) {
      session_->on_tick(now);
      flush();
    }
    return true;
  }

 private:
  // The watchdog's one deadline: the lingering close is over.
  static constexpr int kLingerOver = 1;

  struct Upgrade {
    gateway::RequestHead head;
    std::string settings;
  };

  Stream stream_;
  SessionContext session_context_;
  std::optional<Upgrade> upgrade_;
  std::shared_ptr<Session> session_;
  std::string initial_;
  std::unique_ptr<char[]> read_buffer_;
  gateway::Watchdog watchdog_;
  asio::basic_waitable_timer<clock, asio::wait_traits<clock>, executor_type> wake_;
  asio::cancellation_signal run_cancel_;
  gateway::Address client_;
  std::shared_ptr<const gateway::TlsInfo> tls_;
  gateway::Address server_;

  std::string out_;
  std::string writing_;
  bool write_in_flight_ = false;
  clock::time_point write_started_;
  bool flushing_ = false;
  bool flush_again_ = false;
  bool session_failed_ = false;
  bool session_over_ = false;
  bool shutting_down_ = false;
  bool peer_closed_ = false;
  bool closing_ = false;
  bool closed_ = false;
};

// The coroutines, defined outside the class so that an explicit instantiation declaration
// (extern template) keeps them out of every file but the one that instantiates them.

template <class Stream>
auto Connection<Stream>::async_run() -> awaitable<void> {
  // The frame owns the connection until its last step; run_cancel_ is bound to each read it
  // awaits, never to the coroutine, so the signal outlives every operation bound to it.
  auto self = this->shared_from_this();
  session_ = std::make_shared<Session>(get_executor(), session_context_, *this, client_, server_);
  session_->set_tls(std::move(tls_));
  bool upgraded = upgrade_.has_value();
  bool ok = upgrade_ ? session_->start(&upgrade_->head, upgrade_->settings) : session_->start();
  upgrade_.reset();
  if (ok && shutting_down_) session_->shutdown();
  watchdog_.start(self);
  // An upgrade's stream 1 goes to its app from receive(), with what came after its head.
  if (ok && (!initial_.empty() || upgraded)) {
    ok = session_->receive(initial_);
    initial_ = {};
  }
  flush();
  while (ok && !closed_ && !session_over_ && session_->wants_read()) {
    auto [ec, n] = co_await async_read();
    count(gateway::counter::bytes_received, n);
    if (ec) {
      peer_closed_ = ec != asio::error::operation_aborted;
      break;
    }
    ok = session_->receive({read_buffer_.get(), n});
    flush();
  }
  co_await async_close();
}

template <class Stream>
auto Connection<Stream>::async_close() -> awaitable<void> {
  closing_ = true;
  watchdog_.set_deadline(clock::now() + kLingerTime, kLingerOver);
  if (session_ && !session_->done() && !session_failed_) {
    // The client closed or reset the connection, or a read failed: nobody to talk to.
    if (peer_closed_) close_now();
  }
  while (!closed_ && (write_in_flight_ || !out_.empty())) {
    flush();
    co_await async_wait_event();
  }
  if (!closed_ && !peer_closed_) {
    error_code ignored;
    stream_.shutdown(asio::socket_base::shutdown_send, ignored);
    while (!closed_) {
      auto [ec, n] = co_await async_read();
      count(gateway::counter::bytes_received, n);
      if (ec) break;
    }
  }
  close_now();
}

template <class Stream>
auto Connection<Stream>::async_wait_event() -> awaitable<void> {
  wake_.expires_at(clock::time_point::max());
  co_await wake_.async_wait(use_awaitable);
}

}  // namespace junction::http2
