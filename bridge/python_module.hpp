// The Python modules the bridge brings: `_junction` (the C++ classes behind wsgi.input,
// start_response and the ASGI cycles) and `_junction_support` (support.py, compiled in).
#pragma once

#include <pybind11/pybind11.h>

namespace junction::bridge {

// Executes support.py as the module `_junction_support` unless sys.modules has it; returns it.
// GIL held.
pybind11::object install_support_module();

// Creates the module and puts it in sys.modules. Call once, with the GIL held.
void register_python_module();

}  // namespace junction::bridge
