// Reading ASGI messages: byte strings only (bytes, bytearray, memoryview), header lists of
// [name, value] pairs, absent and None keys alike.
#include "bridge/asgi_messages.hpp"

#include <pybind11/embed.h>

#include <catch2/catch.hpp>

#include "support/python.hpp"

namespace py = pybind11;

namespace junction::bridge {
namespace {

TEST_CASE("byte strings come from bytes, bytearray and memoryview; a str is refused") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  CHECK(byte_string(py::bytes("ab\0c", 4), "body") == std::string("ab\0c", 4));
  CHECK(byte_string(py::eval("bytearray(b'xy')"), "body") == "xy");
  CHECK(byte_string(py::eval("memoryview(b'hello')[1:3]"), "body") == "el");
  try {
    byte_string(py::str("text"), "http.response.body 'body'");
    FAIL("a str was taken");
  } catch (py::type_error& error) {
    CHECK(std::string(error.what()) == "http.response.body 'body' must be bytes, not str");
  }
}

TEST_CASE("a header list takes tuples and lists of byte pairs, in order") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  auto headers = header_list(py::eval("[(b'a', b'1'), [b'B', b'2'], (b'a', b'3')]"), "headers");
  CHECK(headers == gateway::Headers{{"a", "1"}, {"B", "2"}, {"a", "3"}});
  CHECK(header_list(py::object(), "headers").empty());
  CHECK_THROWS_AS(header_list(py::eval("[(b'a',)]"), "headers"), py::type_error);
  CHECK_THROWS_AS(header_list(py::eval("[('a', 'b')]"), "headers"), py::type_error);
}

TEST_CASE("message_get treats a missing key and None alike, for dicts and other mappings") {
  test::ensure_python();
  py::gil_scoped_acquire gil;
  py::object key = py::str("more_body");
  CHECK_FALSE(message_get(py::eval("{'type': 'x'}"), key));
  CHECK_FALSE(message_get(py::eval("{'more_body': None}"), key));
  CHECK(truthy(message_get(py::eval("{'more_body': True}"), key)));
  auto mapping =
      py::module_::import("types").attr("MappingProxyType")(py::eval("{'more_body': 1}"));
  CHECK(truthy(message_get(mapping, key)));
  CHECK_FALSE(truthy(py::object()));
}

}  // namespace
}  // namespace junction::bridge
