// The embedded interpreter for the tests that need Python. The first call starts it, once for the
// whole test binary, and releases the GIL, so tests may run in any order and tests without Python
// never start it. A test takes the GIL with py::gil_scoped_acquire and destroys its Python
// objects before letting it go.
//
// The interpreter is never finalised (a test's pool threads may outlive the test by design). Its
// objects then live on at exit, and pymalloc keeps pointers to them in mmap()ed arenas, which
// LeakSanitizer does not scan: it would report them all as leaks. So Python allocates with
// malloc() here, where LeakSanitizer follows those pointers and finds everything reachable.
#pragma once

#include <pybind11/embed.h>

#include <mutex>

namespace junction::test {

// Starts the interpreter if it is not running yet. Returns with the GIL released.
inline void ensure_python() {
  static std::once_flag started;
  std::call_once(started, [] {
    PyPreConfig preconfig;
    PyPreConfig_InitPythonConfig(&preconfig);
    preconfig.allocator = PYMEM_ALLOCATOR_MALLOC;
    PyStatus status = Py_PreInitialize(&preconfig);
    if (PyStatus_Exception(status)) Py_ExitStatusException(status);
    // Catch2 keeps its own signal handling; Python installs no SIGINT handler of its own.
    pybind11::initialize_interpreter(/*init_signal_handlers=*/false);
    PyEval_SaveThread();
  });
}

}  // namespace junction::test
