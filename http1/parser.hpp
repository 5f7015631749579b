// The HTTP/1.1 request parser: llhttp in strict mode, wrapped so it pauses at every event the
// connection must act on (a complete head, each piece of body, the end of a message) and
// enforces Junction's limits and the request-smuggling defences of RFC 9112 on top of llhttp.
// It does no I/O and never throws: a bad request becomes a status and a reason.
#pragma once

#include <llhttp.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/exchange.hpp"
#include "gateway/options.hpp"

namespace junction::http1 {

class RequestParser {
 public:
  enum class Event {
    need_more,  // everything given was consumed; feed more bytes
    head,       // a request head is complete: take it with take_head()
    body,       // `body` holds the next piece of request body (a view into the input)
    end,        // the message (body included) is complete
    error,      // the request is bad: answer status() and close
  };

  struct Result {
    Event event = Event::need_more;
    std::size_t consumed = 0;  // bytes of the input used; the rest must be given again
    std::string_view body;     // for Event::body
  };

  explicit RequestParser(const gateway::Limits& limits);
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Parses from `input` until the next event.
  Result parse(std::string_view input) noexcept;

  // The client closed its side: a message cut short is an error, between messages it is not.
  // Returns true when the close came cleanly between messages.
  bool finish() noexcept;

  // After Event::head: the parsed head (moved out) and what the connection needs to know.
  gateway::RequestHead take_head() noexcept { return std::move(head_); }
  bool keep_alive() const noexcept { return keep_alive_; }
  // Bytes of a message have arrived whose end has not (a bodyless message ends with its head).
  bool in_message() const noexcept { return message_begun_ && !(in_trailers_ && !expects_body_); }
  std::uint64_t body_received() const noexcept { return body_received_; }
  bool body_complete() const noexcept { return !in_message(); }
  // After Event::head: the request offers to switch to HTTP/2 (RFC 7540 §3.2): HTTP/1.1, no
  // body, Upgrade lists h2c, Connection lists upgrade and http2-settings, and one HTTP2-Settings
  // that is base64url (§3.2.1). Holds the decoded SETTINGS payload; null otherwise.
  const std::string* h2c_settings() const noexcept {
    return h2c_offered_ ? &h2c_settings_ : nullptr;
  }

  // After Event::error: the status to answer (400, 408, 413, 414, 417, 431, 501) and why.
  int status() const noexcept { return status_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  static const llhttp_settings_t settings_;

  // llhttp callbacks (static trampolines in the .cpp forward here); they never throw.
  int on_message_begin() noexcept;
  int on_method(std::string_view piece) noexcept;
  int on_url(std::string_view piece) noexcept;
  int on_version(std::string_view piece) noexcept;
  int on_header_field(std::string_view piece) noexcept;
  int on_header_value(std::string_view piece) noexcept;
  int on_header_value_complete() noexcept;
  int on_headers_complete() noexcept;
  int on_body(std::string_view piece) noexcept;
  int on_message_complete() noexcept;
  int on_chunk_extension(std::string_view piece) noexcept;

  int fail(int status, const char* reason) noexcept;
  Result fail_now(int status, const char* reason) noexcept;
  int check_head() noexcept;
  int check_websocket(bool http11) noexcept;
  void check_h2c(bool http11) noexcept;
  bool folded(std::string_view head_bytes) noexcept;
  bool split_target() noexcept;

  friend struct ParserCallbacks;

  const gateway::Limits& limits_;
  llhttp_t parser_;
  gateway::RequestHead head_;
  std::string field_;  // the field name being read
  std::string value_;  // its value
  bool in_trailers_ = false;
  std::size_t line_bytes_ = 0;
  std::size_t head_bytes_ = 0;
  std::size_t field_count_ = 0;
  std::size_t chunk_extension_bytes_ = 0;
  int host_count_ = 0;
  int content_length_count_ = 0;
  std::string transfer_encoding_;  // all Transfer-Encoding values, joined with ','
  // The WebSocket opening handshake's fields (RFC 6455 §4.2.1).
  bool connection_upgrade_ = false;  // Connection lists the "upgrade" token
  bool upgrade_websocket_ = false;   // Upgrade lists the "websocket" protocol
  // The h2c upgrade's fields (RFC 7540 §3.2).
  bool connection_http2_settings_ = false;  // Connection lists "http2-settings"
  bool upgrade_h2c_ = false;                // Upgrade lists the "h2c" protocol
  int http2_settings_count_ = 0;
  std::string http2_settings_;  // the HTTP2-Settings value, still base64url
  bool h2c_offered_ = false;
  std::string h2c_settings_;  // decoded
  int websocket_key_count_ = 0;
  std::string websocket_key_;
  std::string websocket_version_;  // all Sec-WebSocket-Version values, joined with ','
  bool keep_alive_ = false;
  bool message_begun_ = false;
  bool expects_body_ = false;
  std::uint64_t body_received_ = 0;
  std::string_view body_piece_;
  int pending_event_ = 0;      // which pause the last callback asked for
  bool failed_by_us_ = false;  // the error is ours (status_/reason_), not llhttp's
  bool head_ends_lf_ = false;  // the head bytes seen so far end with LF (for obs-fold)
  int status_ = 400;
  std::string reason_;
};

}  // namespace junction::http1
