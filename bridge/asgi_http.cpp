#include "bridge/asgi_http.hpp"

#include <spdlog/spdlog.h>

#include <functional>
#include <optional>
#include <string_view>
#include <utility>

#include "bridge/asgi_app.hpp"
#include "bridge/asgi_messages.hpp"
#include "bridge/borrowed_bytes.hpp"
#include "gateway/errors.hpp"
#include "gateway/log_tag.hpp"

namespace py = pybind11;

namespace junction::bridge {

// ---------------------------------------------------------------------------------------------
// HttpCore

HttpCore::HttpCore(std::shared_ptr<gateway::Exchange> exchange, AsgiApp& app, EventLoop& loop)
    : exchange_(std::move(exchange)), io_(exchange_->executor()), app_(app), loop_(loop) {
  if (exchange_->request().has_body) buffer_.reset(new char[kReadSize]);
}

void HttpCore::start_read() {
  start_read(*exchange_);
}

void HttpCore::start_read(gateway::Exchange& exchange) {
  exchange.async_read_body({buffer_.get(), kReadSize},
                           [self = shared_from_this()](gateway::error_code ec, std::size_t n) {
                             self->loop_.post_batched(self->io_, self, kBodyRead, ec, n);
                           });
}

void HttpCore::finish_body() {
  exchange_->async_read_body({buffer_.get(), 0},
                             [self = shared_from_this()](gateway::error_code, std::size_t) {});
}

void HttpCore::on_loop_event(int kind, gateway::error_code ec, std::size_t n) {
  if (kind == kBegin) return app_.begin(shared_from_this());
  if (!cycle_) return;  // the app is done with this request
  switch (kind) {
    case kBodyRead:
      return cycle_->on_body_read(ec, n);
    case kWritten:
      return cycle_->on_written(ec, n);
    case kClientGone:
      return cycle_->on_client_gone();
    case kTimedOut:
      return cycle_->on_timed_out();
  }
}

// ---------------------------------------------------------------------------------------------
// HttpCycle

HttpCycle::HttpCycle(std::shared_ptr<HttpCore> core, AsgiApp& app)
    : core_(std::move(core)),
      app_(app),
      receivers_(app.support().create_future),
      sender_(app.support().create_future) {
  core_->cycle_ = this;
  // The read handle() started ahead (see AsgiApp::handle) is ours to await.
  read_in_flight_ = core_->read_ahead_;
}

HttpCycle::~HttpCycle() {
  core_->cycle_ = nullptr;
}

py::object HttpCycle::request_event(py::object body, bool more) {
  const auto& s = app_.support();
  py::dict event;
  event[s.type] = s.http_request;
  event[s.body] = std::move(body);
  event[s.more_body] = py::bool_(more);
  return event;
}

py::object HttpCycle::disconnect_event() const {
  py::dict event;
  event[app_.support().type] = app_.support().http_disconnect;
  return event;
}

py::object HttpCycle::receive() {
  // Spec 2.4: once the response is sent or the client is gone, receive() says disconnect.
  if (client_gone_ || response_ == Response::complete || finished_) return disconnect_event();
  if (receivers_.has_ready()) {
    if (!body_over_ && !read_in_flight_) {
      read_in_flight_ = true;
      core_->start_read();
    }
    return receivers_.take_ready();
  }
  const auto& request = core_->exchange_->request();
  if (!body_over_ && !request.has_body) {
    body_over_ = true;
    return request_event(py::bytes(), false);
  }
  // After the whole body, receive() waits for the disconnect (as uvicorn does), which comes
  // when the client leaves or the response is complete.
  if (!body_over_ && !read_in_flight_) {
    read_in_flight_ = true;
    core_->start_read();
  }
  return receivers_.wait();
}

void HttpCycle::on_body_read(gateway::error_code ec, std::size_t n) {
  read_in_flight_ = false;
  if (ec && ec != gateway::errc::end_of_body) {
    // The client left, or its body broke (too large, too slow, bad framing): the connection
    // answers that itself; for the app it is a disconnect.
    disconnected();
    return;
  }
  received_ += n;
  const auto& length = core_->exchange_->request().content_length;
  // The end is known without another read when the length was declared.
  bool more = !ec && !(length && received_ >= *length);
  py::object body = n ? py::bytes(core_->buffer_.get(), n) : py::bytes();
  body_over_ = !more;
  // Ended by its length: one more (empty) read lets the connection see the end of the message,
  // so it watches the socket for a client that leaves while the app works. Nobody waits for it.
  if (!more && !ec) core_->finish_body();
  // Read ahead only when the piece went to a waiting receive(): at most one piece waits here
  // and one read is in flight, whatever the app's pace (receive() reads on when it takes the
  // waiting one).
  if (receivers_.deliver(request_event(std::move(body), more)) && more) {
    read_in_flight_ = true;
    core_->start_read();
  }
}

void HttpCycle::resolve_receivers() {
  receivers_.resolve_all([this] { return disconnect_event(); });
}

void HttpCycle::disconnected() {
  if (client_gone_) return;
  client_gone_ = true;
  resolve_receivers();
  sender_.release(app_.support().client_disconnected("the client disconnected"));
}

void HttpCycle::on_client_gone() {
  disconnected();
}

void HttpCycle::on_timed_out() {
  if (finished_) return;
  timed_out_ = true;
  const auto& request = core_->exchange_->request();
  spdlog::warn(
      "{}: {} has not started its response after {:g}s (--request-timeout): answered 504, "
      "cancelling its task",
      gateway::LogTag{request}, app_.name(), app_.request_timeout().count());
  disconnected();
  if (task_) task_.attr("cancel")();
}

void HttpCycle::on_written(gateway::error_code ec, std::size_t n) {
  unacked_ -= std::min(unacked_, n);
  if (ec) {
    if (ec != gateway::errc::client_gone)
      app_.report("the response could not be sent: " + ec.message(), core_->exchange_->request());
    disconnected();
    return;
  }
  if (unacked_ <= kSendCredit) sender_.release();
}

void HttpCycle::raise_closed() const {
  const char* why = timed_out_     ? "the request timed out (--request-timeout)"
                    : client_gone_ ? "the client disconnected"
                                   : "the response is already complete";
  PyErr_SetString(app_.support().client_disconnected.ptr(), why);
  throw py::error_already_set();
}

py::object HttpCycle::send(py::handle message) {
  if (client_gone_ || finished_) raise_closed();
  py::object type = message_get(message, app_.support().type);
  if (!type) throw py::key_error("an ASGI message needs a 'type'");
  std::string_view kind = message_type(type);
  switch (response_) {
    case Response::none:
      if (kind != "http.response.start") break;
      start_response(message);
      return py::none();
    case Response::started:
    case Response::streaming:
      if (kind != "http.response.body") break;
      return send_body(message);
    case Response::trailers:
      if (kind != "http.response.trailers") break;
      send_trailers(message);
      return py::none();
    case Response::complete:
      raise_closed();
  }
  static const char* const expected[] = {"http.response.start", "http.response.body",
                                         "http.response.body", "http.response.trailers"};
  throw std::runtime_error("expected ASGI message '" +
                           std::string(expected[static_cast<int>(response_)]) + "', got '" +
                           std::string(kind) + "'");
}

void HttpCycle::start_response(py::handle message) {
  const auto& s = app_.support();
  py::object status = message_get(message, s.status);
  if (!status || !PyLong_Check(status.ptr()))
    throw py::type_error("http.response.start needs an int 'status'");
  head_.status = status.cast<int>();
  if (head_.status < 100 || head_.status > 999)
    throw py::value_error("http.response.start: status " + std::to_string(head_.status) +
                          " is not a 3-digit HTTP status");
  head_.headers = header_list(message_get(message, s.headers), "http.response.start headers");
  check_fields(head_.headers, "http.response.start");
  trailers_ = truthy(message_get(message, s.trailers));
  // Nothing goes to the connection yet: the head leaves with the first body bytes, in one hop.
  response_ = Response::started;
}

void HttpCycle::to_connection(std::function<void(gateway::Exchange&)> op) {
  // Through the loop's outbox: a round of responses reaches each I/O thread in one hand-off.
  // The exchange travels with the operation, so dropping ours afterwards is safe.
  auto exchange = core_->exchange_;
  auto io = exchange->executor();
  core_->loop_.send_to_io(io,
                          [exchange = std::move(exchange), op = std::move(op)] { op(*exchange); });
}

py::object HttpCycle::send_body(py::handle message) {
  const auto& s = app_.support();
  py::object body = message_get(message, s.body);
  // bytes, the usual body, are sent as they are (borrowed); bytearray and memoryview may
  // change after send() returns, so they are copied.
  gateway::BodyPiece chunk;
  if (body && PyBytes_Check(body.ptr()))
    chunk = body_piece(body.ptr());
  else if (body)
    chunk = byte_string(body, "http.response.body 'body'");
  bool more = truthy(message_get(message, s.more_body));
  std::optional<gateway::ResponseHead> head;
  if (response_ == Response::started) {
    head = std::exchange(head_, {});
    response_ = Response::streaming;
  }
  if (!more && !trailers_) {
    // The last piece: nobody waits for it, so no handler and no hop back; with the head, the
    // whole response is one operation.
    to_connection(
        [head = std::move(head), chunk = std::move(chunk)](gateway::Exchange& exchange) mutable {
          if (head) exchange.start(std::move(*head));
          exchange.async_write(std::move(chunk), true, nullptr);
        });
    response_ = Response::complete;
    resolve_receivers();
    return py::none();
  }
  if (!more) response_ = Response::trailers;
  auto size = chunk.size();
  unacked_ += size;
  to_connection([head = std::move(head), chunk = std::move(chunk), core = core_,
                 size](gateway::Exchange& exchange) mutable {
    if (head) exchange.start(std::move(*head));
    if (chunk.empty()) return;
    exchange.async_write(std::move(chunk), false, [core, size](gateway::error_code ec) {
      core->loop_.post_batched(core->io_, core, HttpCore::kWritten, ec, size);
    });
  });
  if (unacked_ <= kSendCredit) return py::none();
  return sender_.wait();
}

void HttpCycle::send_trailers(py::handle message) {
  const auto& s = app_.support();
  auto trailers = header_list(message_get(message, s.headers), "http.response.trailers headers");
  check_fields(trailers, "http.response.trailers");
  // Several trailer messages may come (more_trailers); they go out together at the end.
  for (auto& field : trailers) head_.headers.push_back(std::move(field));
  if (truthy(message_get(message, s.more_trailers))) return;
  to_connection([trailers = std::move(head_.headers)](gateway::Exchange& exchange) mutable {
    exchange.async_finish(std::move(trailers), nullptr);
  });
  response_ = Response::complete;
  resolve_receivers();
}

void HttpCycle::answer_500() {
  to_connection([](gateway::Exchange& exchange) {
    exchange.start({500, {{"Content-Type", "text/plain; charset=utf-8"}}});
    exchange.async_write("500 Internal Server Error\n", true, nullptr);
  });
}

void HttpCycle::abort() {
  to_connection([](gateway::Exchange& exchange) { exchange.abort(); });
}

void HttpCycle::done(py::handle error) {
  finished_ = true;
  const auto& request = core_->exchange_->request();
  bool head_sent = response_ == Response::streaming || response_ == Response::trailers;
  if (error && !error.is_none()) {
    bool cancelled = PyObject_IsInstance(error.ptr(), app_.support().cancelled_error.ptr()) == 1;
    if (cancelled && timed_out_)
      spdlog::info("{}: {}: task cancelled after its 504 (--request-timeout)",
                   gateway::LogTag{request}, app_.name());
    else if (cancelled)
      spdlog::info("{}: cancelled (server shutting down)", gateway::LogTag{request});
    else
      app_.report(error, request, client_gone_);
    if (client_gone_) {
    } else if (response_ == Response::none || response_ == Response::started) {
      answer_500();
    } else if (head_sent) {
      abort();
    }
  } else if (!client_gone_) {
    if (response_ == Response::none || response_ == Response::started) {
      app_.report("the ASGI app returned without sending a response", request);
      answer_500();
    } else if (head_sent) {
      app_.report("the ASGI app returned without completing its response", request);
      abort();
    }
  }
  resolve_receivers();
  sender_.release(app_.support().client_disconnected("the request is over"));
  receivers_.drop_ready();
  task_ = py::object();
  core_->cycle_ = nullptr;
  if (core_->timed_) core_->timed_->finish();
  core_->timed_.reset();
  core_->exchange_.reset();
  app_.finished();
}

}  // namespace junction::bridge
