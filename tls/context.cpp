#include "tls/context.hpp"

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <fstream>

namespace junction::tls {

namespace {

// Mozilla's "intermediate" TLS 1.2 suites without the DHE ones: every suite is ECDHE (forward
// secret) and AEAD, and none is on RFC 9113 §9.2.2's HTTP/2 block list. TLS 1.3's suites are
// all AEAD and forward secret; Mozilla's order puts AES-128-GCM first (the cheapest with AES-NI).
constexpr const char* kTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kGroups = "X25519:P-256:P-384";
// Session lifetime, and so the ticket lifetime hint (RFC 8446 §4.6.1).
constexpr long kSessionSeconds = 3600;
constexpr unsigned char kSessionIdContext[] = "junction";

struct BioDeleter {
  void operator()(BIO* bio) const noexcept { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

// The reason of the newest OpenSSL error, and the queue emptied.
std::string openssl_reason() {
  unsigned long code = 0, last = 0;
  while ((code = ERR_get_error()) != 0) last = code;
  if (last == 0) return "unknown error";
  const char* reason = ERR_reason_error_string(last);
  return reason != nullptr ? reason : fmt::format("OpenSSL error {:#x}", last);
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

std::string pem_of(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return {};
  return bio_text(bio.get());
}

// RFC 4514 (the RFC 2253 form OpenSSL prints): what mod_ssl's SSL_CLIENT_S_DN and the ASGI TLS
// extension's client_cert_name carry.
std::string dn_of(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return {};
  return bio_text(bio.get());
}

std::string read_password(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line))
    throw LoadError(fmt::format("cannot read the TLS key password file '{}'", path));
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// The passphrase of an encrypted key. Without one OpenSSL would prompt on the terminal; a
// server must fail instead. `userdata` points to a PasswordState.
struct PasswordState {
  const std::string* password = nullptr;
  bool asked = false;
};

int on_password(char* buffer, int size, int /*rwflag*/, void* userdata) {
  auto* state = static_cast<PasswordState*>(userdata);
  state->asked = true;
  if (state->password == nullptr) return 0;
  auto n = std::min<std::size_t>(state->password->size(), static_cast<std::size_t>(size));
  std::memcpy(buffer, state->password->data(), n);
  return static_cast<int>(n);
}

// --tls-client-verify optional: the handshake goes on whatever the certificate is worth; the
// app reads the verdict (SSL_CLIENT_VERIFY), which OpenSSL keeps as the verify result.
int accept_any_certificate(int, X509_STORE_CTX*) {
  return 1;
}

}  // namespace

// Its deleter is its own, not the file's anonymous namespace's: a class with external linkage
// whose member's type has internal linkage is a warning when this file is compiled in a batch
// (a unity build; -Wsubobject-linkage).
struct ServerContexts::Entry {
  struct CtxDeleter {
    void operator()(SSL_CTX* ctx) const noexcept { SSL_CTX_free(ctx); }
  };
  std::unique_ptr<SSL_CTX, CtxDeleter> ctx;
  std::string cert_file;
  std::string pem;                 // the leaf certificate, for the ASGI TLS extension
  std::vector<std::string> names;  // its DNS names, for the log
};

const std::string_view kPlainHttpAnswer =
    "HTTP/1.1 400 Bad Request\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 54\r\n"
    "Connection: close\r\n"
    "\r\n"
    "This port speaks HTTPS: a plain HTTP request was sent\n";

bool is_plain_http(const error_code& ec) {
  if (ec.category() != asio::error::get_ssl_category()) return false;
  auto reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
  return reason == SSL_R_HTTP_REQUEST || reason == SSL_R_HTTPS_PROXY_REQUEST;
}

// SNI (RFC 6066 §3): the first certificate whose names match the requested host (RFC 6125
// rules, wildcards included, as X509_check_host applies them) serves the connection; no match
// or no name keeps the default.
int on_server_name(SSL* ssl, int* /*alert*/, void* arg) {
  const auto* self = static_cast<const ServerContexts*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_NOACK;
  auto length = std::strlen(name);
  for (std::size_t i = 0; i < self->entries_.size(); ++i) {
    auto* ctx = self->entries_[i]->ctx.get();
    X509* cert = SSL_CTX_get0_certificate(ctx);
    if (cert != nullptr && X509_check_host(cert, name, length, 0, nullptr) == 1) {
      if (i != 0) SSL_set_SSL_CTX(ssl, ctx);
      return SSL_TLSEXT_ERR_OK;
    }
  }
  return SSL_TLSEXT_ERR_OK;
}

// ALPN (RFC 7301 §3.2): our preference wins; a client that offers none of ours gets the fatal
// no_application_protocol alert.
int on_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* out_length,
            const unsigned char* in, unsigned in_length, void* arg) {
  const auto* self = static_cast<const ServerContexts*>(arg);
  std::string_view ours = self->alpn_;
  while (!ours.empty()) {
    auto length = static_cast<unsigned char>(ours[0]);
    auto wanted = ours.substr(1, length);
    for (unsigned i = 0; i < in_length;) {
      unsigned offered = in[i];
      if (i + 1 + offered > in_length) break;
      if (std::string_view(reinterpret_cast<const char*>(in + i + 1), offered) == wanted) {
        *out = in + i + 1;
        *out_length = static_cast<unsigned char>(offered);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + offered;
    }
    ours.remove_prefix(1 + length);
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

std::shared_ptr<const ServerContexts> ServerContexts::load(const Options& options,
                                                           gateway::HttpMode mode,
                                                           std::shared_ptr<TicketKeys> keys) {
  std::shared_ptr<ServerContexts> set(new ServerContexts());
  set->ticket_keys_ = std::move(keys);
  using Mode = gateway::HttpMode;
  if (mode != Mode::http1) set->alpn_ += std::string("\x02h2", 3);
  if (mode != Mode::http2) set->alpn_ += std::string("\x08http/1.1", 9);

  std::string password;
  if (!options.key_password_file.empty()) password = read_password(options.key_password_file);
  ERR_clear_error();

  for (const auto& pair : options.certificates) {
    auto entry = std::make_unique<Entry>();
    entry->cert_file = pair.cert_file;
    entry->ctx.reset(SSL_CTX_new(TLS_server_method()));
    SSL_CTX* ctx = entry->ctx.get();
    if (ctx == nullptr) throw LoadError("cannot create a TLS context: " + openssl_reason());

    SSL_CTX_set_min_proto_version(ctx,
                                  options.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, kTls13Suites) != 1 ||
        SSL_CTX_set1_groups_list(ctx, kGroups) != 1)
      throw LoadError("cannot set the TLS ciphers: " + openssl_reason());
    // Partial writes: a write completes with what one record took, as send(2) does; a retried
    // write may come from a moved buffer (the stage of TlsStream). Read-ahead: OpenSSL takes
    // every record buffered in the input BIO in one call, not a header and then a body.
    // Released buffers: an idle keep-alive connection holds no 16 KiB record buffers.
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(ctx, 1);

    PasswordState state{options.key_password_file.empty() ? nullptr : &password};
    SSL_CTX_set_default_passwd_cb(ctx, on_password);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, &state);
    if (SSL_CTX_use_certificate_chain_file(ctx, pair.cert_file.c_str()) != 1)
      throw LoadError(
          fmt::format("cannot load TLS certificate '{}': {}", pair.cert_file, openssl_reason()));
    // With the certificate set first, this checks that a key of the certificate's type is its
    // own; a key of another type (EC for an RSA certificate) goes to another slot, so the check
    // after it is still needed.
    if (SSL_CTX_use_PrivateKey_file(ctx, pair.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
        ERR_clear_error();
        throw LoadError(fmt::format("TLS key '{}' does not belong to certificate '{}'",
                                    pair.key_file, pair.cert_file));
      }
      auto reason = openssl_reason();
      if (state.asked && state.password == nullptr)
        reason = "the key is encrypted: give its passphrase with --tls-key-password-file";
      else if (state.asked)
        reason = "wrong passphrase in --tls-key-password-file (" + reason + ")";
      throw LoadError(fmt::format("cannot load TLS key '{}': {}", pair.key_file, reason));
    }
    SSL_CTX_set_default_passwd_cb(ctx, nullptr);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
    if (SSL_CTX_check_private_key(ctx) != 1)
      throw LoadError(fmt::format("TLS key '{}' does not belong to certificate '{}'", pair.key_file,
                                  pair.cert_file));

    X509* cert = SSL_CTX_get0_certificate(ctx);
    entry->pem = pem_of(cert);
    if (auto* alt = static_cast<GENERAL_NAMES*>(
            X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr))) {
      for (int i = 0; i < sk_GENERAL_NAME_num(alt); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(alt, i);
        if (name->type == GEN_DNS) {
          const auto* text = name->d.dNSName;
          entry->names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                                    static_cast<std::size_t>(ASN1_STRING_length(text)));
        }
      }
      GENERAL_NAMES_free(alt);
    }

    // Resumption by tickets only: no server-side session cache to fill, keys that rotate.
    SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof kSessionIdContext - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_timeout(ctx, kSessionSeconds);
    set->ticket_keys_->install(ctx);

    using Verify = Options::ClientVerify;
    if (options.client_verify != Verify::none) {
      if (SSL_CTX_load_verify_locations(ctx, options.client_ca.c_str(), nullptr) != 1)
        throw LoadError(
            fmt::format("cannot load TLS client CA '{}': {}", options.client_ca, openssl_reason()));
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca.c_str());
      if (names == nullptr)
        throw LoadError(fmt::format("TLS client CA '{}' holds no certificate", options.client_ca));
      SSL_CTX_set_client_CA_list(ctx, names);
      if (options.client_verify == Verify::required)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      else
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_certificate);
    }

    SSL_CTX_set_tlsext_servername_callback(ctx, on_server_name);
    SSL_CTX_set_tlsext_servername_arg(ctx, set.get());
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, set.get());
    set->entries_.push_back(std::move(entry));
  }
  if (set->entries_.empty()) throw LoadError("no TLS certificate given");
  return set;
}

ServerContexts::~ServerContexts() = default;

SslPtr ServerContexts::new_ssl() const {
  SslPtr ssl(SSL_new(entries_.front()->ctx.get()));
  if (ssl) SSL_set_accept_state(ssl.get());
  return ssl;
}

std::vector<std::string> ServerContexts::summary() const {
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const auto& entry = *entries_[i];
    std::string names;
    for (const auto& name : entry.names) names += (names.empty() ? "" : ", ") + name;
    lines.push_back(fmt::format("TLS certificate {}{}{}", entry.cert_file,
                                names.empty() ? "" : " for " + names, i == 0 ? " (default)" : ""));
  }
  return lines;
}

Alpn ServerContexts::negotiated(const SSL* ssl) {
  const unsigned char* data = nullptr;
  unsigned length = 0;
  SSL_get0_alpn_selected(ssl, &data, &length);
  auto selected = std::string_view(reinterpret_cast<const char*>(data), length);
  if (selected == "h2") return Alpn::http2;
  if (selected == "http/1.1") return Alpn::http1;
  return Alpn::none;
}

const ServerContexts::Entry* ServerContexts::entry_of(const SSL_CTX* ctx) const {
  for (const auto& entry : entries_)
    if (entry->ctx.get() == ctx) return entry.get();
  return entries_.front().get();
}

std::shared_ptr<const gateway::TlsInfo> ServerContexts::describe(const SSL* ssl) const {
  auto info = std::make_shared<gateway::TlsInfo>();
  info->protocol = SSL_get_version(ssl);
  info->protocol_version = static_cast<std::uint16_t>(SSL_version(ssl));
  if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl)) {
    info->cipher = SSL_CIPHER_get_name(cipher);
    info->cipher_suite = SSL_CIPHER_get_protocol_id(cipher);
  }
  if (const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name))
    info->server_name = name;
  info->server_cert = entry_of(SSL_get_SSL_CTX(ssl))->pem;
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer == nullptr) return info;
  info->client_subject = dn_of(X509_get_subject_name(peer));
  info->client_issuer = dn_of(X509_get_issuer_name(peer));
  info->client_chain.push_back(pem_of(peer));
  // On the server side the peer's chain does not hold its own certificate
  // (SSL_get_peer_cert_chain(3)).
  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl)) {
    for (int i = 0; i < sk_X509_num(chain); ++i) {
      X509* cert = sk_X509_value(chain, i);
      if (X509_cmp(cert, peer) != 0) info->client_chain.push_back(pem_of(cert));
    }
  }
  long result = SSL_get_verify_result(ssl);
  if (result == X509_V_OK) {
    info->client_verify = "SUCCESS";
  } else {
    info->client_error = X509_verify_cert_error_string(result);
    info->client_verify = "FAILED:" + info->client_error;
  }
  return info;
}

}  // namespace junction::tls
