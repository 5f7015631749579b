// ASGI connection scopes (ASGI HTTP & WebSocket spec 2.4, "Connection Scope") built from the
// request model.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

#include "gateway/exchange.hpp"

namespace junction::bridge {

class ScopeBuilder {
 public:
  // `root_path` is the mount prefix ("" at the root). Call with the GIL held.
  explicit ScopeBuilder(std::string root_path);

  // `state` is the app's lifespan state; each scope gets a shallow copy of it.
  pybind11::dict http(const gateway::RequestHead& request, pybind11::handle state) const;
  pybind11::dict websocket(const gateway::RequestHead& request, pybind11::handle state) const;

 private:
  pybind11::dict common(const gateway::RequestHead& request, pybind11::handle state,
                        pybind11::handle type, pybind11::handle asgi,
                        pybind11::handle scheme) const;
  // The ASGI TLS extension's dict (scope["extensions"]["tls"]).
  pybind11::dict tls_extension(const gateway::TlsInfo& tls) const;

  struct Keys {
    pybind11::object type, asgi, http_version, method, scheme, path, raw_path, query_string,
        root_path, headers, client, server, state, extensions, subprotocols;
    // The TLS extension's keys.
    pybind11::object tls, server_cert, client_cert_chain, client_cert_name, client_cert_error,
        tls_version, cipher_suite;
  };
  Keys keys_;
  pybind11::object http_type_, websocket_type_;
  pybind11::dict http_asgi_, websocket_asgi_;  // {"version": "3.0", "spec_version": ...}
  pybind11::object root_path_;
  std::string root_path_text_;
};

}  // namespace junction::bridge
