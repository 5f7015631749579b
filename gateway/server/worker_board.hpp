// --workers: the board the master and its workers share (anonymous shared memory, mapped before
// the first fork). Each worker has a slot where it says what it is doing (serving, draining) and
// where its I/O threads and its Python side leave heartbeats; the master reads the slots to
// start a replacement as soon as a worker begins to recycle itself, and to kill a worker whose
// heartbeats stopped (--worker-timeout). Only atomics cross the process boundary, so neither
// side ever waits for the other.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace junction::gateway {

// One worker's slot. Times are CLOCK_MONOTONIC nanoseconds (std::chrono::steady_clock), the
// same clock in every process; 0 means "not reporting" (a part the worker does not have).
struct WorkerSlot {
  enum State : int { kFree, kStarting, kServing, kDraining };
  static constexpr std::size_t kMaxIoThreads = 64;  // beats kept for the first 64 I/O threads

  std::atomic<int> state{kFree};
  std::atomic<std::int64_t> connections{0};  // open now (the accept balance reads it)
  std::atomic<std::int64_t> wsgi_beat{0};    // the WSGI pool is idle or made progress
  std::atomic<std::int64_t> asgi_beat{0};    // the ASGI event loop ran a callback
  std::atomic<unsigned> io_threads{0};
  std::array<std::atomic<std::int64_t>, kMaxIoThreads> io_beats{};

  static std::int64_t now() noexcept;
  // Empties the slot for a new worker (master, before the fork).
  void reset() noexcept;
  // The worker is about to serve: every part it has counts as alive from now on.
  void begin_serving(unsigned io_thread_count, bool wsgi, bool asgi) noexcept;

  // The first part whose heartbeat is older than `timeout` at `now_ns`, described for the log
  // ("I/O thread 2", "WSGI pool", "ASGI event loop"), with how long it has been silent.
  struct Stuck {
    std::string part;
    double silent_seconds;
  };
  std::optional<Stuck> stuck(std::int64_t now_ns, std::chrono::nanoseconds timeout) const noexcept;
};

// The slots, in memory that forked workers share with the master.
class WorkerBoard {
 public:
  static constexpr std::size_t kSlots = 256;  // the --workers bound, plus SIGTTIN headroom

  WorkerBoard();  // throws std::system_error when the mapping fails
  ~WorkerBoard();
  WorkerBoard(const WorkerBoard&) = delete;
  WorkerBoard& operator=(const WorkerBoard&) = delete;

  // A free slot, reset and marked starting; nullopt when every slot is taken.
  std::optional<std::size_t> claim() noexcept;
  void release(std::size_t index) noexcept;
  WorkerSlot& operator[](std::size_t index) noexcept { return slots_[index]; }
  const WorkerSlot& operator[](std::size_t index) const noexcept { return slots_[index]; }

  // Whether the worker in `index` should let the others accept the next connection: it has
  // more than one connection more than the least loaded other serving worker. The workers
  // share each listener's accept queue, and the first to wake would otherwise take a whole
  // burst of connections (a load generator's, a proxy's pool) while the others sleep.
  bool should_yield_accept(std::size_t index) const noexcept;

 private:
  WorkerSlot* slots_ = nullptr;
  std::array<bool, kSlots> used_{};  // the master's own bookkeeping (not shared)
};

}  // namespace junction::gateway
