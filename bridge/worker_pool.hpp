// The WSGI pool: a fixed set of Python threads and a bounded queue of requests waiting for one
// (docs/architecture.md, "Python apps", the pool).
//
// Each thread keeps one PyThreadState for its life and holds the GIL only while it runs a job:
// it waits for work, and a job waits for I/O, with the GIL released. When every thread is busy
// and `backlog` jobs already wait, submit() refuses at once so the caller can answer 503.
//
// Waking threads is where the time goes (docs/architecture.md, the pool: a busy pool costs no
// futex call per request). A thread that finishes a job takes the next queued one while it still
// holds the GIL, so a sleeping thread is woken only when no thread is running. If the running ones
// are stuck (in time.sleep, a database call), a monitor thread that looks every millisecond while
// jobs wait sees that none started and wakes one more; threads are added one per millisecond until
// the queue moves or every thread is busy. The same holds for a burst woken as one: one thread is
// woken, and the monitor watches the jobs it has not taken.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
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

  // Queues a job unless the backlog is full; never blocks. Callable from any thread. With
  // `defer_wake`, the caller promises to call wake() soon (an I/O thread does so once per round
  // of ready sockets, so a burst of requests costs one wake-up, not one each).
  bool try_submit(Job job, bool defer_wake = false) {
    return submit(std::move(job), defer_wake) != kRefused;
  }
  // try_submit, returning a ticket that cancel() takes (kRefused when the job was refused).
  using Ticket = std::uint64_t;
  static constexpr Ticket kRefused = 0;
  Ticket submit(Job job, bool defer_wake = false);
  // Takes back a job that no thread has begun (its client left while it waited): its backlog
  // place is free at once. The job is destroyed on the calling thread, without the GIL. False
  // when a thread took it already (or the pool dropped it).
  bool cancel(Ticket ticket);

  // Wakes a sleeping thread if jobs wait and no thread is running or about to run.
  void wake();

  // Jobs queued or running: the server waits for these during a graceful shutdown.
  std::size_t busy() const;

  // What --worker-timeout's heartbeat compares between two looks: the pool made progress when
  // a job started or finished in between, and is not stuck when it has nothing to do.
  struct Progress {
    std::uint64_t started = 0;  // jobs taken so far
    std::size_t running = 0;
    bool idle = true;  // nothing running and nothing queued
    friend bool operator==(const Progress&, const Progress&) = default;
  };
  Progress progress() const;

  // For /metrics: jobs running and jobs waiting for a thread, now.
  struct Load {
    std::size_t running = 0;
    std::size_t queued = 0;
  };
  Load load() const;

  // --request-timeout: threads still running a request whose client already got its 504 (a
  // Python thread cannot be stopped). Each returns the new count.
  std::size_t mark_overdue() noexcept {
    return overdue_.fetch_add(1, std::memory_order_relaxed) + 1;
  }
  std::size_t overdue_returned() noexcept {
    return overdue_.fetch_sub(1, std::memory_order_relaxed) - 1;
  }
  std::size_t overdue() const noexcept { return overdue_.load(std::memory_order_relaxed); }
  unsigned threads() const noexcept { return thread_count_; }

  // Refuses new jobs, drops queued ones, waits up to `timeout` for running ones, then joins.
  // Returns false if a job is still running (the threads are left alone, detached).
  // The caller must not hold the GIL.
  bool stop(std::chrono::milliseconds timeout);

 private:
  void run_thread();
  void run_monitor();
  void wake_locked(std::unique_lock<std::mutex>& lock);

  mutable std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable all_idle_;
  struct Queued {
    Ticket ticket;
    Job job;
  };
  std::deque<Queued> queue_;
  Ticket next_ticket_ = kRefused;
  std::size_t backlog_;
  std::size_t idle_ = 0;       // threads not running a job (set to the thread count at start)
  std::size_t running_ = 0;    // jobs being run
  std::size_t waking_ = 0;     // threads notified that have not woken yet
  std::uint64_t started_ = 0;  // jobs taken so far: the monitor's sign of progress
  std::condition_variable monitor_ready_;
  bool monitor_idle_ = false;  // the monitor waits for a queued job (not polling)
  std::thread monitor_;
  std::size_t exited_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  const unsigned thread_count_;
  std::atomic<std::size_t> overdue_{0};
};

}  // namespace junction::bridge
