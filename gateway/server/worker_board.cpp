#include "gateway/server/worker_board.hpp"

#include <fmt/format.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <new>
#include <system_error>

namespace junction::gateway {

// The board is shared between processes: its atomics must not hide a lock.
static_assert(std::atomic<std::int64_t>::is_always_lock_free);
static_assert(std::atomic<int>::is_always_lock_free);

std::int64_t WorkerSlot::now() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void WorkerSlot::reset() noexcept {
  wsgi_beat.store(0, std::memory_order_relaxed);
  asgi_beat.store(0, std::memory_order_relaxed);
  connections.store(0, std::memory_order_relaxed);
  io_threads.store(0, std::memory_order_relaxed);
  for (auto& beat : io_beats) beat.store(0, std::memory_order_relaxed);
  state.store(kStarting, std::memory_order_release);
}

void WorkerSlot::begin_serving(unsigned io_thread_count, bool wsgi, bool asgi) noexcept {
  auto t = now();
  unsigned count = io_thread_count < kMaxIoThreads ? io_thread_count : kMaxIoThreads;
  for (unsigned i = 0; i < count; ++i) io_beats[i].store(t, std::memory_order_relaxed);
  io_threads.store(count, std::memory_order_relaxed);
  wsgi_beat.store(wsgi ? t : 0, std::memory_order_relaxed);
  asgi_beat.store(asgi ? t : 0, std::memory_order_relaxed);
  state.store(kServing, std::memory_order_release);
}

std::optional<WorkerSlot::Stuck> WorkerSlot::stuck(
    std::int64_t now_ns, std::chrono::nanoseconds timeout) const noexcept {
  auto silent = [&](const std::atomic<std::int64_t>& beat) -> std::optional<double> {
    auto t = beat.load(std::memory_order_relaxed);
    if (t == 0 || now_ns - t <= timeout.count()) return std::nullopt;
    return static_cast<double>(now_ns - t) / 1e9;
  };
  unsigned count = io_threads.load(std::memory_order_relaxed);
  for (unsigned i = 0; i < count && i < kMaxIoThreads; ++i)
    if (auto s = silent(io_beats[i])) return Stuck{fmt::format("I/O thread {}", i), *s};
  if (auto s = silent(asgi_beat)) return Stuck{"ASGI event loop", *s};
  if (auto s = silent(wsgi_beat)) return Stuck{"WSGI pool", *s};
  return std::nullopt;
}

WorkerBoard::WorkerBoard() {
  void* memory = ::mmap(nullptr, sizeof(WorkerSlot) * kSlots, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED)
    throw std::system_error(errno, std::generic_category(), "mmap of the worker board");
  slots_ = static_cast<WorkerSlot*>(memory);
  for (std::size_t i = 0; i < kSlots; ++i) new (&slots_[i]) WorkerSlot();
}

WorkerBoard::~WorkerBoard() {
  // WorkerSlot is trivially destructible in effect (atomics of integers): unmapping is enough.
  ::munmap(slots_, sizeof(WorkerSlot) * kSlots);
}

std::optional<std::size_t> WorkerBoard::claim() noexcept {
  for (std::size_t i = 0; i < kSlots; ++i) {
    if (used_[i]) continue;
    used_[i] = true;
    slots_[i].reset();
    return i;
  }
  return std::nullopt;
}

bool WorkerBoard::should_yield_accept(std::size_t index) const noexcept {
  auto own = slots_[index].connections.load(std::memory_order_relaxed);
  bool other = false;
  std::int64_t least = 0;
  for (std::size_t i = 0; i < kSlots; ++i) {
    if (i == index || slots_[i].state.load(std::memory_order_relaxed) != WorkerSlot::kServing)
      continue;
    auto count = slots_[i].connections.load(std::memory_order_relaxed);
    least = other ? std::min(least, count) : count;
    other = true;
  }
  return other && own > least + 1;
}

void WorkerBoard::release(std::size_t index) noexcept {
  used_[index] = false;
  slots_[index].state.store(WorkerSlot::kFree, std::memory_order_release);
}

}  // namespace junction::gateway
