// Runs a scenario in a child process, so that a scenario that never returns (a busy loop on
// the I/O thread, which no io_context deadline can interrupt) fails the test instead of
// hanging the suite. Header-only; POSIX.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

namespace junction::test {

enum class Outcome { passed, failed, hung };

inline const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::passed:
      return "passed";
    case Outcome::failed:
      return "failed";
    case Outcome::hung:
      return "hung";
  }
  return "?";
}

// `scenario` runs in a forked child and returns whether it went as expected. It must not use
// Catch assertions (the child's results are not reported); only its return value counts.
inline Outcome run_guarded(const std::function<bool()>& scenario, std::chrono::milliseconds limit) {
  pid_t child = fork();
  if (child == 0) _exit(scenario() ? 0 : 1);
  if (child < 0) return Outcome::failed;
  auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (waitpid(child, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(child, SIGKILL);
      waitpid(child, &status, 0);
      return Outcome::hung;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? Outcome::passed : Outcome::failed;
}

}  // namespace junction::test
