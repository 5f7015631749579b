// The WSGI environ (PEP 3333 "environ Variables") built from the request model.
#pragma once

#include <pybind11/pybind11.h>

#include <string>
#include <unordered_map>

#include "gateway/exchange.hpp"

namespace junction::bridge {

class EnvironBuilder {
 public:
  // `script_name` is the mount prefix ("" at the root). Call with the GIL held.
  EnvironBuilder(std::string script_name, pybind11::handle errors, pybind11::handle file_wrapper);

  // A fresh environ for one request; `input` is its wsgi.input.
  pybind11::dict build(const gateway::RequestHead& request, pybind11::handle input) const;

 private:
  // The key as an interned str: its hash is computed once, not once per request.
  pybind11::object key(const std::string& name) const;

  // The keys every request sets, looked up once.
  struct FixedKeys {
    pybind11::object wsgi_input;
    pybind11::object wsgi_url_scheme;
    pybind11::object request_method;
    pybind11::object path_info;
    pybind11::object query_string;
    pybind11::object raw_uri;
    pybind11::object server_protocol;
    pybind11::object server_name;
    pybind11::object server_port;
    pybind11::object remote_addr;
    pybind11::object remote_port;
  };
  FixedKeys fixed_;

  // The mod_ssl keys a TLS connection adds (mod_ssl "Environment Variables"), looked up once.
  struct TlsKeys {
    pybind11::object https;
    pybind11::object ssl_protocol;
    pybind11::object ssl_cipher;
    pybind11::object ssl_client_verify;
    pybind11::object ssl_tls_sni;
    pybind11::object ssl_client_s_dn;
    pybind11::object ssl_client_i_dn;
    pybind11::object ssl_client_cert;
  };
  TlsKeys tls_;
  pybind11::object https_, on_;  // the values "https" and "on"

  void set_tls(pybind11::dict& environ, const gateway::TlsInfo& tls) const;

  // The keys every environ has with the same value, copied into each new one at once.
  pybind11::dict template_;
  std::string script_name_;
  // Keys seen so far (the CGI names and the header names clients send), bounded; only touched
  // with the GIL held.
  mutable std::unordered_map<std::string, pybind11::object> keys_;
};

}  // namespace junction::bridge
