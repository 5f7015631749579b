// The `_junction` Python module: the C++ classes behind wsgi.input and start_response.
#pragma once

namespace junction::bridge {

// Creates the module and puts it in sys.modules. Call once, with the GIL held.
void register_python_module();

}  // namespace junction::bridge
