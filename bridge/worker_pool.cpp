#include "bridge/worker_pool.hpp"

#include <Python.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <iterator>

#include "bridge/borrowed_bytes.hpp"

namespace junction::bridge {

namespace {

// How long queued jobs may see no thread start before the monitor wakes another one.
constexpr std::chrono::milliseconds kStallCheck{1};

}  // namespace

// A thread counts as idle from the start, before it first waits: a fresh pool (whose threads
// cannot even start while the loading thread holds the GIL) accepts a job per thread.
WorkerPool::WorkerPool(unsigned threads, std::size_t backlog)
    : backlog_(backlog), idle_(threads), thread_count_(threads) {
  threads_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { run_thread(); });
  monitor_ = std::thread([this] { run_monitor(); });
}

WorkerPool::~WorkerPool() {
  for (auto& thread : threads_)
    if (thread.joinable()) thread.detach();
  if (monitor_.joinable()) monitor_.detach();
}

WorkerPool::Ticket WorkerPool::submit(Job job, bool defer_wake) {
  std::unique_lock lock(mutex_);
  // A job waits only if no idle thread is about to take it; those waits are what the backlog
  // bounds.
  if (stopping_ || queue_.size() >= idle_ + backlog_) return kRefused;
  auto ticket = ++next_ticket_;
  queue_.push_back({ticket, std::move(job)});
  if (!defer_wake) wake_locked(lock);
  return ticket;
}

bool WorkerPool::cancel(Ticket ticket) {
  Job job;
  {
    std::lock_guard lock(mutex_);
    // Tickets rise through the queue: search from the back, where a late job is.
    auto it = std::find_if(queue_.rbegin(), queue_.rend(),
                           [ticket](const Queued& queued) { return queued.ticket == ticket; });
    if (it == queue_.rend()) return false;
    job = std::move(it->job);
    queue_.erase(std::next(it).base());
  }
  return true;  // `job` goes now, outside the lock
}

void WorkerPool::wake() {
  std::unique_lock lock(mutex_);
  wake_locked(lock);
}

void WorkerPool::wake_locked(std::unique_lock<std::mutex>& lock) {
  if (queue_.empty()) return;
  bool wake_thread = running_ + waking_ == 0 && idle_ > 0;
  if (wake_thread) ++waking_;
  // Jobs the woken thread does not take at once (a burst submitted with one wake), or any job
  // while a thread runs: that thread will most likely take them, and the monitor checks that
  // one starts. Without it, a burst of slow requests would run one after another on one
  // thread while the others sleep.
  bool arm_monitor = (!wake_thread || queue_.size() > 1) && monitor_idle_;
  if (arm_monitor) monitor_idle_ = false;
  lock.unlock();
  if (wake_thread) work_ready_.notify_one();
  if (arm_monitor) monitor_ready_.notify_one();
}

void WorkerPool::run_monitor() {
  std::unique_lock lock(mutex_);
  std::uint64_t seen = started_;
  while (!stopping_) {
    if (queue_.empty()) {
      monitor_idle_ = true;
      monitor_ready_.wait(lock, [this] { return stopping_ || !monitor_idle_; });
      monitor_idle_ = false;
      seen = started_;
      continue;
    }
    monitor_ready_.wait_for(lock, kStallCheck, [this] { return stopping_; });
    if (stopping_) break;
    if (!queue_.empty() && started_ == seen && idle_ > waking_) {
      ++waking_;
      work_ready_.notify_one();
    }
    seen = started_;
  }
}

std::size_t WorkerPool::busy() const {
  std::lock_guard lock(mutex_);
  return queue_.size() + running_;
}

WorkerPool::Load WorkerPool::load() const {
  std::lock_guard lock(mutex_);
  return {running_, queue_.size()};
}

WorkerPool::Progress WorkerPool::progress() const {
  std::lock_guard lock(mutex_);
  return {started_, running_, queue_.empty() && running_ == 0};
}

void WorkerPool::run_thread() {
  // This thread's one thread state: created now, released when the thread ends.
  PyGILState_STATE gil = PyGILState_Ensure();
  PyThreadState* state = PyEval_SaveThread();
  std::unique_lock lock(mutex_);
  while (true) {
    // Only a thread that was meant to wake leaves; the job it was woken for may be gone by then
    // (a running thread took it), and it goes back to sleep.
    work_ready_.wait(lock, [this] { return stopping_ || waking_ > 0; });
    if (waking_ > 0) --waking_;
    if (stopping_) break;
    if (queue_.empty()) continue;
    --idle_;
    Job job = std::move(queue_.front().job);
    queue_.pop_front();
    ++running_;
    ++started_;
    lock.unlock();
    PyEval_RestoreThread(state);
    while (true) {
      job();
      job = nullptr;       // what the job captured goes now, with the GIL held
      release_deferred();  // and the app bytes the I/O threads have sent since
      // Under load the next request is often already queued: take it while still holding the
      // GIL rather than dropping it and contending for it again (a context switch each time).
      lock.lock();
      --running_;
      if (stopping_ || queue_.empty()) {
        ++idle_;
        break;
      }
      job = std::move(queue_.front().job);
      queue_.pop_front();
      ++running_;
      ++started_;
      lock.unlock();
    }
    lock.unlock();
    state = PyEval_SaveThread();
    lock.lock();
    if (stopping_) break;
  }
  ++exited_;
  all_idle_.notify_all();
  lock.unlock();
  PyEval_RestoreThread(state);
  PyGILState_Release(gil);
}

bool WorkerPool::stop(std::chrono::milliseconds timeout) {
  std::deque<Queued> dropped;
  {
    std::unique_lock lock(mutex_);
    stopping_ = true;
    dropped.swap(queue_);
  }
  work_ready_.notify_all();
  monitor_ready_.notify_all();
  if (!dropped.empty()) {
    // Dropped jobs may hold Python objects only through their captures' destructors; ours hold
    // none, but take the GIL anyway so a future job type cannot crash here.
    PyGILState_STATE gil = PyGILState_Ensure();
    dropped.clear();
    PyGILState_Release(gil);
  }
  std::unique_lock lock(mutex_);
  if (!all_idle_.wait_for(lock, timeout, [this] { return exited_ == threads_.size(); })) {
    spdlog::error("{} WSGI request(s) still running after shutdown; leaving them", running_);
    return false;
  }
  lock.unlock();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  monitor_.join();
  return true;
}

}  // namespace junction::bridge
