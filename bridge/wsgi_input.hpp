// wsgi.input (PEP 3333 "Input and Error Streams"): the request body, streamed from the
// Exchange's body source. Bytes are pulled only when the app reads, so a large upload never
// sits in memory and the client is held back by TCP (or HTTP/2 flow control) meanwhile; the
// first read is what answers `Expect: 100-continue`. The GIL is released while a read waits.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <optional>
#include <string>

#include "gateway/exchange.hpp"

namespace junction::bridge {

class WsgiInput {
 public:
  explicit WsgiInput(std::shared_ptr<gateway::Exchange> exchange);

  // size < 0 or None: everything up to the end of the body.
  pybind11::bytes read(std::optional<long long> size);
  pybind11::bytes readline(std::optional<long long> size);
  pybind11::list readlines(std::optional<long long> hint);
  pybind11::bytes next();  // iteration: a line, StopIteration at the end

  // The request is over: the app may keep wsgi.input (Django's request objects live on in
  // reference cycles until a garbage collection), but not the connection behind it.
  void finish_request() noexcept;

  // The last body error other than the end of the body (client gone, too large, timeout).
  bool failed() const noexcept { return failed_; }

 private:
  std::size_t buffered() const noexcept { return buffer_.size() - begin_; }
  // Reads more of the body into the buffer: at least one byte unless the body is over.
  void fill(std::size_t want);
  pybind11::bytes take(std::size_t n);
  [[noreturn]] void raise_body_error() const;

  std::shared_ptr<gateway::Exchange> exchange_;
  std::string buffer_;
  std::size_t begin_ = 0;
  bool eof_ = false;
  bool failed_ = false;
  bool reading_ = false;
  gateway::error_code error_;
};

}  // namespace junction::bridge
