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

void set(py::dict& environ, const char* key, py::handle value) {
  if (PyDict_SetItemString(environ.ptr(), key, value.ptr()) != 0) throw py::error_already_set();
}

void set(py::dict& environ, const std::string& key, std::string_view value) {
  py::str text = native(value);
  if (PyDict_SetItemString(environ.ptr(), key.c_str(), text.ptr()) != 0)
    throw py::error_already_set();
}

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
}

py::dict EnvironBuilder::build(const gateway::RequestHead& request, py::handle input) const {
  auto environ = py::reinterpret_steal<py::dict>(PyDict_Copy(template_.ptr()));
  if (!environ) throw py::error_already_set();
  set(environ, "wsgi.input", input);
  set(environ, "wsgi.url_scheme", native(request.scheme));
  set(environ, "REQUEST_METHOD", native(request.method));
  // The router matched the mount on whole segments of the raw path, so the prefix is there.
  std::string_view path = request.path;
  if (!script_name_.empty()) path.remove_prefix(std::min(script_name_.size(), path.size()));
  set(environ, "PATH_INFO", native(percent_decode(path)));
  set(environ, "QUERY_STRING", native(request.query));
  set(environ, "RAW_URI", native(request.target));  // as gunicorn: the undecoded target
  set(environ, "SERVER_PROTOCOL", native(protocol_name(request.version)));

  // SERVER_NAME and SERVER_PORT name the host the client asked for (RFC 3875 §4.1.14), which
  // is how PEP 3333's URL reconstruction expects them; the socket's address is the fallback.
  HostPort host = split_authority(request.authority);
  if (host.host.empty()) {
    host.host = request.server.host;
    host.port = std::to_string(request.server.port);
  } else if (host.port.empty()) {
    host.port = request.scheme == "https" ? "443" : "80";
  }
  set(environ, "SERVER_NAME", native(host.host));
  set(environ, "SERVER_PORT", native(host.port));
  set(environ, "REMOTE_ADDR", native(request.client.host));
  set(environ, "REMOTE_PORT", native(std::to_string(request.client.port)));

  // Header fields, repeated ones joined (RFC 9110 §5.3); Cookie with "; " (RFC 6265 §5.4).
  std::vector<std::pair<std::string, std::string>> fields;
  fields.reserve(request.headers.size());
  for (const auto& [name, value] : request.headers) {
    auto key = cgi_header_name(name);
    if (!key) continue;
    auto same = std::find_if(fields.begin(), fields.end(),
                             [&key](const auto& field) { return field.first == *key; });
    if (same == fields.end()) {
      fields.emplace_back(std::move(*key), value);
    } else {
      same->second += *key == "HTTP_COOKIE" ? "; " : ", ";
      same->second += value;
    }
  }
  for (const auto& [key, value] : fields) set(environ, key, value);
  return environ;
}

}  // namespace junction::bridge
