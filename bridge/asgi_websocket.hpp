// One ASGI WebSocket connection (ASGI WebSocket spec 2.4) over the gateway's WebSocket: the
// opening handshake's request, the 101 the app's accept sends, then whole messages.
//
// Split by thread as asgi_http.hpp explains: WebSocketCore is what I/O-thread handlers hold (no
// Python), WebSocketCycle the Python object on the loop thread. One message is read ahead while
// the app handles the last; sends return at once while less than kSendCredit bytes are unsent.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <string>

#include "bridge/asgi_waiters.hpp"
#include "bridge/event_loop.hpp"
#include "gateway/exchange.hpp"
#include "gateway/websocket.hpp"

namespace junction::bridge {

class AsgiApp;
class WebSocketCycle;

class WebSocketCore final : public LoopTarget, public std::enable_shared_from_this<WebSocketCore> {
 public:
  enum Event { kBegin, kAccepted, kReceived, kSent, kClientGone };

  WebSocketCore(std::shared_ptr<gateway::Exchange> exchange, AsgiApp& app, EventLoop& loop);

  // I/O thread, before kBegin: a client that leaves during the handshake is a disconnect.
  void watch_client();
  void on_loop_event(int kind, gateway::error_code ec, std::size_t n) override;

 private:
  friend class WebSocketCycle;
  friend class AsgiApp;

  void accept(gateway::WebSocketAccept accept);  // result: kAccepted
  void start_receive();                          // result: kReceived, in incoming_

  std::shared_ptr<gateway::Exchange> exchange_;
  const boost::asio::any_io_executor io_;  // the exchange's I/O thread, for batched events
  AsgiApp& app_;
  EventLoop& loop_;
  // Written by the I/O thread before it posts the event that announces them.
  std::shared_ptr<gateway::WebSocket> socket_;
  gateway::WebSocketMessage incoming_;
  WebSocketCycle* cycle_ = nullptr;  // loop thread only
};

class WebSocketCycle {
 public:
  static constexpr std::size_t kSendCredit = 64 * 1024;

  WebSocketCycle(std::shared_ptr<WebSocketCore> core, AsgiApp& app);
  ~WebSocketCycle();

  pybind11::object receive();
  pybind11::object send(pybind11::handle message);
  void done(pybind11::handle error);
  void set_task(pybind11::object task) { task_ = std::move(task); }

  void on_accepted(gateway::error_code ec);
  void on_received(gateway::error_code ec);
  void on_sent(gateway::error_code ec, std::size_t n);
  void on_client_gone();

 private:
  enum class State { connecting, accepting, open, closing, closed };

  pybind11::object disconnect_event() const;
  void peer_gone(std::uint16_t code, std::string reason);
  void accept(pybind11::handle message);
  pybind11::object send_message(pybind11::handle message);
  void close(std::uint16_t code, std::string reason);
  void deny(int status);
  [[noreturn]] void raise_closed() const;

  std::shared_ptr<WebSocketCore> core_;
  AsgiApp& app_;
  pybind11::object task_;
  State state_ = State::connecting;
  bool connect_delivered_ = false;
  bool receive_in_flight_ = false;
  bool gone_ = false;  // the peer closed or the link broke: disconnect_event() says how
  std::uint16_t close_code_ = gateway::kCloseAbnormal;
  std::string close_reason_;
  bool finished_ = false;
  ReceiveWaiters receivers_;
  SendWaiter accepter_;  // the send() of websocket.accept, until the handshake is done
  std::size_t unacked_ = 0;
  SendWaiter sender_;  // the send() waiting for the socket
};

}  // namespace junction::bridge
