// A process-wide budget of bytes held for clients (docs/reliability.md): request bodies read
// ahead of their app (--request-buffer-total) and response bytes queued for slow readers
// (--response-buffer-total). Taking is all or nothing and never blocks: a caller that is
// refused does what it would have done without the budget (streams the body, waits for the
// client), so the budget bounds memory without refusing anyone.
#pragma once

#include <atomic>
#include <cstdint>

namespace junction::gateway {

class ByteBudget {
 public:
  explicit ByteBudget(std::uint64_t total) noexcept : total_(total) {}
  ByteBudget(const ByteBudget&) = delete;
  ByteBudget& operator=(const ByteBudget&) = delete;

  // Any thread. False, with nothing taken, when `bytes` more would pass the total.
  bool try_take(std::uint64_t bytes) noexcept {
    auto used = used_.load(std::memory_order_relaxed);
    do {
      if (bytes > total_ - used) {
        refused_.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
    } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
    return true;
  }
  void give_back(std::uint64_t bytes) noexcept {
    used_.fetch_sub(bytes, std::memory_order_relaxed);
  }

  std::uint64_t used() const noexcept { return used_.load(std::memory_order_relaxed); }
  std::uint64_t total() const noexcept { return total_; }
  // Takes refused so far.
  std::uint64_t refused() const noexcept { return refused_.load(std::memory_order_relaxed); }

 private:
  const std::uint64_t total_;
  std::atomic<std::uint64_t> used_{0};
  std::atomic<std::uint64_t> refused_{0};
};

// One connection's (or stream's) share of a ByteBudget: the bytes it holds past its own bound,
// adjusted as its output grows and drains, and given back when it goes. One thread only.
class BudgetShare {
 public:
  BudgetShare() = default;
  explicit BudgetShare(ByteBudget* budget) noexcept : budget_(budget) {}
  ~BudgetShare() {
    if (held_ > 0) budget_->give_back(held_);
  }
  BudgetShare(const BudgetShare&) = delete;
  BudgetShare& operator=(const BudgetShare&) = delete;
  // Before it holds anything (a share made before its budget was known).
  void draw_from(ByteBudget* budget) noexcept { budget_ = budget; }

  // Holds `excess` bytes in all: true when it did already or the budget gives the rest; false
  // (holding what it held) without a budget, past `most`, or when the budget is spent.
  bool cover(std::uint64_t excess, std::uint64_t most) noexcept {
    if (excess <= held_) return true;
    if (!budget_ || excess > most || !budget_->try_take(excess - held_)) return false;
    held_ = excess;
    return true;
  }
  // Holds no more than `excess` bytes: the rest drained.
  void settle(std::uint64_t excess) noexcept {
    if (excess >= held_) return;
    budget_->give_back(held_ - excess);
    held_ = excess;
  }

 private:
  ByteBudget* budget_ = nullptr;
  std::uint64_t held_ = 0;
};

}  // namespace junction::gateway
