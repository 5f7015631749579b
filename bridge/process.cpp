#include "bridge/process.hpp"

#include <Python.h>
#include <unistd.h>

#include <cerrno>
#include <initializer_list>

namespace junction::bridge {

pid_t fork_interpreter() {
  PyOS_BeforeFork();
  pid_t pid = ::fork();
  if (pid == 0) {
    PyOS_AfterFork_Child();
  } else {
    int saved = errno;
    PyOS_AfterFork_Parent();
    errno = saved;
  }
  return pid;
}

void flush_python_output() {
  for (const char* name : {"stdout", "stderr"}) {
    PyObject* stream = PySys_GetObject(name);  // borrowed
    if (stream == nullptr || stream == Py_None) continue;
    PyObject* result = PyObject_CallMethod(stream, "flush", nullptr);
    if (result == nullptr) PyErr_Clear();
    Py_XDECREF(result);
  }
}

}  // namespace junction::bridge
