// --workers: the master process. It owns the listeners (bound before any worker starts, so an
// address in use is one line and exit 1), forks the workers that serve them, replaces a worker
// that dies (with backoff, and gives up on a crash loop), kills one whose heartbeats stopped,
// reloads them without downtime, and turns signals into what the workers must do. Connections
// wait in the listeners' shared accept queues, which belong to the master's sockets, not to a
// worker: a worker that exits costs none of them.
#pragma once

#include <functional>
#include <string>

#include "gateway/metrics.hpp"
#include "gateway/server/config.hpp"
#include "gateway/server/worker_board.hpp"

namespace junction::gateway {

// Runs in a new worker, in the child of a fork: serves the listeners and returns the exit
// code. `board[slot]` is the worker's place on the board it shares with the master and the
// other workers: it marks it serving (WorkerSlot::begin_serving) and then calls `ready` once it
// is about to accept (its apps are loaded), beats while serving (--worker-timeout), counts its
// connections there (the accept balance) and marks it draining when it begins to shut down.
using WorkerMain =
    std::function<int(WorkerBoard& board, std::size_t slot, const std::function<void()>& ready)>;

// Supervises `config.workers` workers until SIGTERM/SIGINT (graceful: every worker drains
// within --graceful-timeout; a second signal cuts) or SIGQUIT (immediate). SIGHUP (and, with
// --reload, a changed .py file) starts a new set of workers, and the old ones drain once the
// new ones are all ready; SIGTTIN/SIGTTOU add or retire a worker. A worker that fails before it
// is ready with a start-up exit code (2, 3, 4) ends the master with that code (during a reload
// it ends the reload instead); one that keeps dying right after it starts ends it with 1. Call
// on the interpreter's main thread with the GIL held, no other thread running Python. Returns
// the exit code.
// `metrics` (with --admin-bind): each worker counts into its board slot's metrics slot; the
// master counts worker starts and exits, and folds an exited worker's counters into the
// retired slot.
// `on_reload` runs in the master at each reload, before the new workers start (SIGHUP: it
// re-reads the --config file); true when the routes changed, so that the old workers' counts
// by route are not folded under the new table's labels.
using OnReload = std::function<bool(const std::string& why)>;
int run_master(const Config& config, const WorkerMain& worker_main, MetricsStore* metrics = nullptr,
               const OnReload& on_reload = {});

}  // namespace junction::gateway
