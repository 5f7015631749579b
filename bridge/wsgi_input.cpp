#include "bridge/wsgi_input.hpp"

#include <algorithm>
#include <cstring>

#include "bridge/blocking_call.hpp"

namespace py = pybind11;

namespace junction::bridge {
namespace {

// One read asks for at least this much: fewer round trips to the I/O thread for small reads.
constexpr std::size_t kMinRead = 64 * 1024;
// And at most this much, so read(huge) still streams through a bounded buffer step.
constexpr std::size_t kMaxRead = 1024 * 1024;

}  // namespace

WsgiInput::WsgiInput(std::shared_ptr<gateway::Exchange> exchange) : exchange_(std::move(exchange)) {
  eof_ = !exchange_->request().has_body;
}

void WsgiInput::finish_request() noexcept {
  exchange_.reset();
  buffer_ = {};
  begin_ = 0;
  eof_ = true;
}

void WsgiInput::fill(std::size_t want) {
  if (eof_) return;
  if (failed_) raise_body_error();
  if (reading_) throw std::runtime_error("wsgi.input read from two threads at once");
  // Keep the buffer compact: drop what was consumed before growing it.
  if (begin_ > 0 && begin_ >= buffer_.size() / 2) {
    buffer_.erase(0, begin_);
    begin_ = 0;
  }
  std::size_t size = std::clamp(want, kMinRead, kMaxRead);
  std::size_t old = buffer_.size();
  buffer_.resize(old + size);
  reading_ = true;
  BlockingCall call;
  gateway::error_code ec;
  {
    py::gil_scoped_release release;
    exchange_->async_read_body(std::span<char>(buffer_.data() + old, size), call.read_handler());
    ec = call.wait();
  }
  reading_ = false;
  buffer_.resize(old + (ec ? 0 : call.transferred()));
  if (ec == gateway::errc::end_of_body) {
    eof_ = true;
  } else if (ec) {
    failed_ = true;
    error_ = ec;
    raise_body_error();
  }
}

void WsgiInput::raise_body_error() const {
  // OSError, as a failing socket read would raise; frameworks treat it as a broken request.
  PyErr_Format(PyExc_OSError, "reading the request body failed: %s", error_.message().c_str());
  throw py::error_already_set();
}

py::bytes WsgiInput::take(std::size_t n) {
  n = std::min(n, buffered());
  py::bytes out(buffer_.data() + begin_, n);
  begin_ += n;
  if (begin_ == buffer_.size()) {
    buffer_.clear();
    begin_ = 0;
  }
  return out;
}

py::bytes WsgiInput::read(std::optional<long long> size) {
  if (!size || *size < 0) {
    while (!eof_) fill(kMaxRead);
    return take(buffered());
  }
  auto want = static_cast<std::size_t>(*size);
  while (buffered() < want && !eof_) fill(want - buffered());
  return take(want);
}

py::bytes WsgiInput::readline(std::optional<long long> size) {
  std::size_t limit = (!size || *size < 0) ? std::string::npos : static_cast<std::size_t>(*size);
  std::size_t scanned = 0;
  while (true) {
    const char* start = buffer_.data() + begin_;
    std::size_t available = std::min(buffered(), limit);
    if (const void* nl = std::memchr(start + scanned, '\n', available - scanned))
      return take(static_cast<const char*>(nl) - start + 1);
    if (available == limit || eof_) return take(available);
    scanned = available;
    fill(limit == std::string::npos ? kMinRead : limit - available);
  }
}

py::list WsgiInput::readlines(std::optional<long long> hint) {
  py::list lines;
  std::size_t total = 0;
  std::size_t stop = (!hint || *hint <= 0) ? std::string::npos : static_cast<std::size_t>(*hint);
  while (total < stop) {
    py::bytes line = readline(std::nullopt);
    auto length = static_cast<std::size_t>(PyBytes_GET_SIZE(line.ptr()));
    if (length == 0) break;
    total += length;
    lines.append(std::move(line));
  }
  return lines;
}

py::bytes WsgiInput::next() {
  py::bytes line = readline(std::nullopt);
  if (PyBytes_GET_SIZE(line.ptr()) == 0) throw py::stop_iteration();
  return line;
}

}  // namespace junction::bridge
