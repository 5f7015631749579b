#include "gateway/server/memory.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

namespace junction::gateway {

namespace {
// glibc's default starting threshold, kept: blocks this large and larger are mapped.
constexpr int kMmapThreshold = 128 * 1024;
}  // namespace

void pin_mmap_threshold() noexcept {
  ::mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
}

std::uint64_t MemoryTrimmer::check() noexcept {
  // fordblks: the free bytes the arenas hold (mallinfo2, glibc 2.33).
  auto free_bytes = static_cast<std::uint64_t>(::mallinfo2().fordblks);
  if (free_bytes <= slack_) return 0;
  ::malloc_trim(0);
  spdlog::debug("gave free heap memory back to the kernel ({} MiB were free)", free_bytes >> 20);
  return free_bytes;
}

}  // namespace junction::gateway
