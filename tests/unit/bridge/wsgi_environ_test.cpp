// The WSGI environ built from a request head (PEP 3333 "environ Variables"): every key with its
// type, PATH_INFO decoded and without the mount prefix, SERVER_NAME and SERVER_PORT from the
// authority (or the socket), header fields as HTTP_ keys with repeats joined.
#include "bridge/wsgi_environ.hpp"

#include <pybind11/embed.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "support/python.hpp"
#include "support/sample_tls.hpp"

namespace py = pybind11;

namespace junction::bridge {
namespace {

using Keys = std::vector<std::string>;

// A GET for https://example.com:8443/api/caf%C3%A9/x?q=1&r=%20 from 10.0.0.1:5555.
gateway::RequestHead sample_request() {
  gateway::RequestHead request;
  request.method = "GET";
  request.target = "/api/caf%C3%A9/x?q=1&r=%20";
  request.path = "/api/caf%C3%A9/x";
  request.query = "q=1&r=%20";
  request.authority = "example.com:8443";
  request.version = {1, 1};
  request.scheme = "https";
  request.headers = {{"Host", "example.com:8443"}, {"Accept", "text/html"}};
  request.client = {"10.0.0.1", 5555};
  request.server = {"127.0.0.1", 8000};
  return request;
}

using test::sample_client_tls;
using test::sample_tls;

// What a pool thread hands the builder besides the request (all made with the GIL held).
struct PythonSide {
  py::object errors = py::module_::import("io").attr("StringIO")();
  py::object file_wrapper = py::eval("lambda filelike, block_size=8192: iter(())");
  py::object input = py::module_::import("io").attr("BytesIO")(py::bytes("body!"));

  EnvironBuilder builder(std::string script_name) const {
    return EnvironBuilder(std::move(script_name), errors, file_wrapper);
  }
};

// The value under `key` as the bytes it stands for: a native string holds them as latin-1.
std::string bytes_at(const py::dict& environ, const char* key) {
  py::object value = environ[key];
  REQUIRE(PyUnicode_CheckExact(value.ptr()));
  return value.attr("encode")("latin-1").cast<std::string>();
}

py::object at(const py::dict& environ, const char* key) {
  return environ[key];
}

Keys keys_of(const py::dict& environ) {
  Keys keys;
  for (auto item : environ) keys.push_back(item.first.cast<std::string>());
  std::sort(keys.begin(), keys.end());
  return keys;
}

TEST_CASE("EnvironBuilder: every key, with the type PEP 3333 gives it", "[wsgi_environ][python]") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  PythonSide python;
  auto builder = python.builder("");
  auto request = sample_request();
  request.method = "POST";
  request.headers.emplace_back("Content-Type", "text/plain");
  request.headers.emplace_back("Content-Length", "5");
  py::dict environ = builder.build(request, python.input);

  // The sample is https in plain text (as a trusted proxy says it): HTTPS=on, no SSL_ keys.
  Keys expected = {"CONTENT_LENGTH",        "CONTENT_TYPE",      "HTTPS",
                   "HTTP_ACCEPT",           "HTTP_HOST",         "PATH_INFO",
                   "QUERY_STRING",          "RAW_URI",           "REMOTE_ADDR",
                   "REMOTE_PORT",           "REQUEST_METHOD",    "SCRIPT_NAME",
                   "SERVER_NAME",           "SERVER_PORT",       "SERVER_PROTOCOL",
                   "wsgi.errors",           "wsgi.file_wrapper", "wsgi.input",
                   "wsgi.input_terminated", "wsgi.multiprocess", "wsgi.multithread",
                   "wsgi.run_once",         "wsgi.url_scheme",   "wsgi.version"};
  CHECK(keys_of(environ) == expected);

  // The CGI variables are native strings: str, never bytes or int.
  for (const auto& key : expected) {
    if (key.starts_with("wsgi.")) continue;
    INFO(key);
    CHECK(PyUnicode_CheckExact(at(environ, key.c_str()).ptr()));
  }
  CHECK(bytes_at(environ, "REQUEST_METHOD") == "POST");
  CHECK(bytes_at(environ, "SCRIPT_NAME") == "");
  CHECK(bytes_at(environ, "PATH_INFO") == "/api/caf\xc3\xa9/x");
  CHECK(bytes_at(environ, "QUERY_STRING") == "q=1&r=%20");
  CHECK(bytes_at(environ, "RAW_URI") == "/api/caf%C3%A9/x?q=1&r=%20");
  CHECK(bytes_at(environ, "SERVER_PROTOCOL") == "HTTP/1.1");
  CHECK(bytes_at(environ, "SERVER_NAME") == "example.com");
  CHECK(bytes_at(environ, "SERVER_PORT") == "8443");
  CHECK(bytes_at(environ, "REMOTE_ADDR") == "10.0.0.1");
  CHECK(bytes_at(environ, "REMOTE_PORT") == "5555");
  CHECK(bytes_at(environ, "HTTP_HOST") == "example.com:8443");
  CHECK(bytes_at(environ, "HTTP_ACCEPT") == "text/html");
  CHECK(bytes_at(environ, "CONTENT_TYPE") == "text/plain");
  CHECK(bytes_at(environ, "CONTENT_LENGTH") == "5");

  CHECK(at(environ, "wsgi.version").equal(py::make_tuple(1, 0)));
  CHECK(py::isinstance<py::tuple>(environ["wsgi.version"]));
  CHECK(bytes_at(environ, "wsgi.url_scheme") == "https");
  CHECK(at(environ, "wsgi.input").is(python.input));
  CHECK(at(environ, "wsgi.errors").is(python.errors));
  CHECK(at(environ, "wsgi.file_wrapper").is(python.file_wrapper));
  CHECK(at(environ, "wsgi.multithread").is(py::bool_(true)));
  CHECK(at(environ, "wsgi.multiprocess").is(py::bool_(false)));
  CHECK(at(environ, "wsgi.run_once").is(py::bool_(false)));
  CHECK(at(environ, "wsgi.input_terminated").is(py::bool_(true)));
}

TEST_CASE("EnvironBuilder: PATH_INFO is decoded and loses SCRIPT_NAME", "[wsgi_environ][python]") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  PythonSide python;
  auto request = sample_request();

  SECTION("under a mount prefix") {
    auto builder = python.builder("/api");
    py::dict environ = builder.build(request, python.input);
    CHECK(bytes_at(environ, "SCRIPT_NAME") == "/api");
    CHECK(bytes_at(environ, "PATH_INFO") == "/caf\xc3\xa9/x");
    // The decoded bytes reach Python one code point per byte, as PEP 3333 asks.
    CHECK(py::len(environ["PATH_INFO"]) == 8);
    CHECK(bytes_at(environ, "RAW_URI") == "/api/caf%C3%A9/x?q=1&r=%20");  // untouched

    request.path = "/api";
    request.target = "/api";
    request.query.clear();
    environ = builder.build(request, python.input);
    CHECK(bytes_at(environ, "SCRIPT_NAME") == "/api");
    CHECK(bytes_at(environ, "PATH_INFO") == "");
    CHECK(bytes_at(environ, "QUERY_STRING") == "");

    request.path = "/api/";
    environ = builder.build(request, python.input);
    CHECK(bytes_at(environ, "PATH_INFO") == "/");
  }
  SECTION("at the root") {
    auto builder = python.builder("");
    request.path = "/a%2Fb/%7euser/100%/x%00y";
    py::dict environ = builder.build(request, python.input);
    CHECK(bytes_at(environ, "SCRIPT_NAME") == "");
    CHECK(bytes_at(environ, "PATH_INFO") == std::string("/a/b/~user/100%/x\0y", 19));
  }
  SECTION("a query string stays encoded") {
    auto builder = python.builder("");
    request.query = "name=caf%C3%A9&x=%2F+y";
    py::dict environ = builder.build(request, python.input);
    CHECK(bytes_at(environ, "QUERY_STRING") == "name=caf%C3%A9&x=%2F+y");
  }
}

TEST_CASE("EnvironBuilder: SERVER_NAME and SERVER_PORT name the host asked for",
          "[wsgi_environ][python]") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  PythonSide python;
  auto builder = python.builder("");
  auto request = sample_request();
  auto server = [&](std::string authority, std::string scheme) {
    request.authority = std::move(authority);
    request.scheme = std::move(scheme);
    py::dict environ = builder.build(request, python.input);
    return bytes_at(environ, "SERVER_NAME") + " " + bytes_at(environ, "SERVER_PORT");
  };
  CHECK(server("example.com:8443", "https") == "example.com 8443");
  CHECK(server("example.com:8080", "http") == "example.com 8080");
  // Without a port in the authority: the scheme's default port.
  CHECK(server("example.com", "http") == "example.com 80");
  CHECK(server("example.com", "https") == "example.com 443");
  CHECK(server("[::1]:9000", "http") == "[::1] 9000");
  CHECK(server("[2001:db8::1]", "https") == "[2001:db8::1] 443");
  // No authority at all (HTTP/1.0 without Host): the address the request came in on.
  CHECK(server("", "http") == "127.0.0.1 8000");
  CHECK(server("", "https") == "127.0.0.1 8000");
  request.server = {"::1", 9443};
  CHECK(server("", "https") == "::1 9443");
}

TEST_CASE("EnvironBuilder: SERVER_PROTOCOL and wsgi.url_scheme", "[wsgi_environ][python]") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  PythonSide python;
  auto builder = python.builder("");
  auto request = sample_request();
  auto protocol = [&](gateway::HttpVersion version) {
    request.version = version;
    return bytes_at(builder.build(request, python.input), "SERVER_PROTOCOL");
  };
  CHECK(protocol({1, 1}) == "HTTP/1.1");
  CHECK(protocol({1, 0}) == "HTTP/1.0");
  CHECK(protocol({2, 0}) == "HTTP/2");

  request.scheme = "http";
  CHECK(bytes_at(builder.build(request, python.input), "wsgi.url_scheme") == "http");
}

TEST_CASE("EnvironBuilder: header fields become HTTP_ keys", "[wsgi_environ][python]") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  PythonSide python;
  auto builder = python.builder("");
  auto request = sample_request();
  request.headers = {
      {"Host", "example.com"},
      {"accept", "text/html"},
      {"X_Forwarded_For", "6.6.6.6"},  // dropped: it would pose as X-Forwarded-For
      {"X-Forwarded-For", "1.2.3.4"},
      {"Accept", "application/json"},
      {"Cookie", "a=1"},
      {"user-agent", "curl/8"},
      {"cookie", "b=2"},
      {"x-forwarded-for", "5.6.7.8"},
      {"Content-Type", "application/json"},
      {"Content-Length", "12"},
      {"X-Latin", "caf\xe9"},  // obs-text: one code point per byte
      {"X-Empty", ""},
      {"Weird_Header", "x"},
  };
  py::dict environ = builder.build(request, python.input);

  CHECK(bytes_at(environ, "HTTP_HOST") == "example.com");
  // Repeated fields are joined with ", " in arrival order; Cookie with "; ".
  CHECK(bytes_at(environ, "HTTP_ACCEPT") == "text/html, application/json");
  CHECK(bytes_at(environ, "HTTP_X_FORWARDED_FOR") == "1.2.3.4, 5.6.7.8");
  CHECK(bytes_at(environ, "HTTP_COOKIE") == "a=1; b=2");
  CHECK(bytes_at(environ, "HTTP_USER_AGENT") == "curl/8");
  CHECK(bytes_at(environ, "HTTP_X_LATIN") == "caf\xe9");
  CHECK(py::len(environ["HTTP_X_LATIN"]) == 4);
  CHECK(bytes_at(environ, "HTTP_X_EMPTY") == "");
  // Content-Type and Content-Length without the HTTP_ prefix, and only there.
  CHECK(bytes_at(environ, "CONTENT_TYPE") == "application/json");
  CHECK(bytes_at(environ, "CONTENT_LENGTH") == "12");
  CHECK_FALSE(environ.contains("HTTP_CONTENT_TYPE"));
  CHECK_FALSE(environ.contains("HTTP_CONTENT_LENGTH"));
  // Names with '_' leave no trace.
  CHECK_FALSE(environ.contains("HTTP_WEIRD_HEADER"));
  auto keys = keys_of(environ);
  CHECK(std::count_if(keys.begin(), keys.end(),
                      [](const std::string& key) { return key.starts_with("HTTP_"); }) == 7);
}

TEST_CASE("EnvironBuilder: no body headers, no CONTENT_ keys", "[wsgi_environ][python]") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  PythonSide python;
  auto builder = python.builder("");
  py::dict environ = builder.build(sample_request(), python.input);
  CHECK_FALSE(environ.contains("CONTENT_TYPE"));
  CHECK_FALSE(environ.contains("CONTENT_LENGTH"));
}

TEST_CASE("EnvironBuilder: each request gets a fresh environ", "[wsgi_environ][python]") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  PythonSide python;
  auto builder = python.builder("/app");
  auto request = sample_request();
  request.path = "/app/one";
  py::dict first = builder.build(request, python.input);
  // An app may change its environ (middleware does); the next request must not see it.
  first["SCRIPT_NAME"] = "/changed";
  first["wsgi.multithread"] = false;
  first["HTTP_X_ADDED"] = "yes";

  request.path = "/app/two";
  py::object other_input = py::module_::import("io").attr("BytesIO")();
  py::dict second = builder.build(request, other_input);
  CHECK_FALSE(first.is(second));
  CHECK(bytes_at(second, "SCRIPT_NAME") == "/app");
  CHECK(bytes_at(second, "PATH_INFO") == "/two");
  CHECK(at(second, "wsgi.multithread").is(py::bool_(true)));
  CHECK_FALSE(second.contains("HTTP_X_ADDED"));
  CHECK(at(second, "wsgi.input").is(other_input));
  CHECK(bytes_at(first, "PATH_INFO") == "/one");
}

TEST_CASE("EnvironBuilder: a plain-text request has no HTTPS or SSL_ keys",
          "[wsgi_environ][python]") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  PythonSide python;
  auto builder = python.builder("");
  auto request = sample_request();
  request.scheme = "http";
  py::dict environ = builder.build(request, python.input);
  CHECK(bytes_at(environ, "wsgi.url_scheme") == "http");
  CHECK_FALSE(environ.contains("HTTPS"));
  for (const auto& key : keys_of(environ)) {
    INFO(key);
    CHECK_FALSE(key.starts_with("SSL_"));
  }
}

TEST_CASE("EnvironBuilder: https from a trusted proxy is HTTPS=on without SSL_ keys",
          "[wsgi_environ][python]") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  PythonSide python;
  auto builder = python.builder("");
  auto request = sample_request();
  request.scheme = "https";  // gateway::apply_forwarded's X-Forwarded-Proto: https
  request.client = {"203.0.113.7", 0};
  py::dict environ = builder.build(request, python.input);
  CHECK(bytes_at(environ, "wsgi.url_scheme") == "https");
  CHECK(bytes_at(environ, "HTTPS") == "on");
  CHECK(bytes_at(environ, "REMOTE_ADDR") == "203.0.113.7");
  for (const auto& key : keys_of(environ)) {
    INFO(key);
    CHECK_FALSE(key.starts_with("SSL_"));
  }
}

TEST_CASE("EnvironBuilder: a TLS connection sets https, HTTPS=on and mod_ssl's SSL_ keys",
          "[wsgi_environ][python]") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  PythonSide python;
  auto builder = python.builder("");
  auto request = sample_request();
  // The connection decides the scheme, not what the request model carries.
  request.scheme = "http";
  request.authority = "example.com";

  SECTION("without a client certificate") {
    request.tls = std::make_shared<const gateway::TlsInfo>(sample_tls());
    py::dict environ = builder.build(request, python.input);
    CHECK(bytes_at(environ, "wsgi.url_scheme") == "https");
    CHECK(bytes_at(environ, "HTTPS") == "on");
    CHECK(bytes_at(environ, "SERVER_PORT") == "443");  // the https default
    CHECK(bytes_at(environ, "SSL_PROTOCOL") == "TLSv1.3");
    CHECK(bytes_at(environ, "SSL_CIPHER") == "TLS_AES_128_GCM_SHA256");
    CHECK(bytes_at(environ, "SSL_CLIENT_VERIFY") == "NONE");
    CHECK(bytes_at(environ, "SSL_TLS_SNI") == "example.com");
    // No certificate, no certificate keys (as mod_ssl).
    CHECK_FALSE(environ.contains("SSL_CLIENT_S_DN"));
    CHECK_FALSE(environ.contains("SSL_CLIENT_I_DN"));
    CHECK_FALSE(environ.contains("SSL_CLIENT_CERT"));
  }
  SECTION("without SNI there is no SSL_TLS_SNI") {
    gateway::TlsInfo tls = sample_tls();
    tls.server_name.clear();
    request.tls = std::make_shared<const gateway::TlsInfo>(tls);
    py::dict environ = builder.build(request, python.input);
    CHECK_FALSE(environ.contains("SSL_TLS_SNI"));
    CHECK(bytes_at(environ, "HTTPS") == "on");
  }
  SECTION("with a verified client certificate") {
    request.tls = std::make_shared<const gateway::TlsInfo>(sample_client_tls("SUCCESS", ""));
    py::dict environ = builder.build(request, python.input);
    CHECK(bytes_at(environ, "SSL_CLIENT_VERIFY") == "SUCCESS");
    // The DN's UTF-8 bytes, one code point per byte like every native string.
    CHECK(bytes_at(environ, "SSL_CLIENT_S_DN") == "CN=caf\xc3\xa9,O=Client\\, Inc.");
    CHECK(bytes_at(environ, "SSL_CLIENT_I_DN") == "CN=Test CA,O=Junction");
    // Only the client's own certificate, not its chain.
    CHECK(bytes_at(environ, "SSL_CLIENT_CERT") ==
          "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n");
  }
  SECTION("with a client certificate that failed verification") {
    request.tls = std::make_shared<const gateway::TlsInfo>(
        sample_client_tls("FAILED:certificate has expired", "certificate has expired"));
    py::dict environ = builder.build(request, python.input);
    CHECK(bytes_at(environ, "SSL_CLIENT_VERIFY") == "FAILED:certificate has expired");
    CHECK(bytes_at(environ, "SSL_CLIENT_S_DN") == "CN=caf\xc3\xa9,O=Client\\, Inc.");
    CHECK(bytes_at(environ, "SSL_CLIENT_CERT") ==
          "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n");
  }
  SECTION("every key is a native string") {
    request.tls = std::make_shared<const gateway::TlsInfo>(sample_client_tls("SUCCESS", ""));
    py::dict environ = builder.build(request, python.input);
    for (const char* key :
         {"HTTPS", "SSL_PROTOCOL", "SSL_CIPHER", "SSL_CLIENT_VERIFY", "SSL_TLS_SNI",
          "SSL_CLIENT_S_DN", "SSL_CLIENT_I_DN", "SSL_CLIENT_CERT", "wsgi.url_scheme"}) {
      INFO(key);
      CHECK(PyUnicode_CheckExact(at(environ, key).ptr()));
    }
  }
}

}  // namespace
}  // namespace junction::bridge
