#include "gateway/server/shadow_report.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <system_error>

namespace junction::gateway {

ShadowReport::ShadowReport(std::size_t routes, bool shared)
    : routes_(routes), bytes_(sizeof(Route) * (routes == 0 ? 1 : routes)) {
  void* memory = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE,
                        (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED)
    throw std::system_error(errno, std::generic_category(), "mapping the shadow report");
  // Zero-filled: every counter and sequence number starts at 0. The atomics are lock-free, so
  // they work across the processes that share the pages.
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
  table_ = new (memory) Route[routes == 0 ? 1 : routes];
}

ShadowReport::~ShadowReport() {
  ::munmap(table_, bytes_);
}

void ShadowReport::add(std::size_t route, Counter counter) noexcept {
  if (route < routes_) table_[route].counters[counter].fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t ShadowReport::count(std::size_t route, Counter counter) const noexcept {
  return route < routes_ ? table_[route].counters[counter].load(std::memory_order_relaxed) : 0;
}

void ShadowReport::record(std::size_t route, std::string_view json_object) noexcept {
  if (route >= routes_) return;
  auto& table = table_[route];
  auto n = table.next.fetch_add(1, std::memory_order_relaxed);
  auto& record = table.records[n % kMismatches];
  record.sequence.store(2 * n + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  // The callers bound every field; an object that still does not fit is not cut (a cut one
  // would not parse), it says so.
  if (json_object.size() > kRecordBytes) json_object = R"({"truncated":true})";
  std::memcpy(record.text, json_object.data(), json_object.size());
  record.length = static_cast<std::uint32_t>(json_object.size());
  record.sequence.store(2 * n + 2, std::memory_order_release);
}

std::vector<std::string> ShadowReport::mismatches(std::size_t route) const {
  std::vector<std::string> out;
  if (route >= routes_) return out;
  const auto& table = table_[route];
  auto next = table.next.load(std::memory_order_acquire);
  for (auto n = next; n > 0 && next - n < kMismatches; --n) {
    const auto& record = table.records[(n - 1) % kMismatches];
    auto before = record.sequence.load(std::memory_order_acquire);
    if (before != 2 * (n - 1) + 2) continue;  // being written, or already written over
    auto length = std::min<std::size_t>(record.length, kRecordBytes);
    std::string copy(record.text, length);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (record.sequence.load(std::memory_order_relaxed) == before) out.push_back(std::move(copy));
  }
  return out;
}

}  // namespace junction::gateway
