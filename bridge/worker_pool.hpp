// The WSGI pool: a fixed set of Python threads and a bounded queue of requests waiting for one
// (../shared/DESIGN.md, "Threads and the GIL").
//
// Each thread keeps one PyThreadState for its life and holds the GIL only while it runs a job:
// it waits for work, and a job waits for I/O, with the GIL released. When every thread is busy
// and `backlog` jobs already wait, submit() refuses at once so the caller can answer 503.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace junction::bridge {

class WorkerPool {
 public:
  using Job = std::function<void()>;  // runs with the GIL held

  // Starts `threads` threads. The interpreter must be initialised; the caller may hold the GIL
  // (the threads take it when it is released).
  WorkerPool(unsigned threads, std::size_t backlog);
  ~WorkerPool();  // stop() must have returned true, or the process must not return from main
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues a job unless the backlog is full; never blocks. Callable from any thread.
  bool try_submit(Job job);

  // Jobs queued or running: the server waits for these during a graceful shutdown.
  std::size_t busy() const;

  // Refuses new jobs, drops queued ones, waits up to `timeout` for running ones, then joins.
  // Returns false if a job is still running (the threads are left alone, detached).
  // The caller must not hold the GIL.
  bool stop(std::chrono::milliseconds timeout);

 private:
  void run_thread();

  mutable std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable all_idle_;
  std::deque<Job> queue_;
  std::size_t backlog_;
  std::size_t idle_ = 0;     // threads waiting for a job
  std::size_t running_ = 0;  // jobs being run
  std::size_t exited_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace junction::bridge
