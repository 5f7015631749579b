// Runs a scenario in a child process, so that a scenario that never returns (a busy loop on
// the I/O thread, which no io_context deadline can interrupt) fails the test instead of
// hanging the suite. Header-only; POSIX.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

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

// How a guarded scenario reports: each line reaches the parent as soon as it is said.
using Say = std::function<void(std::string_view line)>;

// `scenario` runs in a forked child and returns whether it went as expected. It must not use
// Catch assertions (the child's results are not reported); its return value counts, and what
// it passes to `say` ends up in `said`, one line each: what a scenario said before it hung or
// crashed is kept too.
inline Outcome run_guarded(const std::function<bool(const Say& say)>& scenario,
                           std::chrono::milliseconds limit, std::string& said) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return Outcome::failed;
  pid_t child = fork();
  if (child == 0) {
    close(pipe_fds[0]);
    Say say = [fd = pipe_fds[1]](std::string_view line) {
      std::string text(line);
      text.push_back('\n');
      for (std::size_t at = 0; at < text.size();) {
        auto n = write(fd, text.data() + at, text.size() - at);
        if (n <= 0) break;
        at += static_cast<std::size_t>(n);
      }
    };
    _exit(scenario(say) ? 0 : 1);
  }
  close(pipe_fds[1]);
  if (child < 0) {
    close(pipe_fds[0]);
    return Outcome::failed;
  }
  fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
  auto drain = [&] {
    char buffer[4096];
    for (ssize_t n; (n = read(pipe_fds[0], buffer, sizeof buffer)) > 0;)
      said.append(buffer, static_cast<std::size_t>(n));
  };
  auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  bool hung = false;
  while (waitpid(child, &status, WNOHANG) == 0) {
    drain();
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(child, SIGKILL);
      waitpid(child, &status, 0);
      hung = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  drain();
  close(pipe_fds[0]);
  if (hung) return Outcome::hung;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? Outcome::passed : Outcome::failed;
}

inline Outcome run_guarded(const std::function<bool()>& scenario, std::chrono::milliseconds limit) {
  std::string ignored;
  return run_guarded([&](const Say&) { return scenario(); }, limit, ignored);
}

// For the end of a guarded scenario: false when LeakSanitizer (in the ASan build) finds heap
// memory nothing points to any more, which it reports on stderr. The child of run_guarded
// ends with _exit, so the check LeakSanitizer makes at exit never runs there. It sees the
// whole process: leaks of earlier tests in the same process count too.
inline bool no_leaks() {
#if defined(__SANITIZE_ADDRESS__)
  return __lsan_do_recoverable_leak_check() == 0;
#else
  return true;
#endif
}

}  // namespace junction::test
