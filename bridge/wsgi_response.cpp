#include "bridge/wsgi_response.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <charconv>
#include <string_view>

#include "bridge/blocking_call.hpp"
#include "bridge/borrowed_bytes.hpp"
#include "gateway/errors.hpp"
#include "gateway/fields.hpp"
#include "gateway/log_tag.hpp"
#include "gateway/text.hpp"

namespace py = pybind11;

namespace junction::bridge {
namespace {

[[noreturn]] void raise(PyObject* type, const std::string& message) {
  PyErr_SetString(type, message.c_str());
  throw py::error_already_set();
}

// A native string (PEP 3333 "Unicode Issues"): a str whose code points fit in latin-1.
std::string native_string(py::handle value, const char* what) {
  if (!PyUnicode_Check(value.ptr()))
    raise(PyExc_TypeError,
          fmt::format("{} must be a str, not {}", what, Py_TYPE(value.ptr())->tp_name));
  PyObject* encoded = PyUnicode_AsLatin1String(value.ptr());
  if (!encoded) {
    PyErr_Clear();
    raise(PyExc_ValueError, fmt::format("{} must be latin-1 text (PEP 3333)", what));
  }
  std::string out(PyBytes_AS_STRING(encoded), static_cast<std::size_t>(PyBytes_GET_SIZE(encoded)));
  Py_DECREF(encoded);
  return out;
}

// Runs `op` on the exchange's I/O thread. Every call the response makes goes this way, so that
// the exchange sees them in the app's order even while earlier writes are still on their way
// (pieces do not wait for the connection: WsgiResponse::kSendCredit): an exchange that decides on
// the first write, as the fall-through does, must see the head's start() before it. On that thread
// the HTTP/1 and HTTP/2 exchanges run the call inline, so this is the one hop the call made anyway.
template <class Op>
void post_to(const std::shared_ptr<gateway::Exchange>& exchange, Op op) {
  boost::asio::post(exchange->executor(),
                    [exchange, op = std::move(op)]() mutable { op(*exchange); });
}

}  // namespace

WsgiResponse::WsgiResponse(std::shared_ptr<gateway::Exchange> exchange)
    : exchange_(std::move(exchange)) {}

void WsgiResponse::require_started() const {
  if (!started_)
    raise(PyExc_AssertionError,
          "the app sent a response body before calling start_response() (PEP 3333)");
}

py::object WsgiResponse::start_response(py::object self, py::object status, py::object headers,
                                        py::object exc_info) {
  if (over_) raise(PyExc_RuntimeError, "start_response() called after the request ended");
  if (!exc_info.is_none()) {
    // PEP 3333: with exc_info, start_response may replace a head not yet sent; once it is
    // sent, it must re-raise the app's exception so the request ends.
    if (head_sent_) {
      py::object type = exc_info[py::int_(0)];
      py::object value = exc_info[py::int_(1)];
      py::object trace = exc_info[py::int_(2)];
      PyErr_Restore(type.release().ptr(), value.release().ptr(),
                    trace.is_none() ? nullptr : trace.release().ptr());
      throw py::error_already_set();
    }
  } else if (started_) {
    raise(PyExc_AssertionError,
          "start_response() called a second time without exc_info (PEP 3333)");
  }

  std::string status_line = native_string(status, "the status");
  int code = 0;
  auto [end, ec] = std::from_chars(
      status_line.data(), status_line.data() + std::min<std::size_t>(3, status_line.size()), code);
  if (ec != std::errc() || end != status_line.data() + 3 ||
      (status_line.size() > 3 && status_line[3] != ' ') || code < 200)
    raise(PyExc_ValueError,
          fmt::format("bad status '{}': expected a final status like '200 OK'", status_line));

  gateway::ResponseHead head;
  head.status = code;
  std::optional<std::uint64_t> declared;
  py::object items = py::reinterpret_steal<py::object>(
      PySequence_Fast(headers.ptr(), "response_headers must be a list of (name, value) tuples"));
  if (!items) throw py::error_already_set();
  Py_ssize_t count = PySequence_Fast_GET_SIZE(items.ptr());
  head.headers.reserve(static_cast<std::size_t>(count));
  for (Py_ssize_t i = 0; i < count; ++i) {
    py::handle item = PySequence_Fast_GET_ITEM(items.ptr(), i);
    if (!PyTuple_Check(item.ptr()) || PyTuple_GET_SIZE(item.ptr()) != 2)
      raise(PyExc_TypeError, "each response header must be a (name, value) tuple");
    std::string name = native_string(PyTuple_GET_ITEM(item.ptr(), 0), "a header name");
    std::string value = native_string(PyTuple_GET_ITEM(item.ptr(), 1), "a header value");
    if (!gateway::valid_field_name(name))
      raise(PyExc_ValueError, fmt::format("bad header name '{}'", name));
    if (!gateway::valid_field_value(value))
      raise(PyExc_ValueError,
            fmt::format("header '{}' has a line break or NUL in its value", name));
    // PEP 3333, "Other HTTP Features": the server owns the connection.
    if (gateway::is_hop_by_hop(name))
      raise(
          PyExc_ValueError,
          fmt::format("hop-by-hop header '{}' is not allowed in a WSGI response (PEP 3333)", name));
    if (gateway::iequals(name, "content-length")) {
      declared = gateway::parse_content_length(value);
      if (!declared) raise(PyExc_ValueError, fmt::format("bad Content-Length '{}'", value));
    }
    head.headers.emplace_back(std::move(name), std::move(value));
  }
  head_ = std::move(head);
  declared_length_ = declared;
  started_ = true;
  return self.attr("write");
}

void WsgiResponse::write(py::object data) {
  if (over_) raise(PyExc_RuntimeError, "write() called after the request ended");
  require_started();
  if (!PyBytes_Check(data.ptr()))
    raise(PyExc_TypeError,
          fmt::format("write() takes bytes, not {}", Py_TYPE(data.ptr())->tp_name));
  send_head();
  if (!send_chunk(body_piece(data.ptr()), false) && client_gone_)
    raise(PyExc_OSError, "the client went away");
}

void WsgiResponse::send_head() {
  if (head_sent_) return;
  head_sent_ = true;
  post_to(exchange_, [head = std::move(head_)](gateway::Exchange& exchange) mutable {
    exchange.start(std::move(head));  // not needed here once sent
  });
}

// The head, when it has not gone yet, and the piece reach the connection in one hop. Each hop
// may wake the I/O thread: on one core it then preempts this thread, and Asio wakes it while
// holding its scheduler's lock, which the woken thread blocks on at once (docs/benchmarks.md,
// "WSGI apps that take a while"). Apps that answer in one piece make a single hop a request.
void WsgiResponse::write_to_connection(gateway::BodyPiece chunk, bool last,
                                       gateway::Exchange::Handler handler) {
  std::optional<gateway::ResponseHead> head;
  if (!head_sent_) head = std::move(head_);
  head_sent_ = true;
  post_to(exchange_, [head = std::move(head), chunk = std::move(chunk), last,
                      handler = std::move(handler)](gateway::Exchange& exchange) mutable {
    if (head) exchange.start(std::move(*head));
    exchange.async_write(std::move(chunk), last, std::move(handler));
  });
}

bool WsgiResponse::send_chunk(gateway::BodyPiece chunk, bool last) {
  if (client_gone_) return false;
  if (complete_) {
    if (chunk.empty()) return true;
    spdlog::warn("{}: the app sent more than its Content-Length; the rest is dropped",
                 gateway::LogTag{exchange_->request()});
    return false;
  }
  if (declared_length_) {
    // The app said how long the body is: its last byte ends the body, so that write need not
    // wait, and anything past it is cut here (the sink would refuse it too).
    std::uint64_t left = *declared_length_ - sent_;
    if (chunk.size() > left) {
      spdlog::warn("{}: the app sent more than its Content-Length; the rest is dropped",
                   gateway::LogTag{exchange_->request()});
      chunk.truncate(left);
    }
    if (chunk.size() == left) last = true;
  }
  sent_ += chunk.size();
  if (earlier_write_failed()) return false;
  if (last) {
    complete_ = true;
    write_to_connection(std::move(chunk), true, nullptr);
    return true;
  }
  if (!credit_) credit_.emplace();
  auto size = chunk.size();
  write_to_connection(std::move(chunk), false, credit_->take(size));
  gateway::error_code ec;
  if (credit_->in_flight() > kSendCredit) {
    py::gil_scoped_release release;
    ec = credit_->wait_until_at_most(kSendCredit);
  }
  // The app bytes the connection has sent meanwhile can go (a long stream would pile them up).
  release_deferred();
  if (ec) return write_failed(ec);
  return true;
}

bool WsgiResponse::write_failed(gateway::error_code ec) {
  if (ec == gateway::errc::client_gone)
    client_gone_ = true;
  else
    spdlog::warn("{}: response write failed: {}", gateway::LogTag{exchange_->request()},
                 ec.message());
  complete_ = true;
  return false;
}

bool WsgiResponse::earlier_write_failed() {
  if (!credit_) return false;
  auto ec = credit_->failure();
  if (!ec) return false;
  write_failed(ec);
  return true;
}

bool WsgiResponse::send_file(py::handle wrapper) {
  // Only a regular file with a descriptor can go through sendfile(2); anything else iterates.
  int fd = -1;
  std::uint64_t offset = 0;
  struct stat st {};
  try {
    py::object filelike = wrapper.attr("filelike");
    if (!py::hasattr(filelike, "fileno")) return false;
    fd = filelike.attr("fileno")().cast<int>();
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return false;
    // The logical position, which counts what a buffered reader already took: sendfile(2)
    // is given this offset and leaves the descriptor's own position alone.
    if (py::hasattr(filelike, "tell")) offset = filelike.attr("tell")().cast<std::uint64_t>();
  } catch (py::error_already_set&) {
    return false;  // io.UnsupportedOperation and friends: not a plain file
  }
  std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
  std::uint64_t count = offset < size ? size - offset : 0;
  if (declared_length_) count = std::min(count, *declared_length_ - sent_);
  require_started();
  send_head();
  BlockingCall call;
  gateway::error_code ec;
  {
    py::gil_scoped_release release;
    post_to(exchange_,
            [fd, offset, count, handler = call.handler()](gateway::Exchange& exchange) mutable {
              exchange.async_send_file(fd, offset, count, true, std::move(handler));
            });
    ec = call.wait();
  }
  if (ec == gateway::errc::unsupported) return false;
  complete_ = true;
  sent_ += count;
  if (ec == gateway::errc::client_gone) {
    client_gone_ = true;
  } else if (ec) {
    spdlog::warn("{}: sending the file failed: {}", gateway::LogTag{exchange_->request()},
                 ec.message());
  }
  return true;
}

void WsgiResponse::send(py::handle result, py::handle file_wrapper_type) {
  // PEP 3333 "Handling the Content-Length Header": a one-element list is the whole body, so
  // it leaves with a Content-Length and in the same write as the head.
  if ((PyList_CheckExact(result.ptr()) || PyTuple_CheckExact(result.ptr())) &&
      PySequence_Fast_GET_SIZE(result.ptr()) == 1 && !head_sent_) {
    py::handle item = PySequence_Fast_GET_ITEM(result.ptr(), 0);
    if (PyBytes_Check(item.ptr())) {
      require_started();
      send_chunk(body_piece(item.ptr()), true);
      return;
    }
  }
  if (!head_sent_ && started_ && PyObject_IsInstance(result.ptr(), file_wrapper_type.ptr()) == 1 &&
      send_file(result))
    return;

  py::iterator it = py::iter(result);
  while (true) {
    PyObject* raw = PyIter_Next(it.ptr());
    if (!raw) {
      if (PyErr_Occurred()) throw py::error_already_set();
      break;
    }
    py::object item = py::reinterpret_steal<py::object>(raw);
    if (!PyBytes_Check(item.ptr()))
      raise(PyExc_TypeError, fmt::format("the response iterable yielded {}, not bytes",
                                         Py_TYPE(item.ptr())->tp_name));
    auto size = static_cast<std::size_t>(PyBytes_GET_SIZE(item.ptr()));
    if (size == 0) continue;  // PEP 3333: empty chunks send nothing, not even the head
    require_started();
    if (!send_chunk(body_piece(item.ptr()), false)) return;
  }
  if (complete_) return;
  require_started();
  if (earlier_write_failed()) return;
  send_head();
  complete_ = true;
  post_to(exchange_, [](gateway::Exchange& exchange) { exchange.async_finish({}, nullptr); });
}

void WsgiResponse::fail() {
  // A 500 while nothing was sent; a cut response (closed connection, RST_STREAM) after. A
  // response already complete stays as it is: the sink ignores the abort, which it sees after
  // the last write.
  complete_ = true;
  post_to(exchange_, [](gateway::Exchange& exchange) { exchange.abort(); });
}

}  // namespace junction::bridge
