#include "http1/parser.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>

#include "gateway/fields.hpp"
#include "gateway/text.hpp"

namespace junction::http1 {

// The static table of llhttp callbacks: each forwards to the parser that owns `llhttp_t::data`.
struct ParserCallbacks {
  static RequestParser& self(llhttp_t* p) { return *static_cast<RequestParser*>(p->data); }
  static std::string_view view(const char* at, std::size_t n) { return {at, n}; }

  static int message_begin(llhttp_t* p) { return self(p).on_message_begin(); }
  static int method(llhttp_t* p, const char* at, std::size_t n) {
    return self(p).on_method(view(at, n));
  }
  static int url(llhttp_t* p, const char* at, std::size_t n) { return self(p).on_url(view(at, n)); }
  static int version(llhttp_t* p, const char* at, std::size_t n) {
    return self(p).on_version(view(at, n));
  }
  static int header_field(llhttp_t* p, const char* at, std::size_t n) {
    return self(p).on_header_field(view(at, n));
  }
  static int header_value(llhttp_t* p, const char* at, std::size_t n) {
    return self(p).on_header_value(view(at, n));
  }
  static int header_value_complete(llhttp_t* p) { return self(p).on_header_value_complete(); }
  static int headers_complete(llhttp_t* p) { return self(p).on_headers_complete(); }
  static int body(llhttp_t* p, const char* at, std::size_t n) {
    return self(p).on_body(view(at, n));
  }
  static int message_complete(llhttp_t* p) { return self(p).on_message_complete(); }
  static int chunk_extension(llhttp_t* p, const char* at, std::size_t n) {
    return self(p).on_chunk_extension(view(at, n));
  }

  static llhttp_settings_t make() {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = message_begin;
    s.on_method = method;
    s.on_url = url;
    s.on_version = version;
    s.on_header_field = header_field;
    s.on_header_value = header_value;
    s.on_header_value_complete = header_value_complete;
    s.on_headers_complete = headers_complete;
    s.on_body = body;
    s.on_message_complete = message_complete;
    s.on_chunk_extension_name = chunk_extension;
    s.on_chunk_extension_value = chunk_extension;
    return s;
  }
};

const llhttp_settings_t RequestParser::settings_ = ParserCallbacks::make();

namespace {

// Longest run of chunk extensions we accept per message: they carry nothing we use, and an
// unbounded run would let a client keep us parsing without sending body (RFC 9112 §7.1.1).
constexpr std::size_t kMaxChunkExtensionBytes = 4096;

enum Pause { pause_head = 1, pause_body, pause_end };

}  // namespace

RequestParser::RequestParser(const gateway::Limits& limits) : limits_(limits) {
  llhttp_init(&parser_, HTTP_REQUEST, &settings_);
  parser_.data = this;
}

int RequestParser::fail(int status, const char* reason) noexcept {
  failed_by_us_ = true;
  status_ = status;
  reason_ = reason;
  return HPE_USER;
}

int RequestParser::on_message_begin() noexcept {
  head_ = gateway::RequestHead{};
  field_.clear();
  value_.clear();
  in_trailers_ = false;
  line_bytes_ = 7;  // the two SP and "HTTP/" around llhttp's method, url and version spans
  head_bytes_ = 0;
  field_count_ = 0;
  chunk_extension_bytes_ = 0;
  host_count_ = 0;
  content_length_count_ = 0;
  transfer_encoding_.clear();
  connection_upgrade_ = upgrade_websocket_ = false;
  connection_http2_settings_ = upgrade_h2c_ = h2c_offered_ = false;
  http2_settings_count_ = 0;
  http2_settings_.clear();
  h2c_settings_.clear();
  websocket_key_count_ = 0;
  websocket_key_.clear();
  websocket_version_.clear();
  keep_alive_ = false;
  message_begun_ = true;
  body_received_ = 0;
  return 0;
}

int RequestParser::on_method(std::string_view piece) noexcept {
  line_bytes_ += piece.size();
  if (line_bytes_ > limits_.request_line) return fail(414, "request line too long");
  head_.method.append(piece);
  return 0;
}

int RequestParser::on_url(std::string_view piece) noexcept {
  line_bytes_ += piece.size();
  if (line_bytes_ > limits_.request_line) return fail(414, "request line too long");
  head_.target.append(piece);
  return 0;
}

int RequestParser::on_version(std::string_view piece) noexcept {
  line_bytes_ += piece.size();
  if (line_bytes_ > limits_.request_line) return fail(414, "request line too long");
  return 0;
}

int RequestParser::on_header_field(std::string_view piece) noexcept {
  if (field_.empty()) {
    if (++field_count_ > limits_.header_fields) return fail(431, "too many header fields");
  }
  if (field_.size() + piece.size() + 2 > limits_.header_field_size)
    return fail(431, "header field too large");
  field_.append(piece);
  return 0;
}

int RequestParser::on_header_value(std::string_view piece) noexcept {
  // The field's size counts its whole line, "name: value" (as gunicorn's limit does).
  if (field_.size() + value_.size() + piece.size() + 2 > limits_.header_field_size)
    return fail(431, "header field too large");
  value_.append(piece);
  return 0;
}

int RequestParser::on_header_value_complete() noexcept {
  if (!gateway::valid_received_field_value(value_))
    return fail(400, "invalid character in header value");
  // llhttp drops leading whitespace; trailing OWS is not part of the value (RFC 9110 §5.5).
  while (!value_.empty() && (value_.back() == ' ' || value_.back() == '\t')) value_.pop_back();
  if (in_trailers_) {
    // Trailer fields are checked and bounded like header fields, then dropped: nothing in the
    // request model carries them yet, and framing fields are not allowed there anyway.
    field_.clear();
    value_.clear();
    return 0;
  }
  if (gateway::iequals(field_, "host")) {
    if (++host_count_ == 1) head_.authority = value_;
  } else if (gateway::iequals(field_, "content-length")) {
    // RFC 9112 §6.3: repeated or list-valued Content-Length is a smuggling vector; refuse it.
    if (++content_length_count_ > 1) return fail(400, "more than one Content-Length");
  } else if (gateway::iequals(field_, "transfer-encoding")) {
    if (!transfer_encoding_.empty()) transfer_encoding_ += ',';
    transfer_encoding_ += value_;
  } else if (gateway::iequals(field_, "expect")) {
    // RFC 9110 §10.1.1: 100-continue is the only expectation defined.
    if (!gateway::iequals(gateway::trim(value_), "100-continue"))
      return fail(417, "unsupported expectation");
    head_.expect_continue = true;
  } else if (gateway::iequals(field_, "connection")) {
    gateway::for_each_list_element(value_, [&](std::string_view option) {
      connection_upgrade_ = connection_upgrade_ || gateway::iequals(option, "upgrade");
      connection_http2_settings_ =
          connection_http2_settings_ || gateway::iequals(option, "http2-settings");
    });
  } else if (gateway::iequals(field_, "upgrade")) {
    // RFC 9110 §7.8: a list of protocols, each with an optional "/version".
    gateway::for_each_list_element(value_, [&](std::string_view protocol) {
      upgrade_websocket_ = upgrade_websocket_ || gateway::iequals(protocol, "websocket");
      upgrade_h2c_ = upgrade_h2c_ || protocol == "h2c";
    });
  } else if (gateway::iequals(field_, "http2-settings")) {
    if (++http2_settings_count_ == 1) http2_settings_ = value_;
  } else if (gateway::iequals(field_, "sec-websocket-key")) {
    if (++websocket_key_count_ == 1) websocket_key_ = value_;
  } else if (gateway::iequals(field_, "sec-websocket-version")) {
    if (!websocket_version_.empty()) websocket_version_ += ',';
    websocket_version_ += value_;
  }
  head_.headers.emplace_back(std::move(field_), std::move(value_));
  field_.clear();
  value_.clear();
  return 0;
}

bool RequestParser::split_target() noexcept {
  std::string_view target = head_.target;
  if (target.starts_with('/')) {
    // origin-form
  } else if (target == "*" && head_.method == "OPTIONS") {
    head_.path.assign(1, '*');  // (not = "*": GCC 12 warns falsely, -Wrestrict)
    return true;
  } else {
    // absolute-form (RFC 9112 §3.2.2): its authority replaces Host.
    std::string_view scheme_end = "://";
    auto colon = target.find(scheme_end);
    if (colon == std::string_view::npos) return false;
    auto scheme = target.substr(0, colon);
    if (!gateway::iequals(scheme, "http") && !gateway::iequals(scheme, "https")) return false;
    target.remove_prefix(colon + scheme_end.size());
    auto path_start = target.find_first_of("/?");
    head_.authority = std::string(target.substr(0, path_start));
    if (head_.authority.empty()) return false;
    target = path_start == std::string_view::npos ? std::string_view() : target.substr(path_start);
  }
  auto question = target.find('?');
  auto path = target.substr(0, question);
  head_.path = path.empty() ? "/" : std::string(path);
  if (question != std::string_view::npos) head_.query = std::string(target.substr(question + 1));
  return true;
}

int RequestParser::check_head() noexcept {
  head_.version = {parser_.http_major, parser_.http_minor};
  // llhttp takes a request line without a version as HTTP/0.9, which we do not speak.
  if (head_.version.major == 0) return fail(400, "missing or invalid HTTP version");
  if (head_.version.major != 1) return fail(505, "HTTP version not supported");
  bool http11 = head_.version.minor >= 1;
  if (parser_.method == HTTP_CONNECT) return fail(501, "CONNECT is not supported");

  // RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one in HTTP/1.0.
  if (http11 && host_count_ == 0) return fail(400, "missing Host header");
  if (host_count_ > 1) return fail(400, "more than one Host header");

  bool chunked = false;
  if (!transfer_encoding_.empty()) {
    // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0, or beside Content-Length, is faulty framing.
    if (!http11) return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (content_length_count_ > 0) return fail(400, "both Content-Length and Transfer-Encoding");
    int chunked_count = 0;
    bool unknown = false;
    bool chunked_last = false;
    gateway::for_each_list_element(transfer_encoding_, [&](std::string_view coding) {
      chunked_last = gateway::iequals(coding, "chunked");
      if (chunked_last) {
        ++chunked_count;
      } else {
        unknown = true;
      }
    });
    // chunked must be the final coding, once (RFC 9112 §6.1); any other coding we do not
    // implement gets 501 (RFC 9112 §6.1, "unknown transfer coding").
    if (chunked_count > 1 || (chunked_count == 1 && !chunked_last))
      return fail(400, "chunked must be the final transfer coding, once");
    if (unknown) return fail(501, "unsupported transfer coding");
    if (chunked_count == 0) return fail(400, "request body without chunked framing");
    chunked = true;
  }

  if (!split_target()) return fail(400, "invalid request target");

  if (chunked) {
    head_.has_body = true;
  } else if (content_length_count_ > 0) {
    head_.content_length = parser_.content_length;
    head_.has_body = parser_.content_length > 0;
    if (parser_.content_length > limits_.max_body_size) return fail(413, "request body too large");
  } else {
    head_.content_length = 0;
  }
  // RFC 9110 §10.1.1: no 100 Continue without a body, nor to an HTTP/1.0 client (which must
  // not be sent 1xx responses; the expectation is ignored).
  if (!head_.has_body || !http11) head_.expect_continue = false;
  expects_body_ = head_.has_body;
  keep_alive_ = llhttp_should_keep_alive(&parser_) != 0;
  if (int rc = check_websocket(http11); rc != 0) return rc;
  check_h2c(http11);
  return 0;
}

namespace {

// RFC 4648 §5 (base64url), without the padding RFC 7540 §3.2.1 leaves out (accepted if sent).
bool decode_base64url(std::string_view text, std::string& out) {
  while (text.ends_with('=')) text.remove_suffix(1);
  if (text.size() % 4 == 1) return false;
  out.clear();
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '-') {
      v = 62;
    } else if (c == '_') {
      v = 63;
    } else {
      return false;
    }
    bits = (bits << 6) | std::uint32_t(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(char((bits >> count) & 0xff));
    }
  }
  return true;
}

}  // namespace

// RFC 7540 §3.2: an upgrade to HTTP/2 over cleartext. Connection must list both "upgrade" and
// "http2-settings" (§3.2.1), and exactly one HTTP2-Settings must be base64url. A request with
// a body is not upgraded (the server may ignore Upgrade, RFC 9110 §7.8), nor a WebSocket
// handshake. Whether HTTP/2 is on, and whether nghttp2 takes the settings, the connection asks.
void RequestParser::check_h2c(bool http11) noexcept {
  if (!upgrade_h2c_ || !connection_upgrade_ || !connection_http2_settings_ || !http11 ||
      http2_settings_count_ != 1 || head_.has_body || head_.websocket)
    return;
  // An empty value is an empty SETTINGS payload: every setting keeps its initial value.
  try {
    h2c_offered_ = decode_base64url(gateway::trim(http2_settings_), h2c_settings_);
  } catch (...) {
    h2c_offered_ = false;
  }
}

// RFC 6455 §4.2.1: the opening handshake. A request asks for a WebSocket when Upgrade names
// "websocket" and Connection lists "upgrade" (RFC 9110 §7.8: an Upgrade not listed there, or
// in HTTP/1.0, is ignored, and the request served as plain HTTP, as every other Upgrade is).
// Asking, it must be a bodiless GET with a key and version 13, or it is refused here.
int RequestParser::check_websocket(bool http11) noexcept {
  if (!upgrade_websocket_ || !connection_upgrade_ || !http11) return 0;
  if (parser_.method != HTTP_GET) return fail(400, "WebSocket handshake must be GET");
  if (head_.has_body) return fail(400, "WebSocket handshake with a body");
  // §4.4: an unsupported version is answered with the versions we speak (the connection adds
  // Sec-WebSocket-Version: 13 to a 426).
  if (gateway::trim(websocket_version_) != "13") return fail(426, "WebSocket version 13 required");
  // §4.2.1 item 5: the key is 16 bytes in base64, 24 characters ending in "==".
  auto base64 = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
  };
  std::string_view key = gateway::trim(websocket_key_);
  if (websocket_key_count_ != 1 || key.size() != 24 || !key.ends_with("==") ||
      !std::all_of(key.begin(), key.end() - 2, base64))
    return fail(400, "missing or invalid Sec-WebSocket-Key");
  head_.websocket = true;
  // An app may refuse with plain HTTP; what the client sends after its handshake may be frames,
  // not a request, so the connection closes after that answer.
  keep_alive_ = false;
  return 0;
}

int RequestParser::on_headers_complete() noexcept {
  if (int rc = check_head(); rc != 0) return rc;
  in_trailers_ = true;
  // Upgrade requests other than WebSocket and h2c are served as plain HTTP; clearing the flag
  // keeps llhttp parsing HTTP after this message. An h2c upgrade the connection takes leaves
  // this parser behind (h2c_settings()), one it ignores is plain HTTP too. A
  // WebSocket handshake's connection reads no further request (keep_alive_ is off): the bytes
  // after its head go to the WebSocket, or nowhere.
  parser_.upgrade = 0;
  pending_event_ = pause_head;
  return HPE_PAUSED;
}

int RequestParser::on_body(std::string_view piece) noexcept {
  // llhttp flushes an open body span at the end of every execute, empty input included: an
  // empty piece is no event.
  if (piece.empty()) return 0;
  body_received_ += piece.size();
  if (body_received_ > limits_.max_body_size) return fail(413, "request body too large");
  body_piece_ = piece;
  pending_event_ = pause_body;
  return HPE_PAUSED;
}

int RequestParser::on_message_complete() noexcept {
  message_begun_ = false;
  pending_event_ = pause_end;
  return HPE_PAUSED;
}

int RequestParser::on_chunk_extension(std::string_view piece) noexcept {
  chunk_extension_bytes_ += piece.size();
  if (chunk_extension_bytes_ > kMaxChunkExtensionBytes)
    return fail(400, "chunk extensions too long");
  return 0;
}

// RFC 9112 §5.2: obs-fold (a field line continued on a line that starts with SP or HTAB) is
// refused, as is whitespace before the first field line (§2.2). llhttp accepts both, so the head's
// bytes are scanned for an LF followed by SP or HTAB, across calls.
bool RequestParser::folded(std::string_view head) noexcept {
  if (head.empty()) return false;
  auto is_ws = [](char c) { return c == ' ' || c == '\t'; };
  bool found = head_ends_lf_ && is_ws(head.front());
  for (auto lf = head.find('\n'); !found && lf != std::string_view::npos && lf + 1 < head.size();
       lf = head.find('\n', lf + 1))
    found = is_ws(head[lf + 1]);
  head_ends_lf_ = head.back() == '\n';
  return found;
}

RequestParser::Result RequestParser::parse(std::string_view input) noexcept {
  if (llhttp_get_errno(&parser_) != HPE_OK) return {Event::error, 0, {}};
  bool in_head = !message_begun_ || !in_trailers_;
  pending_event_ = 0;
  auto err = llhttp_execute(&parser_, input.data(), input.size());

  Result result;
  if (err == HPE_OK) {
    result = {Event::need_more, input.size(), {}};
  } else if (err == HPE_PAUSED) {
    result.consumed = static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - input.data());
    llhttp_resume(&parser_);
    switch (pending_event_) {
      case pause_head:
        result.event = Event::head;
        break;
      case pause_body:
        result.event = Event::body;
        result.body = body_piece_;
        break;
      default:
        result.event = Event::end;
        break;
    }
  } else {
    if (!failed_by_us_) {
      // llhttp's own refusals: all are malformed syntax except where RFC 9112 names another code.
      status_ = 400;
      reason_ =
          llhttp_get_error_reason(&parser_) ? llhttp_get_error_reason(&parser_) : "bad request";
    }
    return {Event::error, 0, {}};
  }

  // Bytes spent on a head count against --limit-request-header-size whatever llhttp made of
  // them (optional whitespace, empty lines), so a client cannot stream an endless head.
  if (in_head && result.event != Event::body) {
    bool fold = folded(input.substr(0, result.consumed));
    if (result.event == Event::head) head_ends_lf_ = false;
    if (fold) return fail_now(400, "obs-fold or whitespace before a field line");
    head_bytes_ += result.consumed;
    if (head_bytes_ > limits_.header_block_size) {
      return fail_now(431, "request head too large");
    }
  }
  return result;
}

RequestParser::Result RequestParser::fail_now(int status, const char* reason) noexcept {
  fail(status, reason);
  llhttp_set_error_reason(&parser_, reason);
  parser_.error = HPE_USER;  // later parse() calls keep answering the error
  return {Event::error, 0, {}};
}

bool RequestParser::finish() noexcept {
  if (in_message()) {
    status_ = 400;
    reason_ = "connection closed before the request was complete";
    return false;
  }
  return true;
}

}  // namespace junction::http1
