// TLS termination's options (--tls-*). With certificates set, every listener speaks TLS.
#pragma once

#include <string>
#include <vector>

#include "gateway/options.hpp"

namespace junction::tls {

struct Options {
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
  gateway::seconds_d handshake_timeout{10.0};
  bool enabled() const { return !certificates.empty(); }
};

}  // namespace junction::tls
