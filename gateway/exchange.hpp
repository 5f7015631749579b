// The request model: one request and its response, the same for HTTP/1.1 and HTTP/2 and for
// WSGI and ASGI apps (docs/architecture.md, "The request model").
//
// A protocol session implements Exchange; an App consumes it. Every method may be called from
// any thread: the implementation hops onto the connection's I/O thread. Every handler runs on
// that I/O thread, so handlers must not block; a bridge wakes its own thread from there.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "gateway/body_piece.hpp"

namespace junction::gateway {

using error_code = boost::system::error_code;

// Header fields in arrival order, duplicates kept. Request field names keep the client's case.
using Header = std::pair<std::string, std::string>;
using Headers = std::vector<Header>;

struct HttpVersion {
  int major = 1;
  int minor = 1;
  friend bool operator==(HttpVersion, HttpVersion) = default;
};

struct Address {
  std::string host;  // numeric IP, or the socket path for unix sockets
  int port = 0;      // 0 for unix sockets
};

// What the TLS handshake of a connection settled, for apps (WSGI's mod_ssl variables, the
// ASGI TLS extension). One per connection, shared by its requests.
struct TlsInfo {
  std::string protocol;              // "TLSv1.2", "TLSv1.3" (mod_ssl SSL_PROTOCOL)
  std::string cipher;                // OpenSSL's name, "TLS_AES_128_GCM_SHA256" (SSL_CIPHER)
  std::uint16_t protocol_version{};  // the wire version, 0x0303 or 0x0304 (ASGI tls_version)
  std::uint16_t cipher_suite{};      // the IANA cipher suite number (ASGI cipher_suite)
  std::string server_name;           // SNI host name the client sent; empty when none
  std::string server_cert;           // PEM of the certificate we presented
  // mod_ssl SSL_CLIENT_VERIFY: "SUCCESS", "NONE" (no certificate) or "FAILED:reason".
  std::string client_verify = "NONE";
  std::string client_subject;             // RFC 4514 DN of the client certificate; empty: none
  std::string client_issuer;              // RFC 4514 DN of its issuer
  std::vector<std::string> client_chain;  // PEM, the client's own certificate first
  std::string client_error;               // why verification failed; empty when it did not
};

struct RequestHead {
  std::string method;
  std::string target;     // the request-target exactly as received
  std::string path;       // its path, still percent-encoded ("*" for OPTIONS *)
  std::string query;      // after '?', without it; empty when absent
  std::string authority;  // Host, or the authority of an absolute-form target
  HttpVersion version;
  std::string scheme = "http";
  Headers headers;
  // Known body size; nullopt for chunked bodies (or HTTP/2 without content-length).
  std::optional<std::uint64_t> content_length;
  bool has_body = false;
  bool expect_continue = false;
  // A valid WebSocket opening handshake (RFC 6455 §4.2.1): GET, Upgrade: websocket, a key and
  // version 13. The app may accept it (async_accept_websocket) or answer with plain HTTP.
  bool websocket = false;
  Address client;
  Address server;
  std::shared_ptr<const TlsInfo> tls;  // null on plain-text connections
  std::chrono::steady_clock::time_point received_at;
  std::string request_id;  // --request-id-header (gateway/request_id.hpp); empty: off
};

struct ResponseHead {
  int status = 200;
  Headers headers;
};

class WebSocket;
struct WebSocketAccept;

class Exchange {
 public:
  using Handler = std::function<void(error_code)>;
  using ReadHandler = std::function<void(error_code, std::size_t)>;

  virtual ~Exchange() = default;

  // Immutable once the exchange reaches the app, so any thread may read it.
  virtual const RequestHead& request() const noexcept = 0;

  // The executor every handler runs on: the connection's I/O thread.
  virtual boost::asio::any_io_executor executor() const = 0;

  // --- Request body source -------------------------------------------------------------------
  // Reads up to into.size() bytes; `into` must stay valid until the handler runs. Bytes are read
  // from the client only while a read is outstanding (backpressure), and the first read answers
  // `Expect: 100-continue`. The body ends with errc::end_of_body; other errors are final.
  virtual void async_read_body(std::span<char> into, ReadHandler handler) = 0;

  // --- Response sink -------------------------------------------------------------------------
  // Records the response head. Nothing goes on the wire before the first write or finish, so a
  // small response leaves in one write with its head. A new start() may replace the head until
  // then (an app that fails before sending anything gets a 500 instead).
  virtual void start(ResponseHead head) = 0;

  // Queues a body chunk; `last` ends the body (no trailers). The handler runs once the bytes are
  // accepted within the connection's output bound: that is the backpressure, and a borrowed
  // chunk's owner may be kept past it, until its bytes are sent. Errors: errc::client_gone,
  // errc::invalid_response, errc::length_mismatch, errc::response_state.
  virtual void async_write(BodyPiece chunk, bool last, Handler handler) = 0;

  // Sends `count` bytes of the open file `fd` from `offset` as the next piece of the body,
  // zero-copy (sendfile(2)) where the transport allows; `last` ends the body, as for
  // async_write. `fd` must stay open until the handler runs. A transport that cannot send a
  // file directly (TLS, HTTP/2, the in-memory test stream) fails with errc::unsupported before
  // touching the response, and the caller falls back to reading the file and async_write.
  virtual void async_send_file(int fd, std::uint64_t offset, std::uint64_t count, bool last,
                               Handler handler) {
    (void)fd, (void)offset, (void)count, (void)last;
    boost::asio::post(executor(), [h = std::move(handler)] { h(unsupported_error()); });
  }

  // Ends the body, with trailers where the protocol carries them.
  virtual void async_finish(Headers trailers, Handler handler) = 0;

  // The app failed after the head was sent: the client must see a broken response, not a
  // complete one (HTTP/1: the connection is closed; HTTP/2: RST_STREAM).
  virtual void abort() = 0;

  // For a request with RequestHead::websocket: sends the 101 answer with `accept` and hands
  // the connection over as a WebSocket; the exchange itself is then done (nothing else may be
  // written). Before any response: an app that wants to refuse answers with start/async_write
  // instead. Errors: errc::unsupported (not a WebSocket request, or a transport without
  // WebSockets), errc::response_state (a response was started), errc::client_gone.
  using AcceptHandler = std::function<void(error_code, std::shared_ptr<WebSocket>)>;
  virtual void async_accept_websocket(WebSocketAccept accept, AcceptHandler handler);

  // Called at most once, on the I/O thread, when the client goes away before the response is
  // complete. Registered after the fact, it runs at once (posted).
  virtual void on_client_gone(std::function<void()> callback) = 0;

  // A migration route handed the request to another of its apps (a fall-through replays it to
  // the legacy app): the protocol counts and logs it under `route` (Router::routes()) instead
  // of the one Router::dispatch returned. On the I/O thread, after dispatch has returned.
  virtual void reroute(std::size_t route) { (void)route; }

 private:
  static error_code unsupported_error() noexcept;  // errc::unsupported (errors.hpp)
};

// An application behind the router: Python bridges and the built-in health endpoint.
class App {
 public:
  virtual ~App() = default;
  // Runs on an I/O thread and must not block: hand the exchange to another thread, or answer.
  virtual void handle(std::shared_ptr<Exchange> exchange) = 0;
};

}  // namespace junction::gateway
