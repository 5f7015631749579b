#include "bridge/asgi_scope.hpp"

#include <string_view>

#include "bridge/asgi_messages.hpp"
#include "bridge/cgi.hpp"
#include "gateway/text.hpp"

namespace py = pybind11;

namespace junction::bridge {
namespace {

py::object bytes(std::string_view data) {
  PyObject* value = PyBytes_FromStringAndSize(data.data(), static_cast<Py_ssize_t>(data.size()));
  if (!value) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(value);
}

py::object str(std::string_view data, const char* errors = "replace") {
  PyObject* value = PyUnicode_DecodeUTF8(data.data(), static_cast<Py_ssize_t>(data.size()), errors);
  if (!value) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(value);
}

void set(py::dict& scope, py::handle key, py::handle value) {
  if (PyDict_SetItem(scope.ptr(), key.ptr(), value.ptr()) != 0) throw py::error_already_set();
}

py::object http_version(gateway::HttpVersion version) {
  static const char* const names[] = {"1.0", "1.1", "2"};
  if (version.major == 2) return interned(names[2]);
  return interned(version.minor == 0 ? names[0] : names[1]);
}

// [host, port] of a TCP peer; None for a unix-socket client, which has no address (as uvicorn):
// its name is empty, or the path of a socket a PROXY header named. A client a trusted proxy
// named without a port is [host, 0] (as uvicorn's proxy headers give it).
py::object client_address(const gateway::Address& address) {
  if (address.port == 0 && (address.host.empty() || address.host.front() == '/')) return py::none();
  return py::make_tuple(address.host, address.port);
}

// A unix socket's server is [path, None] (spec "Connection Scope").
py::object server_address(const gateway::Address& address) {
  if (address.port == 0) return py::make_tuple(address.host, py::none());
  return py::make_tuple(address.host, address.port);
}

}  // namespace

ScopeBuilder::ScopeBuilder(std::string root_path) : root_path_text_(std::move(root_path)) {
  keys_.type = interned("type");
  keys_.asgi = interned("asgi");
  keys_.http_version = interned("http_version");
  keys_.method = interned("method");
  keys_.scheme = interned("scheme");
  keys_.path = interned("path");
  keys_.raw_path = interned("raw_path");
  keys_.query_string = interned("query_string");
  keys_.root_path = interned("root_path");
  keys_.headers = interned("headers");
  keys_.client = interned("client");
  keys_.server = interned("server");
  keys_.state = interned("state");
  keys_.extensions = interned("extensions");
  keys_.subprotocols = interned("subprotocols");
  keys_.tls = interned("tls");
  keys_.server_cert = interned("server_cert");
  keys_.client_cert_chain = interned("client_cert_chain");
  keys_.client_cert_name = interned("client_cert_name");
  keys_.client_cert_error = interned("client_cert_error");
  keys_.tls_version = interned("tls_version");
  keys_.cipher_suite = interned("cipher_suite");
  http_type_ = interned("http");
  websocket_type_ = interned("websocket");
  http_asgi_["version"] = "3.0";
  http_asgi_["spec_version"] = "2.4";
  websocket_asgi_["version"] = "3.0";
  websocket_asgi_["spec_version"] = "2.4";
  root_path_ = str(root_path_text_);
}

py::dict ScopeBuilder::common(const gateway::RequestHead& request, py::handle state,
                              py::handle type, py::handle asgi, py::handle scheme) const {
  py::dict scope;
  set(scope, keys_.type, type);
  // A fresh copy each time: an app may write into its scope's dicts.
  auto asgi_copy = py::reinterpret_steal<py::object>(PyDict_Copy(asgi.ptr()));
  if (!asgi_copy) throw py::error_already_set();
  set(scope, keys_.asgi, asgi_copy);
  set(scope, keys_.http_version, http_version(request.version));
  set(scope, keys_.scheme, scheme);
  // path: the full path, decoded (UTF-8, as uvicorn: invalid sequences replaced); root_path is
  // the mount prefix, which the path still starts with (the spec since 2.x, as Starlette
  // routes expect). raw_path: the path bytes as received, without the query.
  set(scope, keys_.path, str(percent_decode(request.path)));
  set(scope, keys_.raw_path, bytes(request.path));
  set(scope, keys_.query_string, bytes(request.query));
  set(scope, keys_.root_path, root_path_);
  // Header names lower-cased (spec: "header names should be lowercased"), order and repeats
  // kept; values as received.
  py::list headers(request.headers.size());
  std::string lower;
  for (std::size_t i = 0; i < request.headers.size(); ++i) {
    const auto& [name, value] = request.headers[i];
    lower.assign(name);
    for (auto& c : lower) c = gateway::ascii_lower(c);
    PyObject* pair = PyTuple_New(2);
    if (!pair) throw py::error_already_set();
    PyTuple_SET_ITEM(pair, 0, bytes(lower).release().ptr());
    PyTuple_SET_ITEM(pair, 1, bytes(value).release().ptr());
    PyList_SET_ITEM(headers.ptr(), static_cast<Py_ssize_t>(i), pair);
  }
  set(scope, keys_.headers, headers);
  set(scope, keys_.client, client_address(request.client));
  set(scope, keys_.server, server_address(request.server));
  auto state_copy = py::reinterpret_steal<py::object>(PyDict_Copy(state.ptr()));
  if (!state_copy) throw py::error_already_set();
  set(scope, keys_.state, state_copy);
  py::dict extensions;
  // Only a TLS connection has the extension: its absence tells the app there was no TLS (ASGI
  // TLS extension, "When to use this extension").
  if (request.tls) set(extensions, keys_.tls, tls_extension(*request.tls));
  set(scope, keys_.extensions, extensions);
  return scope;
}

// ASGI TLS extension, "TLS Connection Scope": None marks what is unknown or absent, never "".
py::dict ScopeBuilder::tls_extension(const gateway::TlsInfo& tls) const {
  auto optional_str = [](const std::string& text) -> py::object {
    return text.empty() ? py::none() : str(text);
  };
  py::dict extension;
  set(extension, keys_.server_cert, optional_str(tls.server_cert));
  py::list chain(tls.client_chain.size());
  for (std::size_t i = 0; i < tls.client_chain.size(); ++i)
    PyList_SET_ITEM(chain.ptr(), static_cast<Py_ssize_t>(i),
                    str(tls.client_chain[i]).release().ptr());
  set(extension, keys_.client_cert_chain, chain);
  // The client's DN only when it sent a certificate (an empty RFC 4514 DN is still a name).
  set(extension, keys_.client_cert_name,
      tls.client_chain.empty() ? py::none() : str(tls.client_subject));
  set(extension, keys_.client_cert_error, optional_str(tls.client_error));
  set(extension, keys_.tls_version, py::int_(tls.protocol_version));
  set(extension, keys_.cipher_suite, py::int_(tls.cipher_suite));
  return extension;
}

py::dict ScopeBuilder::http(const gateway::RequestHead& request, py::handle state) const {
  // A connection we decrypted is https whatever the request model says.
  py::object scheme = interned(request.tls || request.scheme == "https" ? "https" : "http");
  py::dict scope = common(request, state, http_type_, http_asgi_, scheme);
  set(scope, keys_.method, str(request.method, "strict"));
  return scope;
}

py::dict ScopeBuilder::websocket(const gateway::RequestHead& request, py::handle state) const {
  py::object scheme = interned(request.tls || request.scheme == "https" ? "wss" : "ws");
  py::dict scope = common(request, state, websocket_type_, websocket_asgi_, scheme);
  // Sec-WebSocket-Protocol may be repeated and holds a comma-separated list (RFC 6455 §11.3.4).
  py::list subprotocols;
  for (const auto& [name, value] : request.headers)
    if (gateway::iequals(name, "sec-websocket-protocol"))
      gateway::for_each_list_element(
          value, [&](std::string_view token) { subprotocols.append(str(token)); });
  set(scope, keys_.subprotocols, subprotocols);
  return scope;
}

}  // namespace junction::bridge
