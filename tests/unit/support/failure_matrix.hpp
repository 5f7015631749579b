// A failure matrix (STYLE.md "Errors and tests", after Beast's test/beast/http/read.cpp): a
// scripted exchange runs once over a MemoryStream to count the stream operations it makes,
// then once for every one of them with that operation failed (or, for writes, held), and each
// run must end cleanly. The protocol-specific part is the scenario: it sets the fault on its
// peer, plays its script and says what went wrong. Header-only.
#pragma once

#include <fmt/format.h>

#include <functional>
#include <string>
#include <string_view>

#include "support/hang_guard.hpp"
#include "support/memory_stream.hpp"

namespace junction::test {

enum class Fault {
  none,   // the clean run, which counts the operations
  read,   // read n fails with connection_reset, and every later one
  write,  // write n fails with connection_reset, and every later one
  hold,   // write n and every later one are held: the client takes none of our output
};

inline const char* to_string(Fault fault) {
  switch (fault) {
    case Fault::none:
      return "none";
    case Fault::read:
      return "read";
    case Fault::write:
      return "write";
    case Fault::hold:
      return "held write";
  }
  return "?";
}

// Sets `fault` at operation `n` on the peer, before the connection starts.
inline void inject(MemoryPeer& peer, Fault fault, int n) {
  switch (fault) {
    case Fault::none:
      break;
    case Fault::read:
      peer.fail_read(n);
      break;
    case Fault::write:
      peer.fail_write(n);
      break;
    case Fault::hold:
      peer.hold_writes(n);
      break;
  }
}

// Whether the run came as far as operation `n`, so that the fault struck.
inline bool struck(const MemoryPeer& peer, Fault fault, int n) {
  switch (fault) {
    case Fault::none:
      return false;
    case Fault::read:
      return peer.failed_reads() > 0;
    case Fault::write:
      return peer.failed_writes() > 0;
    case Fault::hold:
      return peer.writes() > n;
  }
  return false;
}

// What one run left behind.
struct FaultRun {
  int reads = 0;  // operations the stream saw
  int writes = 0;
  bool struck = false;   // the fault struck
  std::string problems;  // what went wrong; empty when the connection ended cleanly
};

// Plays a scripted exchange with `fault` at operation `n` (Fault::none: the clean run, which
// also checks the responses).
using FaultScenario = std::function<FaultRun(Fault fault, int n)>;

// Runs `scenario` clean to count its reads (for Fault::read) or writes, then with the fault at
// each of them in turn. Says one line per run that went wrong, and one with the number of
// points covered; true when every run ended cleanly.
inline bool run_fault_matrix(std::string_view name, const FaultScenario& scenario, Fault fault,
                             const Say& say) {
  auto clean = scenario(Fault::none, 0);
  if (!clean.problems.empty()) {
    say(fmt::format("{}: the clean run: {}", name, clean.problems));
    return false;
  }
  int count = fault == Fault::read ? clean.reads : clean.writes;
  int failed = 0;
  for (int n = 0; n < count; ++n) {
    auto run = scenario(fault, n);
    if (!run.struck) run.problems += "the fault never struck; ";
    if (run.problems.empty()) continue;
    ++failed;
    say(fmt::format("{}: {} {} of {}: {}", name, to_string(fault), n, count, run.problems));
  }
  say(fmt::format("{}: {} {} points, {} failed", name, count, to_string(fault), failed));
  return failed == 0;
}

}  // namespace junction::test
