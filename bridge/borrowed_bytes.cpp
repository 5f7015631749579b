#include "bridge/borrowed_bytes.hpp"

#include <atomic>
#include <mutex>
#include <vector>

namespace junction::bridge {
namespace {

struct Deferred {
  std::mutex mutex;
  std::vector<PyObject*> objects;  // references to give back, under `mutex`
  std::atomic<bool> pending{false};
  std::atomic<bool> stopped{false};
};

// Never destroyed: an I/O thread may drop a piece while static objects are being destroyed.
Deferred& deferred() {
  static auto* instance = new Deferred;
  return *instance;
}

void let_go(PyObject* object) noexcept {
  auto& d = deferred();
  if (d.stopped.load(std::memory_order_acquire)) return;
  if (PyGILState_Check()) {
    Py_DECREF(object);
    return;
  }
  std::lock_guard lock(d.mutex);
  d.objects.push_back(object);
  d.pending.store(true, std::memory_order_release);
}

gateway::BodyPiece borrow_bytes(PyObject* bytes) {
  std::string_view view(PyBytes_AS_STRING(bytes),
                        static_cast<std::size_t>(PyBytes_GET_SIZE(bytes)));
  Py_INCREF(bytes);
  // The owner's deleter gets the PyObject* (and runs at once, with the GIL, if allocating the
  // owner fails).
  return {view, gateway::BodyPiece::Owner(bytes, &let_go)};
}

}  // namespace

gateway::BodyPiece body_piece(PyObject* bytes) {
  auto size = static_cast<std::size_t>(PyBytes_GET_SIZE(bytes));
  if (size < kBorrowMin) return std::string(PyBytes_AS_STRING(bytes), size);
  return borrow_bytes(bytes);
}

void release_deferred() noexcept {
  auto& d = deferred();
  if (!d.pending.load(std::memory_order_acquire)) return;
  std::vector<PyObject*> taken;
  {
    std::lock_guard lock(d.mutex);
    taken.swap(d.objects);
    d.pending.store(false, std::memory_order_relaxed);
  }
  // Outside the lock: a decref may run any Python code, which may drop more pieces.
  for (auto* object : taken) Py_DECREF(object);
  taken.clear();
  std::lock_guard lock(d.mutex);
  if (d.objects.empty()) d.objects.swap(taken);  // keeps the capacity for the next ones
}

void stop_deferred_release() noexcept {
  release_deferred();
  deferred().stopped.store(true, std::memory_order_release);
}

}  // namespace junction::bridge
