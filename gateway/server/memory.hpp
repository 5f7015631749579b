// Memory returns after a peak (docs/reliability.md, "Memory after peaks"). glibc keeps what a
// burst freed: its mmap threshold grows with every large block freed (up to 32 MiB on 64-bit),
// so later large buffers come from the heap, and free heap memory goes back to the kernel only
// from the top. After 300 slow readers of a 1 MiB response a process stayed at ~600 MB.
#pragma once

#include <cstdint>

namespace junction::gateway {

// Pins glibc's mmap threshold (mallopt(3): setting it turns the dynamic adjustment off), so a
// large buffer is its own mapping and goes back to the kernel the moment it is freed. Once per
// process, before serving.
void pin_mmap_threshold() noexcept;

// Gives free heap memory back to the kernel (malloc_trim(3)) once more than `slack` bytes of
// it are free: after a peak, not under steady load, where freed memory is soon used again.
// Called periodically from one thread; returns the bytes the heap held free before a trim (0
// when it did not trim).
class MemoryTrimmer {
 public:
  static constexpr std::uint64_t kSlack = 32ull << 20;
  explicit MemoryTrimmer(std::uint64_t slack = kSlack) noexcept : slack_(slack) {}
  std::uint64_t check() noexcept;

 private:
  std::uint64_t slack_;
};

}  // namespace junction::gateway
