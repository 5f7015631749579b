// The server's OpenSSL contexts: one per certificate pair, chosen by SNI, all with the same
// secure defaults (Mozilla "intermediate": TLS 1.2 and 1.3, forward-secret AEAD ciphers only,
// the server's preference, no renegotiation, no compression), ALPN, client certificates and
// rotating ticket keys. A set is immutable once loaded; a reload (SIGHUP) loads a new set and
// connections keep the one they started with.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "gateway/exchange.hpp"
#include "gateway/options.hpp"
#include "tls/options.hpp"
#include "tls/stream.hpp"
#include "tls/ticket_keys.hpp"

namespace junction::tls {

// A certificate, key or CA file could not be used; what() is one line naming the file.
class LoadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The application protocol the handshake settled on (RFC 7301).
enum class Alpn { none, http1, http2 };

class ServerContexts {
 public:
  // Loads every --tls-cert/--tls-key pair and the client CA. `mode` says which protocols ALPN
  // offers. Throws LoadError.
  static std::shared_ptr<const ServerContexts> load(const Options& options, gateway::HttpMode mode,
                                                    std::shared_ptr<TicketKeys> ticket_keys);

  ServerContexts(const ServerContexts&) = delete;
  ServerContexts& operator=(const ServerContexts&) = delete;
  ~ServerContexts();

  // A new server-side SSL object on the default context. The set must outlive it.
  SslPtr new_ssl() const;

  // One line per certificate, for the start-up log: its file and the names it serves.
  std::vector<std::string> summary() const;

  static Alpn negotiated(const SSL* ssl);

  // What a finished handshake settled, for apps.
  std::shared_ptr<const gateway::TlsInfo> describe(const SSL* ssl) const;

  struct Entry;

 private:
  ServerContexts() = default;
  const Entry* entry_of(const SSL_CTX* ctx) const;

  std::vector<std::unique_ptr<Entry>> entries_;  // entries_[0]: the default
  std::string alpn_;  // our protocols in ALPN wire format, preferred first
  std::shared_ptr<TicketKeys> ticket_keys_;
  friend int on_server_name(SSL* ssl, int* alert, void* arg);
  friend int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* out_length,
                     const unsigned char* in, unsigned in_length, void* arg);
};

// The answer to a plain-HTTP request that reached a TLS port (as nginx gives): a 400 saying so.
extern const std::string_view kPlainHttpAnswer;

// Whether a failed handshake was a plain-HTTP request (OpenSSL recognises the method).
bool is_plain_http(const error_code& ec);

}  // namespace junction::tls
