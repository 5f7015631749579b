// junction._native: the extension module the `junction` package runs the server with. It is
// the composition root's product, as an executable's main() would be: one function that takes
// the command line and returns the exit code. Everything Python beyond that is bridge/'s.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "gateway/server/run.hpp"

PYBIND11_MODULE(_native, m) {
  m.doc() = "Junction's server, in C++: run() takes the command line, returns the exit code";
  m.def(
      "run",
      [](const std::vector<std::string>& argv) {
        auto sys = pybind11::module_::import("sys");
        auto version = sys.attr("version").cast<std::string>();
        auto runtime = "Python " + version.substr(0, version.find(' ')) + " (" +
                       sys.attr("executable").cast<std::string>() + ")";
        return junction::gateway::run_main(argv, runtime);
      },
      pybind11::arg("argv"),
      "Runs junction with `argv` (the program name first) and returns the exit code. Holds "
      "the GIL while the apps load and releases it while serving.");
  m.attr("__version__") = JUNCTION_VERSION;
}
