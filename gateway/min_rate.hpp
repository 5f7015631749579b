// --min-request-body-rate and --min-response-rate (docs/reliability.md, "Minimum rates"): a
// client may take `grace`, and then one second more for every `rate` bytes it has moved (Apache
// mod_reqtimeout's MinRate), so a trickle of bytes cannot hold a connection, a thread or a
// buffer for ever while a stall timeout never fires.
//
// Only time spent waiting on the client counts: a body read the app has outstanding, output the
// client has not taken. An app that is slow to read or to write never makes its client look
// slow.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "gateway/options.hpp"

namespace junction::gateway {

class RateMeter {
 public:
  using duration = std::chrono::steady_clock::duration;

  void moved(std::uint64_t bytes) noexcept { bytes_ += bytes; }
  void waited(duration time) noexcept { waited_ += time; }

  // How much longer the client may keep us waiting before it is below `rate` bytes a second:
  // zero or less when it already is; nullopt when `rate` is 0 (no minimum).
  std::optional<duration> allowance(double rate, seconds_d grace) const noexcept {
    if (rate <= 0) return std::nullopt;
    auto earned = grace + seconds_d(static_cast<double>(bytes_) / rate);
    return std::chrono::duration_cast<duration>(earned) - waited_;
  }

 private:
  std::uint64_t bytes_ = 0;
  duration waited_{};
};

}  // namespace junction::gateway
