#include "bridge/asgi_websocket.hpp"

#include <spdlog/spdlog.h>

#include <utility>

#include "bridge/asgi_app.hpp"
#include "bridge/asgi_messages.hpp"
#include "gateway/errors.hpp"

namespace py = pybind11;

namespace junction::bridge {

// ---------------------------------------------------------------------------------------------
// WebSocketCore

WebSocketCore::WebSocketCore(std::shared_ptr<gateway::Exchange> exchange, AsgiApp& app,
                             EventLoop& loop)
    : exchange_(std::move(exchange)), io_(exchange_->executor()), app_(app), loop_(loop) {}

void WebSocketCore::watch_client() {
  exchange_->on_client_gone([weak = std::weak_ptr<WebSocketCore>(shared_from_this())] {
    if (auto core = weak.lock()) core->loop_.post_batched(core->io_, core, kClientGone);
  });
}

void WebSocketCore::accept(gateway::WebSocketAccept accept) {
  exchange_->async_accept_websocket(
      std::move(accept), [self = shared_from_this()](gateway::error_code ec,
                                                     std::shared_ptr<gateway::WebSocket> socket) {
        self->socket_ = std::move(socket);
        self->loop_.post_batched(self->io_, self, kAccepted, ec);
      });
}

void WebSocketCore::start_receive() {
  socket_->async_receive(
      [self = shared_from_this()](gateway::error_code ec, gateway::WebSocketMessage message) {
        self->incoming_ = std::move(message);
        self->loop_.post_batched(self->io_, self, kReceived, ec);
      });
}

void WebSocketCore::on_loop_event(int kind, gateway::error_code ec, std::size_t n) {
  if (kind == kBegin) return app_.begin(shared_from_this());
  if (!cycle_) {
    // The app ended while its accept was on the way: close what it opened.
    if (kind == kAccepted && !ec && socket_)
      socket_->async_close(gateway::kCloseNormal, {}, nullptr);
    return;
  }
  switch (kind) {
    case kAccepted:
      return cycle_->on_accepted(ec);
    case kReceived:
      return cycle_->on_received(ec);
    case kSent:
      return cycle_->on_sent(ec, n);
    case kClientGone:
      return cycle_->on_client_gone();
  }
}

// ---------------------------------------------------------------------------------------------
// WebSocketCycle

WebSocketCycle::WebSocketCycle(std::shared_ptr<WebSocketCore> core, AsgiApp& app)
    : core_(std::move(core)),
      app_(app),
      receivers_(app.support().create_future),
      accepter_(app.support().create_future),
      sender_(app.support().create_future) {
  core_->cycle_ = this;
}

WebSocketCycle::~WebSocketCycle() {
  core_->cycle_ = nullptr;
}

py::object WebSocketCycle::disconnect_event() const {
  const auto& s = app_.support();
  py::dict event;
  event[s.type] = s.websocket_disconnect;
  event[s.code] = close_code_;
  event[s.reason] = close_reason_;
  return event;
}

py::object WebSocketCycle::receive() {
  if (!connect_delivered_) {
    connect_delivered_ = true;
    py::dict event;
    event[app_.support().type] = app_.support().websocket_connect;
    return event;
  }
  if (receivers_.has_ready()) {
    py::object event = receivers_.take_ready();
    if (state_ == State::open && !gone_ && !receive_in_flight_) {
      receive_in_flight_ = true;
      core_->start_receive();
    }
    return event;
  }
  if (gone_ || finished_) return disconnect_event();
  if ((state_ == State::open || state_ == State::closing) && !receive_in_flight_) {
    receive_in_flight_ = true;
    core_->start_receive();
  }
  // Before the accept, a receive() waits for it (or for the client to leave).
  return receivers_.wait();
}

void WebSocketCycle::on_received(gateway::error_code ec) {
  receive_in_flight_ = false;
  auto message = std::move(core_->incoming_);
  if (ec) {
    if (ec == gateway::errc::websocket_closed)
      peer_gone(core_->socket_->close_code(), core_->socket_->close_reason());
    else
      peer_gone(gateway::kCloseAbnormal, {});
    return;
  }
  const auto& s = app_.support();
  py::dict event;
  event[s.type] = s.websocket_receive;
  if (message.text) {
    // The session checked the UTF-8 (RFC 6455 §8.1), so strict decoding cannot fail here.
    PyObject* text = PyUnicode_DecodeUTF8(message.data.data(),
                                          static_cast<Py_ssize_t>(message.data.size()), "strict");
    if (!text) throw py::error_already_set();
    event[s.text] = py::reinterpret_steal<py::object>(text);
  } else {
    event[s.bytes] = py::bytes(message.data);
  }
  // Read the next message ahead while the app handles this one, only when a receive() took
  // it: one waiting at most. (A receive() the app cancelled is still in the queue; reading on
  // for it would let the next message replace this one.)
  if (receivers_.deliver(std::move(event)) && state_ == State::open) {
    receive_in_flight_ = true;
    core_->start_receive();
  }
}

void WebSocketCycle::peer_gone(std::uint16_t code, std::string reason) {
  if (gone_) return;
  gone_ = true;
  close_code_ = code;
  close_reason_ = std::move(reason);
  state_ = State::closed;
  // Messages already here come first; the disconnect follows them.
  if (!receivers_.has_ready()) receivers_.resolve_all([this] { return disconnect_event(); });
  auto error = app_.support().client_disconnected("the WebSocket client disconnected");
  sender_.release(error);
  accepter_.release(error);
}

void WebSocketCycle::on_client_gone() {
  // Before the accept, or a link broken without a close frame (RFC 6455 §7.1.5: 1006).
  if (state_ == State::connecting || state_ == State::accepting)
    peer_gone(gateway::kCloseAbnormal, {});
}

void WebSocketCycle::raise_closed() const {
  PyErr_SetString(app_.support().client_disconnected.ptr(),
                  gone_ ? "the WebSocket client disconnected" : "the WebSocket is closed");
  throw py::error_already_set();
}

py::object WebSocketCycle::send(py::handle message) {
  if (gone_ || finished_) raise_closed();
  py::object type = message_get(message, app_.support().type);
  if (!type) throw py::key_error("an ASGI message needs a 'type'");
  std::string_view kind = message_type(type);
  if (state_ == State::connecting) {
    if (kind == "websocket.accept") {
      accept(message);
      return accepter_.wait();
    }
    if (kind == "websocket.close") {
      // Refused before the handshake: an HTTP 403 (ASGI WebSocket spec, "Close - send event").
      deny(403);
      return py::none();
    }
    throw std::runtime_error(
        "expected ASGI message 'websocket.accept' or 'websocket.close', got '" + std::string(kind) +
        "'");
  }
  if (state_ == State::open && kind == "websocket.send") return send_message(message);
  if (state_ == State::open && kind == "websocket.close") {
    py::object code = message_get(message, app_.support().code);
    py::object reason = message_get(message, app_.support().reason);
    close(code ? code.cast<std::uint16_t>() : gateway::kCloseNormal,
          reason ? reason.cast<std::string>() : std::string());
    return py::none();
  }
  if (state_ == State::closing || state_ == State::closed) raise_closed();
  throw std::runtime_error("unexpected ASGI message '" + std::string(kind) + "' on a WebSocket");
}

void WebSocketCycle::accept(py::handle message) {
  const auto& s = app_.support();
  gateway::WebSocketAccept accept;
  if (py::object subprotocol = message_get(message, s.subprotocol))
    accept.subprotocol = subprotocol.cast<std::string>();
  accept.headers = header_list(message_get(message, s.headers), "websocket.accept headers");
  state_ = State::accepting;
  core_->accept(std::move(accept));
}

void WebSocketCycle::on_accepted(gateway::error_code ec) {
  if (ec) {
    if (ec != gateway::errc::client_gone)
      app_.report("the WebSocket handshake failed: " + ec.message(), core_->exchange_->request());
    peer_gone(gateway::kCloseAbnormal, {});
    return;
  }
  state_ = State::open;
  accepter_.release();
  // Start reading at once: the client's close or first message is then noticed even while
  // the app only sends.
  receive_in_flight_ = true;
  core_->start_receive();
}

py::object WebSocketCycle::send_message(py::handle message) {
  const auto& s = app_.support();
  gateway::WebSocketMessage out;
  if (py::object bytes = message_get(message, s.bytes)) {
    out.data = byte_string(bytes, "websocket.send 'bytes'");
  } else if (py::object text = message_get(message, s.text)) {
    if (!PyUnicode_Check(text.ptr())) throw py::type_error("websocket.send 'text' must be a str");
    out.text = true;
    out.data = text.cast<std::string>();
  } else {
    throw py::value_error("websocket.send needs 'bytes' or 'text'");
  }
  auto size = out.data.size();
  unacked_ += size;
  core_->socket_->async_send(std::move(out), [core = core_, size](gateway::error_code ec) {
    core->loop_.post_batched(core->io_, core, WebSocketCore::kSent, ec, size);
  });
  if (unacked_ <= kSendCredit) return py::none();
  return sender_.wait();
}

void WebSocketCycle::on_sent(gateway::error_code ec, std::size_t n) {
  unacked_ -= std::min(unacked_, n);
  if (ec) {
    sender_.release(app_.support().client_disconnected("the WebSocket is closed"));
    return;
  }
  if (unacked_ <= kSendCredit) sender_.release();
}

void WebSocketCycle::close(std::uint16_t code, std::string reason) {
  state_ = State::closing;
  // Control frame payloads are at most 125 bytes, 2 of them the code (RFC 6455 §5.5).
  if (reason.size() > 123) reason.resize(123);
  core_->socket_->async_close(code, std::move(reason), nullptr);
  // The peer's answering close frame ends the receive loop: the app sees websocket.disconnect.
}

void WebSocketCycle::deny(int status) {
  state_ = State::closed;
  gone_ = true;
  auto& exchange = *core_->exchange_;
  exchange.start({status, {{"Content-Type", "text/plain; charset=utf-8"}}});
  exchange.async_write(status == 403 ? "403 Forbidden\n" : "500 Internal Server Error\n", true,
                       nullptr);
}

void WebSocketCycle::done(py::handle error) {
  finished_ = true;
  const auto& request = core_->exchange_->request();
  bool failed = error && !error.is_none();
  if (failed) {
    bool cancelled = PyObject_IsInstance(error.ptr(), app_.support().cancelled_error.ptr()) == 1;
    if (!cancelled) app_.report(error, request, gone_);
  }
  switch (state_) {
    case State::connecting:
      // No accept and no close: the handshake is refused with an error (as uvicorn does).
      if (!failed) app_.report("the ASGI app returned without accepting the WebSocket", request);
      deny(500);
      break;
    case State::accepting:
    case State::open:
      // Ended without a close: 1011 when it failed, else a normal close (RFC 6455 §7.4.1).
      if (core_->socket_ && !gone_)
        core_->socket_->async_close(failed ? gateway::kCloseInternalError : gateway::kCloseNormal,
                                    {}, nullptr);
      break;
    case State::closing:
    case State::closed:
      break;
  }
  receivers_.resolve_all([this] { return disconnect_event(); });
  sender_.release(app_.support().client_disconnected("the WebSocket is over"));
  accepter_.cancel();
  receivers_.drop_ready();
  task_ = py::object();
  core_->cycle_ = nullptr;
  core_->exchange_.reset();
  app_.finished();
}

}  // namespace junction::bridge
