// The one timeout mechanism of a connection, HTTP/1.1 and HTTP/2 alike: a single timer that
// wakes its connection at the deadline the connection set, and at least once a period. Moving
// a deadline later costs nothing (the timer fires early and re-arms), so a connection that
// moves its deadline with every request costs no timer operation a request; only an earlier
// deadline moves the timer. The connection decides what a deadline means (a 408, a close);
// the watchdog only says which one passed.
#pragma once

#include <algorithm>
#include <memory>

#include "gateway/errors.hpp"
#include "gateway/transport.hpp"

namespace junction::gateway {

class Watchdog {
 public:
  using clock = Clock;
  static constexpr int kNone = 0;  // no deadline passed: a periodic wake-up

  Watchdog(const Executor& executor, clock::duration period) : timer_(executor), period_(period) {}

  // Starts waking `owner`: owner->on_watchdog(now, kind) runs at each wake-up, with the kind of
  // the deadline that passed (kNone for a periodic one); it returns false to stop. The pending
  // wait holds the owner, of which this watchdog is a member, so neither ends before it.
  template <class Owner>
  void start(std::shared_ptr<Owner> owner) {
    stopped_ = false;
    arm(std::move(owner));
  }

  // The deadline of kind `kind` (not kNone) replaces the one set before.
  void set_deadline(clock::time_point when, int kind) {
    deadline_ = when;
    kind_ = kind;
    if (when < timer_.expiry()) timer_.expires_at(when);
  }
  void clear_deadline() noexcept {
    deadline_ = clock::time_point::max();
    kind_ = kNone;
  }
  clock::time_point deadline() const noexcept { return deadline_; }
  int deadline_kind() const noexcept { return kind_; }

  // No more wake-ups: the pending wait ends now (and releases its owner).
  void stop() {
    stopped_ = true;
    timer_.cancel();
  }

 private:
  template <class Owner>
  void arm(std::shared_ptr<Owner> owner) {
    timer_.expires_at(std::min(deadline_, clock::now() + period_));
    // `this` is a member of *owner, which the handler holds.
    timer_.async_wait([this, owner = std::move(owner)](error_code ec) mutable {
      if (stopped_) return;
      // An earlier deadline moved the timer (which cancels the wait): wait for it.
      if (ec == asio::error::operation_aborted) return arm(std::move(owner));
      auto now = clock::now();
      int passed = kNone;
      if (deadline_ <= now) {
        passed = kind_;
        clear_deadline();
      }
      if (owner->on_watchdog(now, passed) && !stopped_) arm(std::move(owner));
    });
  }

  Timer timer_;
  clock::duration period_;
  clock::time_point deadline_ = clock::time_point::max();
  int kind_ = kNone;
  bool stopped_ = true;
};

}  // namespace junction::gateway
