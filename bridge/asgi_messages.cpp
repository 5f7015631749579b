#include "bridge/asgi_messages.hpp"

#include "gateway/fields.hpp"

namespace py = pybind11;

namespace junction::bridge {

py::object interned(const char* text) {
  PyObject* value = PyUnicode_InternFromString(text);
  if (!value) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(value);
}

py::object message_get(py::handle message, py::handle key) {
  if (PyDict_Check(message.ptr())) {
    PyObject* value = PyDict_GetItemWithError(message.ptr(), key.ptr());
    if (!value && PyErr_Occurred()) throw py::error_already_set();
    if (!value || value == Py_None) return py::object();
    return py::reinterpret_borrow<py::object>(value);
  }
  py::object value = message.attr("get")(key);
  return value.is_none() ? py::object() : value;
}

std::string_view message_type(py::handle type) {
  if (!PyUnicode_Check(type.ptr())) throw py::type_error("an ASGI message 'type' must be a str");
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(type.ptr(), &size);
  if (!data) throw py::error_already_set();
  return {data, static_cast<std::size_t>(size)};
}

bool truthy(const py::object& value) {
  if (!value) return false;
  int result = PyObject_IsTrue(value.ptr());
  if (result < 0) throw py::error_already_set();
  return result == 1;
}

std::string byte_string(py::handle value, const char* what) {
  if (PyBytes_Check(value.ptr()))
    return {PyBytes_AS_STRING(value.ptr()),
            static_cast<std::size_t>(PyBytes_GET_SIZE(value.ptr()))};
  if (PyByteArray_Check(value.ptr()))
    return {PyByteArray_AS_STRING(value.ptr()),
            static_cast<std::size_t>(PyByteArray_GET_SIZE(value.ptr()))};
  if (PyMemoryView_Check(value.ptr())) {
    auto bytes = py::reinterpret_steal<py::object>(PyBytes_FromObject(value.ptr()));
    if (!bytes) throw py::error_already_set();
    return {PyBytes_AS_STRING(bytes.ptr()),
            static_cast<std::size_t>(PyBytes_GET_SIZE(bytes.ptr()))};
  }
  throw py::type_error(std::string(what) + " must be bytes, not " +
                       py::type::handle_of(value).attr("__name__").cast<std::string>());
}

gateway::Headers header_list(py::handle value, const char* what) {
  gateway::Headers headers;
  if (!value) return headers;
  for (py::handle item : value) {
    if (!PySequence_Check(item.ptr()) || PySequence_Size(item.ptr()) != 2)
      throw py::type_error(std::string(what) + " must be [name, value] pairs of bytes");
    auto pair = py::reinterpret_borrow<py::sequence>(item);
    headers.emplace_back(byte_string(pair[0], "a header name"),
                         byte_string(pair[1], "a header value"));
  }
  return headers;
}

void check_fields(const gateway::Headers& fields, const char* message) {
  for (const auto& [name, value] : fields) {
    if (!gateway::valid_field_name(name))
      throw py::value_error(std::string(message) + ": bad header name '" + name + "'");
    if (!gateway::valid_field_value(value))
      throw py::value_error(std::string(message) + ": header '" + name +
                            "' has a line break or NUL in its value");
  }
}

}  // namespace junction::bridge
