// The response side of one WSGI request (PEP 3333 "The start_response() Callable" and
// "Buffering and Streaming"): start_response, the write() callable, and the sending of the
// iterable the app returns, onto the Exchange's response sink.
//
// The head goes out with the first non-empty chunk (or write()), so an app may still replace it
// (start_response with exc_info) until then. A piece goes to the connection without waiting
// while at most kSendCredit bytes are unacknowledged by it; past that the app waits, with the GIL
// released, for the connection to take them (its backpressure). A write that ends the body never
// waits. Pieces of 16 KiB or more are sent from the app's bytes objects, without a copy
// (bridge/borrowed_bytes.hpp).
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "bridge/write_credit.hpp"
#include "gateway/exchange.hpp"

namespace junction::bridge {

class WsgiResponse {
 public:
  // Waiting for the connection to take every piece is a round trip through both threads per
  // piece: 64 pieces of 200 bytes took 730 µs of CPU a response, and a 1 MiB stream in 64 KiB
  // pieces 33 context switches. Pieces go on without waiting while up to this many bytes are on
  // their way, so a response of up to 1 MiB leaves the pool thread free for the next request
  // once its last piece is handed over. What runs ahead costs references, not copies: the large
  // pieces are the app's own bytes objects (docs/benchmarks.md, "Every row in one command", the
  // streaming entry, for the figures: with copies, running ahead was slower).
  static constexpr std::size_t kSendCredit = 1024 * 1024;

  explicit WsgiResponse(std::shared_ptr<gateway::Exchange> exchange);

  // start_response(status, response_headers, exc_info=None) -> write
  pybind11::object start_response(pybind11::object self, pybind11::object status,
                                  pybind11::object headers, pybind11::object exc_info);
  // The write() callable start_response returns: sends at once (PEP 3333 requires it).
  void write(pybind11::object data);

  // Sends what the app returned. Stops early, without raising, if the client went away.
  // Python exceptions from the iteration propagate.
  void send(pybind11::handle result, pybind11::handle file_wrapper_type);

  // The app failed: a 500 if nothing was sent, else a cut response.
  void fail();

  // The request is over: later calls from a misbehaving app raise instead of touching the
  // connection, which this no longer keeps alive.
  void finish_request() noexcept {
    over_ = true;
    exchange_.reset();
  }

  bool head_sent() const noexcept { return head_sent_; }
  bool client_gone() const noexcept { return client_gone_; }

 private:
  // Sends one chunk; `last` ends the body. Returns false once the response cannot continue.
  bool send_chunk(gateway::BodyPiece chunk, bool last);
  // A piece the connection took earlier failed: the response cannot continue. Returns false.
  bool write_failed(gateway::error_code ec);
  // A piece that did not wait (kSendCredit) failed on its way: nothing more may follow
  // it. Records the failure as write_failed does; true when there was one.
  bool earlier_write_failed();
  void write_to_connection(gateway::BodyPiece chunk, bool last, gateway::Exchange::Handler handler);
  bool send_file(pybind11::handle wrapper);
  void send_head();
  void require_started() const;

  std::shared_ptr<gateway::Exchange> exchange_;
  gateway::ResponseHead head_;
  std::optional<std::uint64_t> declared_length_;  // the app's Content-Length
  std::optional<WriteCredit> credit_;  // made by the first piece that does not end the body
  std::uint64_t sent_ = 0;
  bool started_ = false;    // start_response was called
  bool head_sent_ = false;  // the head went to the sink
  bool complete_ = false;   // the body was ended
  bool client_gone_ = false;
  bool over_ = false;
};

}  // namespace junction::bridge
