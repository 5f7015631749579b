// The ASGI connection scope built from a request head (ASGI HTTP & WebSocket spec 2.4): every
// key with its type, the path decoded and whole (root_path is only the mount prefix), raw_path
// and query_string as received, header names lower-cased with order and repeats kept, and a
// copy of the lifespan state.
#include "bridge/asgi_scope.hpp"

#include <pybind11/embed.h>

#include <catch2/catch.hpp>
#include <string>

#include "support/python.hpp"

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

std::string bytes_of(py::handle value) {
  REQUIRE(PyBytes_CheckExact(value.ptr()));
  return value.cast<std::string>();
}

TEST_CASE("an HTTP scope has every key the spec lists, with its type") {
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

TEST_CASE("scope headers are lower-cased byte pairs in arrival order, repeats kept") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  ScopeBuilder builder("");
  py::dict scope = builder.http(sample_request(), py::dict());
  CHECK(py::repr(scope["headers"]).cast<std::string>() ==
        "[(b'host', b'example.com:8443'), (b'x-trace', b'a'), (b'cookie', b'a=1'), "
        "(b'x-trace', b'b')]");
  CHECK(scope["root_path"].cast<std::string>() == "");
}

TEST_CASE("each scope gets its own shallow copy of the lifespan state") {
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

TEST_CASE("an invalid UTF-8 path is decoded with replacement characters, raw_path keeps it") {
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

TEST_CASE("HTTP/1.0 and HTTP/2 requests name their version") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  auto request = sample_request();
  request.version = {1, 0};
  CHECK(ScopeBuilder("").http(request, py::dict())["http_version"].cast<std::string>() == "1.0");
  request.version = {2, 0};
  CHECK(ScopeBuilder("").http(request, py::dict())["http_version"].cast<std::string>() == "2");
}

TEST_CASE("a WebSocket scope has ws/wss and the offered subprotocols, and no method") {
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

TEST_CASE("a unix-socket connection has no client address and the server is [path, None]") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  auto request = sample_request();
  request.client = {"", 0};
  request.server = {"/run/junction.sock", 0};
  py::dict scope = ScopeBuilder("").http(request, py::dict());
  CHECK(scope["client"].is_none());
  CHECK(py::repr(scope["server"]).cast<std::string>() == "('/run/junction.sock', None)");
}

}  // namespace
}  // namespace junction::bridge
