// TlsInfo values for the bridge tests: what a TLS 1.3 connection to example.com settled.
#pragma once

#include <string>
#include <utility>

#include "gateway/exchange.hpp"

namespace junction::test {

// A TLS 1.3 connection to example.com whose client sent no certificate.
inline gateway::TlsInfo sample_tls() {
  gateway::TlsInfo tls;
  tls.protocol = "TLSv1.3";
  tls.cipher = "TLS_AES_128_GCM_SHA256";
  tls.protocol_version = 0x0304;
  tls.cipher_suite = 0x1301;
  tls.server_name = "example.com";
  tls.server_cert = "-----BEGIN CERTIFICATE-----\nSERVER\n-----END CERTIFICATE-----\n";
  return tls;
}

// The same connection with a client certificate and its CA, verified or not.
inline gateway::TlsInfo sample_client_tls(std::string verify, std::string error) {
  gateway::TlsInfo tls = sample_tls();
  tls.client_verify = std::move(verify);
  tls.client_error = std::move(error);
  tls.client_subject = "CN=caf\xc3\xa9,O=Client\\, Inc.";
  tls.client_issuer = "CN=Test CA,O=Junction";
  tls.client_chain = {"-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n",
                      "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"};
  return tls;
}

}  // namespace junction::test
