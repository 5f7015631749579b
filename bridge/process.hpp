// Forking the process that runs the interpreter, for --workers: what os.fork() does around
// fork(2), so that the child's interpreter is consistent (its import lock, thread states and
// GIL reset; the C API's PyOS_BeforeFork / PyOS_AfterFork_Child / PyOS_AfterFork_Parent).
#pragma once

#include <sys/types.h>

namespace junction::bridge {

// fork(2) with the interpreter prepared for it. Call on the thread that holds the GIL, with no
// other thread running Python. Returns fork()'s value (0 in the child, -1 with errno set).
pid_t fork_interpreter();

// Flushes Python's sys.stdout and sys.stderr (what apps print is buffered there): a worker
// calls it, with the GIL, before it ends with _exit() instead of returning to Python.
void flush_python_output();

}  // namespace junction::bridge
