// Configuration: everything the command line sets, with the defaults in one place.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace junction::gateway {

using seconds_d = std::chrono::duration<double>;

// Bounds on what one client may make us hold (../shared/DESIGN.md, "Bounded everything").
struct Limits {
  std::size_t request_line = 8190;                  // 414 past it
  std::size_t header_fields = 100;                  // 431 past it
  std::size_t header_field_size = 8190;             // one "name: value" line; 431 past it
  std::size_t header_block_size = 65536;            // the whole head; 431 past it
  std::uint64_t max_body_size = 1ull << 30;         // 413 past it
  std::uint64_t ws_max_message_size = 16ull << 20;  // a larger WebSocket message closes 1009
};

struct Timeouts {
  seconds_d keep_alive{5.0};       // idle between requests: closed silently
  seconds_d request_header{10.0};  // from the first byte of a head to its end: 408
  seconds_d request_body{30.0};    // a stall while the app waits for body bytes: 408
  seconds_d send{30.0};            // a client that takes none of our output this long is cut
  seconds_d graceful{30.0};        // in-flight work after SIGTERM before connections are cut
};

struct BindAddress {
  enum class Kind { tcp, unix_socket };
  Kind kind = Kind::tcp;
  std::string host;  // literal IPv4/IPv6 address or a host name, without brackets
  std::uint16_t port = 0;
  std::string path;  // unix socket path
  std::string text;  // as the user wrote it, for messages
};

// Parses "HOST:PORT", "[V6]:PORT" or "unix:PATH"; nullopt with `error` set when malformed.
std::optional<BindAddress> parse_bind_address(const std::string& text, std::string& error);

// Where apps come from and how WSGI requests run (bridge/).
struct PythonOptions {
  std::string venv;                     // a virtualenv to import from; empty: none
  std::string chdir;                    // change to this directory before importing
  std::vector<std::string> pythonpath;  // extra import paths, first searched first
  unsigned threads = 8;                 // WSGI pool threads
  unsigned backlog = 256;               // WSGI requests that may wait for a thread; then 503
  std::string loop = "auto";      // ASGI event loop: auto (uvloop when installed), asyncio, uvloop
  std::string lifespan = "auto";  // ASGI lifespan protocol: auto, on, off
  unsigned limit_concurrency = 1000;  // ASGI requests and WebSockets at once; then 503
};

// HTTP/2 (http2/): which protocols a listener speaks, and the settings we announce (RFC 9113
// §6.5.2). The idle timeout is --timeout-keep-alive, as for HTTP/1.1.
struct Http2Options {
  enum class Mode { automatic, http1, http2 };
  // automatic: HTTP/1.1, and HTTP/2 for a client that opens with the connection preface (h2c
  // "prior knowledge", RFC 9113 §3.3). http1: HTTP/1.1 only. http2: HTTP/2 only.
  Mode mode = Mode::automatic;
  std::uint32_t max_concurrent_streams = 100;       // SETTINGS_MAX_CONCURRENT_STREAMS
  std::uint32_t initial_window_size = 1u << 20;     // per stream: request body bytes we buffer
  std::uint32_t connection_window_size = 8u << 20;  // all streams of a connection together
  std::uint32_t max_frame_size = 16384;             // SETTINGS_MAX_FRAME_SIZE
  // SETTINGS_MAX_HEADER_LIST_SIZE; unset: --limit-request-header-size. Larger gets 431.
  std::optional<std::uint32_t> max_header_list_size;
};

// TLS termination (tls/). With certificates set, every listener speaks TLS.
struct TlsOptions {
  struct CertificatePair {
    std::string cert_file;  // PEM: the certificate, then its chain
    std::string key_file;   // PEM private key
  };
  enum class ClientVerify { none, optional, required };
  // The first pair is the default; the others are chosen by SNI against their DNS names.
  std::vector<CertificatePair> certificates;
  std::string key_password_file;    // the passphrase of encrypted keys (first line); empty: none
  std::string min_version = "1.2";  // "1.2" or "1.3"
  std::string client_ca;            // PEM CA bundle client certificates are checked against
  ClientVerify client_verify = ClientVerify::none;
  seconds_d handshake_timeout{10.0};
  bool enabled() const { return !certificates.empty(); }
};

struct Config {
  std::vector<BindAddress> binds;
  unsigned io_threads = 1;
  std::string log_level = "info";
  bool access_log = true;
  Limits limits;
  Timeouts timeouts;
  Http2Options http2;
  TlsOptions tls;
  std::string health_path;   // empty: off
  bool diagnostics = false;  // echo/sleep aids on the health path, for front-end tests
  PythonOptions python;
  std::vector<std::string> apps;
};

// The command line could not be turned into a Config (or asked for --help / --version):
// print `message` (to stdout when exit_code is 0, else stderr) and exit with exit_code.
struct CommandLineExit {
  int exit_code;
  std::string message;
};

// Throws CommandLineExit for --help, --version and every usage error.
Config parse_command_line(int argc, const char* const* argv);

}  // namespace junction::gateway
