// One ASGI HTTP request (ASGI HTTP spec 2.4): the receive() and send() behind the app's
// awaitables, onto the Exchange.
//
// Two objects, split by thread. HttpCore is what I/O-thread handlers hold: the exchange, the
// body buffer, no Python object, so the last reference may drop on any thread. HttpCycle is the
// Python object the request's coroutine holds (loop thread only); it reaches its core, and the
// core reaches it through a pointer only the loop thread reads.
//
// Round trips to the I/O thread are what cost (docs/architecture.md, "Python apps", ASGI):
// receive() answers at once when a body piece is already here (one piece is read ahead while the
// app works on the last), send() of the head only records it, and send() of body bytes returns at
// once while less than kSendCredit bytes are unacknowledged by the connection; past that, it awaits
// the socket.
#pragma once

#include <pybind11/pybind11.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "bridge/asgi_waiters.hpp"
#include "bridge/event_loop.hpp"
#include "gateway/exchange.hpp"
#include "gateway/timed_exchange.hpp"

namespace junction::bridge {

class AsgiApp;
class HttpCycle;

class HttpCore final : public LoopTarget, public std::enable_shared_from_this<HttpCore> {
 public:
  enum Event { kBegin, kBodyRead, kWritten, kClientGone, kTimedOut };
  static constexpr std::size_t kReadSize = 64 * 1024;

  HttpCore(std::shared_ptr<gateway::Exchange> exchange, AsgiApp& app, EventLoop& loop);

  // Any thread: reads the next body piece into the buffer; the result arrives as kBodyRead.
  void start_read();
  // The same from handle(), which must not touch exchange_ once kBegin is posted (the loop
  // thread may be done with the request and have dropped it).
  void start_read(gateway::Exchange& exchange);
  // Any thread: the body's declared length has arrived; lets the connection parse its end.
  void finish_body();
  void on_loop_event(int kind, gateway::error_code ec, std::size_t n) override;

 private:
  friend class HttpCycle;
  friend class AsgiApp;

  std::shared_ptr<gateway::Exchange> exchange_;
  std::shared_ptr<gateway::TimedExchange> timed_;  // exchange_ itself, under --request-timeout
  const boost::asio::any_io_executor io_;          // the exchange's I/O thread, for batched events
  AsgiApp& app_;
  EventLoop& loop_;
  std::unique_ptr<char[]> buffer_;  // for requests with a body
  bool read_ahead_ = false;         // handle() started the first read (set before kBegin)
  // The client left (set on the I/O thread; kBegin drops a request whose client is gone).
  std::atomic<bool> client_left_{false};
  HttpCycle* cycle_ = nullptr;  // loop thread only
};

class HttpCycle {
 public:
  // Four 64 KiB pieces (Starlette's FileResponse chunk) go to the I/O thread before send()
  // waits: on one core, each wait is a trip through both threads, and at 64 KiB a 1 MiB
  // response made 16 of them (docs/benchmarks.md, "ASGI streaming": 1,450 -> 1,880 req/s, 690
  // -> 530 µs of CPU a response). Bytes in transit are outside --response-buffer-total, so
  // this bounds what a request can hold beyond it.
  static constexpr std::size_t kSendCredit = 256 * 1024;

  HttpCycle(std::shared_ptr<HttpCore> core, AsgiApp& app);
  ~HttpCycle();

  // receive(): an event dict, or a future that will carry one.
  pybind11::object receive();
  // send(message): None when the message is taken, or a future to await (backpressure).
  // Raises the ClientDisconnected OSError once the client is gone or the response is over.
  pybind11::object send(pybind11::handle message);
  // The app's coroutine ended (`error` None: it returned).
  void done(pybind11::handle error);

  // Events from the I/O thread.
  void on_body_read(gateway::error_code ec, std::size_t n);
  void on_written(gateway::error_code ec, std::size_t n);
  void on_client_gone();
  // --request-timeout: the client got a 504; the app's task is cancelled.
  void on_timed_out();

  void set_task(pybind11::object task) { task_ = std::move(task); }

 private:
  enum class Response { none, started, streaming, trailers, complete };

  pybind11::object request_event(pybind11::object body, bool more);
  pybind11::object disconnect_event() const;
  void resolve_receivers();  // with http.disconnect: the cycle is over for them
  void start_response(pybind11::handle message);
  pybind11::object send_body(pybind11::handle message);
  void send_trailers(pybind11::handle message);
  void answer_500();
  void abort();
  // Runs `op` on the exchange from its I/O thread, batched with the round's other operations.
  void to_connection(std::function<void(gateway::Exchange&)> op);
  void disconnected();
  [[noreturn]] void raise_closed() const;

  std::shared_ptr<HttpCore> core_;
  AsgiApp& app_;
  pybind11::object task_;

  // Request body.
  bool read_in_flight_ = false;
  bool body_over_ = false;  // the last http.request event has been made
  std::uint64_t received_ = 0;
  ReceiveWaiters receivers_;

  // Response.
  Response response_ = Response::none;
  gateway::ResponseHead head_;
  bool trailers_ = false;
  bool client_gone_ = false;
  bool timed_out_ = false;  // the 504 went out instead of the app's response
  bool finished_ = false;   // done() ran
  std::size_t unacked_ = 0;
  SendWaiter sender_;  // the send() waiting for the socket
};

}  // namespace junction::bridge
