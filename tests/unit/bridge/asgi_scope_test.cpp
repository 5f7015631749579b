// The ASGI connection scope built from a request head (ASGI HTTP & WebSocket spec 2.4): every
// key with its type, the path decoded and whole (root_path is only the mount prefix), raw_path
// and query_string as received, header names lower-cased with order and repeats kept, and a
// copy of the lifespan state.
#include "bridge/asgi_scope.hpp"

#include <pybind11/embed.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "support/python.hpp"
#include "support/sample_tls.hpp"

namespace py = pybind11;

namespace junction::bridge {
namespace {

gateway::RequestHead sample_request() {
  gateway::RequestHead request;
  request.method = "POST";
  request.target = "/api/caf%C3%A9/x?q=1&r=%20";
  request.path = "/api/caf%C3%A9/x";
  request.query = "q=1&r=%20";
  request.authority = "example.com:8443";
  request.version = {1, 1};
  request.scheme = "https";
  request.headers = {
      {"Host", "example.com:8443"}, {"X-Trace", "a"}, {"Cookie", "a=1"}, {"x-trace", "b"}};
  request.client = {"10.0.0.1", 5555};
  request.server = {"127.0.0.1", 8000};
  return request;
}

using test::sample_client_tls;
using test::sample_tls;

std::string repr(py::handle value) {
  return py::repr(value).cast<std::string>();
}

std::string bytes_of(py::handle value) {
  REQUIRE(PyBytes_CheckExact(value.ptr()));
  return value.cast<std::string>();
}

TEST_CASE("an HTTP scope has every key the spec lists, with its type", "[asgi_scope][python]") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  ScopeBuilder builder("/api");
  py::dict state;
  state["db"] = "pool";
  py::dict scope = builder.http(sample_request(), state);

  CHECK(scope["type"].cast<std::string>() == "http");
  CHECK(scope["asgi"]["version"].cast<std::string>() == "3.0");
  CHECK(scope["asgi"]["spec_version"].cast<std::string>() == "2.4");
  CHECK(scope["http_version"].cast<std::string>() == "1.1");
  CHECK(scope["method"].cast<std::string>() == "POST");
  CHECK(scope["scheme"].cast<std::string>() == "https");
  // The whole path, decoded as UTF-8; root_path is the prefix it starts with.
  CHECK(scope["path"].cast<std::string>() == "/api/caf\xC3\xA9/x");
  CHECK(scope["root_path"].cast<std::string>() == "/api");
  CHECK(bytes_of(scope["raw_path"]) == "/api/caf%C3%A9/x");
  CHECK(bytes_of(scope["query_string"]) == "q=1&r=%20");
  CHECK(py::repr(scope["client"]).cast<std::string>() == "('10.0.0.1', 5555)");
  CHECK(py::repr(scope["server"]).cast<std::string>() == "('127.0.0.1', 8000)");
  CHECK(py::isinstance<py::dict>(scope["extensions"]));
  CHECK_FALSE(scope.contains("subprotocols"));
}

TEST_CASE("scope headers are lower-cased byte pairs in arrival order, repeats kept",
          "[asgi_scope][python]") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  ScopeBuilder builder("");
  py::dict scope = builder.http(sample_request(), py::dict());
  CHECK(py::repr(scope["headers"]).cast<std::string>() ==
        "[(b'host', b'example.com:8443'), (b'x-trace', b'a'), (b'cookie', b'a=1'), "
        "(b'x-trace', b'b')]");
  CHECK(scope["root_path"].cast<std::string>() == "");
}

TEST_CASE("each scope gets its own shallow copy of the lifespan state", "[asgi_scope][python]") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  ScopeBuilder builder("");
  py::dict state;
  state["counter"] = py::list();
  py::dict first = builder.http(sample_request(), state);
  first["state"]["added"] = 1;
  first["asgi"]["version"] = "mangled";
  py::dict second = builder.http(sample_request(), state);
  CHECK_FALSE(state.contains("added"));
  CHECK_FALSE(second["state"].contains("added"));
  CHECK(second["asgi"]["version"].cast<std::string>() == "3.0");
  // Shallow: the values are the state's own objects.
  CHECK(second["state"]["counter"].is(state["counter"]));
}

TEST_CASE("an invalid UTF-8 path is decoded with replacement characters, raw_path keeps it",
          "[asgi_scope][python]") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  auto request = sample_request();
  request.path = "/a%FFb";
  py::dict scope = ScopeBuilder("").http(request, py::dict());
  CHECK(scope["path"].cast<std::string>() ==
        "/a\xEF\xBF\xBD"
        "b");
  CHECK(bytes_of(scope["raw_path"]) == "/a%FFb");
}

TEST_CASE("HTTP/1.0 and HTTP/2 requests name their version", "[asgi_scope][python]") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  auto request = sample_request();
  request.version = {1, 0};
  CHECK(ScopeBuilder("").http(request, py::dict())["http_version"].cast<std::string>() == "1.0");
  request.version = {2, 0};
  CHECK(ScopeBuilder("").http(request, py::dict())["http_version"].cast<std::string>() == "2");
}

TEST_CASE("a WebSocket scope has ws/wss and the offered subprotocols, and no method",
          "[asgi_scope][python]") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  auto request = sample_request();
  request.method = "GET";
  request.headers.push_back({"Sec-WebSocket-Protocol", "chat, superchat"});
  request.headers.push_back({"sec-websocket-protocol", " v2 "});
  py::dict scope = ScopeBuilder("").websocket(request, py::dict());
  CHECK(scope["type"].cast<std::string>() == "websocket");
  CHECK(scope["scheme"].cast<std::string>() == "wss");
  CHECK(py::repr(scope["subprotocols"]).cast<std::string>() == "['chat', 'superchat', 'v2']");
  CHECK_FALSE(scope.contains("method"));
  request.scheme = "http";
  CHECK(ScopeBuilder("").websocket(request, py::dict())["scheme"].cast<std::string>() == "ws");
}

TEST_CASE("a unix-socket connection has no client address and the server is [path, None]",
          "[asgi_scope][python]") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  auto request = sample_request();
  request.client = {"", 0};
  request.server = {"/run/junction.sock", 0};
  py::dict scope = ScopeBuilder("").http(request, py::dict());
  CHECK(scope["client"].is_none());
  CHECK(py::repr(scope["server"]).cast<std::string>() == "('/run/junction.sock', None)");
}

TEST_CASE("a plain-text connection has no tls extension", "[asgi_scope][python]") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  auto request = sample_request();
  request.scheme = "http";
  ScopeBuilder builder("");
  py::dict scope = builder.http(request, py::dict());
  CHECK(scope["scheme"].cast<std::string>() == "http");
  CHECK(repr(scope["extensions"]) == "{}");
  py::dict websocket = builder.websocket(request, py::dict());
  CHECK(websocket["scheme"].cast<std::string>() == "ws");
  CHECK(repr(websocket["extensions"]) == "{}");
}

TEST_CASE("a TLS connection is https/wss and has the ASGI tls extension", "[asgi_scope][python]") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  auto request = sample_request();
  // The connection decides the scheme, not what the request model carries.
  request.scheme = "http";
  ScopeBuilder builder("");

  SECTION("without a client certificate") {
    request.tls = std::make_shared<const gateway::TlsInfo>(sample_tls());
    py::dict scope = builder.http(request, py::dict());
    CHECK(scope["scheme"].cast<std::string>() == "https");
    CHECK(py::len(scope["extensions"]) == 1);
    py::dict tls = scope["extensions"]["tls"];
    CHECK(py::len(tls) == 6);
    CHECK(PyUnicode_CheckExact(tls["server_cert"].ptr()));
    CHECK(tls["server_cert"].cast<std::string>() ==
          "-----BEGIN CERTIFICATE-----\nSERVER\n-----END CERTIFICATE-----\n");
    CHECK(repr(tls["client_cert_chain"]) == "[]");
    CHECK(tls["client_cert_name"].is_none());
    CHECK(tls["client_cert_error"].is_none());
    CHECK(PyLong_CheckExact(tls["tls_version"].ptr()));
    CHECK(tls["tls_version"].cast<int>() == 0x0304);
    CHECK(PyLong_CheckExact(tls["cipher_suite"].ptr()));
    CHECK(tls["cipher_suite"].cast<int>() == 0x1301);
  }
  SECTION("a WebSocket is wss") {
    request.method = "GET";
    request.tls = std::make_shared<const gateway::TlsInfo>(sample_tls());
    py::dict scope = builder.websocket(request, py::dict());
    CHECK(scope["scheme"].cast<std::string>() == "wss");
    CHECK(scope["extensions"]["tls"]["tls_version"].cast<int>() == 0x0304);
  }
  SECTION("with a verified client certificate") {
    request.tls = std::make_shared<const gateway::TlsInfo>(sample_client_tls("SUCCESS", ""));
    py::dict tls = builder.http(request, py::dict())["extensions"]["tls"];
    // The whole chain, the client's own certificate first.
    CHECK(repr(tls["client_cert_chain"]) ==
          "['-----BEGIN CERTIFICATE-----\\nCLIENT\\n-----END CERTIFICATE-----\\n', "
          "'-----BEGIN CERTIFICATE-----\\nCA\\n-----END CERTIFICATE-----\\n']");
    // An RFC 4514 str, decoded from UTF-8.
    CHECK(tls["client_cert_name"].cast<std::string>() == "CN=caf\xc3\xa9,O=Client\\, Inc.");
    CHECK(py::len(tls["client_cert_name"]) == 23);
    CHECK(tls["client_cert_error"].is_none());
  }
  SECTION("with a client certificate that failed verification") {
    request.tls = std::make_shared<const gateway::TlsInfo>(
        sample_client_tls("FAILED:certificate has expired", "certificate has expired"));
    py::dict tls = builder.http(request, py::dict())["extensions"]["tls"];
    CHECK(py::len(tls["client_cert_chain"]) == 2);
    CHECK(tls["client_cert_name"].cast<std::string>() == "CN=caf\xc3\xa9,O=Client\\, Inc.");
    CHECK(tls["client_cert_error"].cast<std::string>() == "certificate has expired");
  }
  SECTION("an unknown server certificate is None") {
    gateway::TlsInfo info = sample_tls();
    info.server_cert.clear();
    info.protocol_version = 0x0303;
    info.cipher_suite = 0xC02F;
    request.tls = std::make_shared<const gateway::TlsInfo>(info);
    py::dict tls = builder.http(request, py::dict())["extensions"]["tls"];
    CHECK(tls["server_cert"].is_none());
    CHECK(tls["tls_version"].cast<int>() == 0x0303);
    CHECK(tls["cipher_suite"].cast<int>() == 0xC02F);
  }
  SECTION("each scope gets its own extension dicts") {
    request.tls = std::make_shared<const gateway::TlsInfo>(sample_tls());
    py::dict first = builder.http(request, py::dict());
    first["extensions"]["tls"]["server_cert"] = "mangled";
    first["extensions"]["added"] = py::dict();
    py::dict second = builder.http(request, py::dict());
    CHECK_FALSE(second["extensions"].contains("added"));
    CHECK(second["extensions"]["tls"]["server_cert"].cast<std::string>() != "mangled");
  }
}

}  // namespace
}  // namespace junction::bridge
