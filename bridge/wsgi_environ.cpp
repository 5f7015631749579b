#include "bridge/wsgi_environ.hpp"

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

#include "bridge/cgi.hpp"
#include "gateway/text.hpp"

namespace py = pybind11;

namespace junction::bridge {
namespace {

// A native string (PEP 3333 "Unicode Issues"): the bytes as latin-1 code points.
py::str native(std::string_view bytes) {
  PyObject* value =
      PyUnicode_DecodeLatin1(bytes.data(), static_cast<Py_ssize_t>(bytes.size()), nullptr);
  if (!value) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(value);
}

void set(py::dict& environ, py::handle key, py::handle value) {
  if (PyDict_SetItem(environ.ptr(), key.ptr(), value.ptr()) != 0) throw py::error_already_set();
}

// Clients may send any header names; past this many distinct keys, new ones are not kept.
constexpr std::size_t kMaxCachedKeys = 512;

std::string_view protocol_name(gateway::HttpVersion version) {
  if (version == gateway::HttpVersion{1, 1}) return "HTTP/1.1";
  if (version == gateway::HttpVersion{1, 0}) return "HTTP/1.0";
  if (version.major == 2) return "HTTP/2";
  return "HTTP/1.1";
}

}  // namespace

EnvironBuilder::EnvironBuilder(std::string script_name, py::handle errors, py::handle file_wrapper)
    : script_name_(std::move(script_name)) {
  template_["wsgi.version"] = py::make_tuple(1, 0);
  template_["wsgi.errors"] = errors;
  template_["wsgi.multithread"] = py::bool_(true);
  template_["wsgi.multiprocess"] = py::bool_(false);
  template_["wsgi.run_once"] = py::bool_(false);
  // Reading past the body returns b"" even without CONTENT_LENGTH (chunked bodies): the
  // extension from https://wsgi.readthedocs.io/en/latest/specifications/handling_post_forms.html
  template_["wsgi.input_terminated"] = py::bool_(true);
  template_["wsgi.file_wrapper"] = file_wrapper;
  template_["SCRIPT_NAME"] = native(script_name_);
  fixed_.wsgi_input = key("wsgi.input");
  fixed_.wsgi_url_scheme = key("wsgi.url_scheme");
  fixed_.request_method = key("REQUEST_METHOD");
  fixed_.path_info = key("PATH_INFO");
  fixed_.query_string = key("QUERY_STRING");
  fixed_.raw_uri = key("RAW_URI");
  fixed_.server_protocol = key("SERVER_PROTOCOL");
  fixed_.server_name = key("SERVER_NAME");
  fixed_.server_port = key("SERVER_PORT");
  fixed_.remote_addr = key("REMOTE_ADDR");
  fixed_.remote_port = key("REMOTE_PORT");
  tls_.https = key("HTTPS");
  tls_.ssl_protocol = key("SSL_PROTOCOL");
  tls_.ssl_cipher = key("SSL_CIPHER");
  tls_.ssl_client_verify = key("SSL_CLIENT_VERIFY");
  tls_.ssl_tls_sni = key("SSL_TLS_SNI");
  tls_.ssl_client_s_dn = key("SSL_CLIENT_S_DN");
  tls_.ssl_client_i_dn = key("SSL_CLIENT_I_DN");
  tls_.ssl_client_cert = key("SSL_CLIENT_CERT");
  https_ = native("https");
  on_ = native("on");
}

py::object EnvironBuilder::key(const std::string& name) const {
  auto found = keys_.find(name);
  if (found != keys_.end()) return found->second;
  PyObject* interned = PyUnicode_InternFromString(name.c_str());
  if (!interned) throw py::error_already_set();
  auto object = py::reinterpret_steal<py::object>(interned);
  if (keys_.size() < kMaxCachedKeys) keys_.emplace(name, object);
  return object;
}

py::dict EnvironBuilder::build(const gateway::RequestHead& request, py::handle input) const {
  auto environ = py::reinterpret_steal<py::dict>(PyDict_Copy(template_.ptr()));
  if (!environ) throw py::error_already_set();
  set(environ, fixed_.wsgi_input, input);
  // A connection we decrypted is https whatever the request model says; plain-text ones keep
  // their scheme, which a trusted proxy may have set (gateway/forwarded.hpp).
  std::string_view scheme = request.tls ? std::string_view("https") : request.scheme;
  set(environ, fixed_.wsgi_url_scheme, scheme == "https" ? https_ : native(scheme));
  set(environ, fixed_.request_method, native(request.method));
  // The router matched the mount on whole segments of the raw path, so the prefix is there.
  std::string_view path = request.path;
  if (!script_name_.empty()) path.remove_prefix(std::min(script_name_.size(), path.size()));
  set(environ, fixed_.path_info, native(percent_decode(path)));
  set(environ, fixed_.query_string, native(request.query));
  set(environ, fixed_.raw_uri, native(request.target));  // as gunicorn: the undecoded target
  set(environ, fixed_.server_protocol, native(protocol_name(request.version)));

  // SERVER_NAME and SERVER_PORT name the host the client asked for (RFC 3875 §4.1.14), which
  // is how PEP 3333's URL reconstruction expects them; the socket's address is the fallback.
  HostPort host = split_authority(request.authority);
  if (host.host.empty()) {
    host.host = request.server.host;
    host.port = std::to_string(request.server.port);
  } else if (host.port.empty()) {
    host.port = scheme == "https" ? "443" : "80";
  }
  set(environ, fixed_.server_name, native(host.host));
  set(environ, fixed_.server_port, native(host.port));
  set(environ, fixed_.remote_addr, native(request.client.host));
  set(environ, fixed_.remote_port, native(std::to_string(request.client.port)));
  if (request.tls)
    set_tls(environ, *request.tls);
  else if (scheme == "https")
    set(environ, tls_.https, on_);  // TLS ended at a trusted proxy: no mod_ssl facts to give

  // Header fields, repeated ones joined (RFC 9110 §5.3); Cookie with "; " (RFC 6265 §5.4).
  // Their keys (HTTP_*, CONTENT_*) meet no other environ key, so a key already present is a
  // repeat; repeats are rare, and only they pay for the join.
  for (const auto& [name, value] : request.headers) {
    auto cgi_name = cgi_header_name(name);
    if (!cgi_name) continue;
    py::object cgi_key = key(*cgi_name);
    PyObject* earlier = PyDict_GetItemWithError(environ.ptr(), cgi_key.ptr());
    if (!earlier && PyErr_Occurred()) throw py::error_already_set();
    if (!earlier) {
      set(environ, cgi_key, native(value));
      continue;
    }
    // Back from the str to the header's bytes (latin-1 code points), then joined.
    py::bytes bytes = py::reinterpret_steal<py::bytes>(PyUnicode_AsLatin1String(earlier));
    if (!bytes) throw py::error_already_set();
    std::string joined(PyBytes_AS_STRING(bytes.ptr()),
                       static_cast<std::size_t>(PyBytes_GET_SIZE(bytes.ptr())));
    joined += *cgi_name == "HTTP_COOKIE" ? "; " : ", ";
    joined += value;
    set(environ, cgi_key, native(joined));
  }
  return environ;
}

// The names apps already read behind Apache (mod_ssl "Environment Variables"), and HTTPS=on,
// which WSGI libraries check besides wsgi.url_scheme (wsgiref.util.guess_scheme). The certificate
// keys exist only when the client presented one, as in mod_ssl.
void EnvironBuilder::set_tls(py::dict& environ, const gateway::TlsInfo& tls) const {
  set(environ, tls_.https, on_);
  set(environ, tls_.ssl_protocol, native(tls.protocol));
  set(environ, tls_.ssl_cipher, native(tls.cipher));
  set(environ, tls_.ssl_client_verify, native(tls.client_verify));
  if (!tls.server_name.empty()) set(environ, tls_.ssl_tls_sni, native(tls.server_name));
  if (tls.client_chain.empty()) return;
  set(environ, tls_.ssl_client_s_dn, native(tls.client_subject));
  set(environ, tls_.ssl_client_i_dn, native(tls.client_issuer));
  set(environ, tls_.ssl_client_cert, native(tls.client_chain.front()));
}

}  // namespace junction::bridge
