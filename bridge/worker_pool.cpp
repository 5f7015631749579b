#include "bridge/worker_pool.hpp"

#include <Python.h>
#include <spdlog/spdlog.h>

#include <chrono>

namespace junction::bridge {

WorkerPool::WorkerPool(unsigned threads, std::size_t backlog) : backlog_(backlog) {
  threads_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { run_thread(); });
}

WorkerPool::~WorkerPool() {
  for (auto& thread : threads_)
    if (thread.joinable()) thread.detach();
}

bool WorkerPool::try_submit(Job job) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    // A job waits only if no idle thread is about to take it; those waits are what the backlog
    // bounds.
    if (stopping_ || queue_.size() >= idle_ + backlog_) return false;
    queue_.push_back(std::move(job));
    wake = idle_ > queue_.size() - 1;
  }
  // Only a thread that sleeps needs a futex wake-up; a busy one finds the job when it is done.
  if (wake) work_ready_.notify_one();
  return true;
}

std::size_t WorkerPool::busy() const {
  std::lock_guard lock(mutex_);
  return queue_.size() + running_;
}

void WorkerPool::run_thread() {
  // This thread's one thread state: created now, released when the thread ends.
  PyGILState_STATE gil = PyGILState_Ensure();
  PyThreadState* state = PyEval_SaveThread();
  std::unique_lock lock(mutex_);
  while (true) {
    ++idle_;
    work_ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    --idle_;
    if (stopping_) break;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();
    PyEval_RestoreThread(state);
    while (true) {
      job();
      job = nullptr;  // what the job captured goes now, with the GIL held
      // Under load the next request is often already queued: take it while still holding the
      // GIL rather than dropping it and contending for it again (a context switch each time).
      lock.lock();
      --running_;
      if (stopping_ || queue_.empty()) break;
      job = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
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
  std::deque<Job> dropped;
  {
    std::unique_lock lock(mutex_);
    stopping_ = true;
    dropped.swap(queue_);
  }
  work_ready_.notify_all();
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
  return true;
}

}  // namespace junction::bridge
