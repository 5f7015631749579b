// The `_junction` module: the C++ objects a WSGI app sees (wsgi.input, start_response).
#include "bridge/python_module.hpp"

#include <pybind11/eval.h>
#include <pybind11/stl.h>

#include "bridge/asgi_http.hpp"
#include "bridge/asgi_websocket.hpp"
#include "bridge/support_py.hpp"  // generated from support.py
#include "bridge/wsgi_input.hpp"
#include "bridge/wsgi_response.hpp"

namespace py = pybind11;
using junction::bridge::HttpCycle;
using junction::bridge::WebSocketCycle;
using junction::bridge::WsgiInput;
using junction::bridge::WsgiResponse;

namespace junction::bridge {

py::object install_support_module() {
  py::dict modules = py::module_::import("sys").attr("modules");
  if (modules.contains("_junction_support")) return modules["_junction_support"];
  py::object module = py::module_::import("types").attr("ModuleType")("_junction_support");
  py::exec(kSupportPy, module.attr("__dict__"));
  modules["_junction_support"] = module;
  return module;
}

// Built by hand rather than with PYBIND11_EMBEDDED_MODULE: its static registration lives in an
// object file nothing refers to, which the linker drops from a static library.
void register_python_module() {
  py::module_ m = py::reinterpret_steal<py::module_>(PyModule_New("_junction"));
  if (!m) throw py::error_already_set();
  m.doc() = "Junction's WSGI and ASGI objects (implemented in C++)";

  py::class_<WsgiInput, std::shared_ptr<WsgiInput>>(m, "Input",
                                                    "wsgi.input: the request body, streamed")
      .def("read", &WsgiInput::read, py::arg("size") = py::none())
      .def("readline", &WsgiInput::readline, py::arg("size") = py::none())
      .def("readlines", &WsgiInput::readlines, py::arg("hint") = py::none())
      .def("__iter__", [](py::object self) { return self; })
      .def("__next__", &WsgiInput::next);

  py::class_<WsgiResponse, std::shared_ptr<WsgiResponse>>(m, "StartResponse",
                                                          "start_response (PEP 3333)")
      .def(
          "__call__",
          [](py::object self, py::object status, py::object headers, py::object exc_info) {
            return self.cast<WsgiResponse&>().start_response(
                self, std::move(status), std::move(headers), std::move(exc_info));
          },
          py::arg("status"), py::arg("response_headers"), py::arg("exc_info") = py::none())
      .def("write", &WsgiResponse::write, py::arg("data"));
  // The ASGI cycles: run_asgi (support.py) wraps receive() and send() in coroutines.
  py::class_<HttpCycle, std::shared_ptr<HttpCycle>>(m, "HttpCycle", "one ASGI HTTP request")
      .def("receive", &HttpCycle::receive)
      .def("send", &HttpCycle::send, py::arg("message"))
      .def("done", &HttpCycle::done, py::arg("error"));
  py::class_<WebSocketCycle, std::shared_ptr<WebSocketCycle>>(m, "WebSocketCycle",
                                                              "one ASGI WebSocket connection")
      .def("receive", &WebSocketCycle::receive)
      .def("send", &WebSocketCycle::send, py::arg("message"))
      .def("done", &WebSocketCycle::done, py::arg("error"));
  py::module_::import("sys").attr("modules")["_junction"] = m;
}

}  // namespace junction::bridge
