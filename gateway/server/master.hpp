// --workers: the master process. It owns the listeners (bound before any worker starts, so an
// address in use is one line and exit 1), forks the workers that serve them, replaces a worker
// that dies (with backoff, and gives up on a crash loop), and turns signals into what the
// workers must do. Connections wait in the listeners' shared accept queues, which belong to
// the master's sockets, not to a worker: a worker that exits costs none of them.
#pragma once

#include <functional>

#include "gateway/server/config.hpp"

namespace junction::gateway {

// Runs in a new worker, in the child of a fork: serves the listeners and returns the exit
// code. `ready` is called once the worker is about to accept (its apps are loaded).
using WorkerMain = std::function<int(const std::function<void()>& ready)>;

// Supervises `config.workers` workers until SIGTERM/SIGINT (graceful: every worker drains
// within --graceful-timeout; a second signal cuts) or SIGQUIT (immediate). SIGHUP goes to every
// worker (TLS certificates re-read); SIGTTIN/SIGTTOU add or retire a worker. A worker that
// fails before it is ready with a start-up exit code (2, 3, 4) ends the master with that code;
// one that keeps dying right after it starts ends it with 1. Call on the interpreter's main
// thread with the GIL held, no other thread running Python. Returns the exit code.
int run_master(const Config& config, const WorkerMain& worker_main);

}  // namespace junction::gateway
