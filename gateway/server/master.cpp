#include "gateway/server/master.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "bridge/process.hpp"

namespace junction::gateway {
namespace {

using Clock = std::chrono::steady_clock;

// A worker that dies sooner than this after it started counts towards a crash loop; this many
// such deaths in a row end the master (gunicorn's workers-failed-to-boot, bounded).
constexpr auto kQuickDeath = std::chrono::seconds(5);
constexpr int kCrashLoopLimit = 5;
constexpr int kStartupCodes[] = {2, 3, 4};  // usage, lifespan, app load: respawning cannot help

struct Worker {
  pid_t pid = -1;
  int ready_fd = -1;  // read end of the worker's ready pipe; -1 once it is ready
  bool ready = false;
  bool retiring = false;  // sent SIGTERM on purpose (SIGTTOU): not replaced
  Clock::time_point started;
};

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

class Master {
 public:
  Master(const Config& config, const WorkerMain& worker_main)
      : config_(config), worker_main_(worker_main), target_(config.workers) {}

  int run() {
    sigset_t handled;
    sigemptyset(&handled);
    for (int s : {SIGCHLD, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGTTIN, SIGTTOU})
      sigaddset(&handled, s);
    sigprocmask(SIG_BLOCK, &handled, &saved_mask_);
    signal_fd_ = ::signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signal_fd_ < 0) {
      std::fprintf(stderr, "junction: cannot watch signals: %s\n", std::strerror(errno));
      sigprocmask(SIG_SETMASK, &saved_mask_, nullptr);
      return 1;
    }
    ::prctl(PR_SET_NAME, "junction master");
    spdlog::info("master {}: starting {} worker(s)", ::getpid(), target_);
    for (unsigned i = 0; i < target_; ++i) spawn();
    int code = supervise();
    ::close(signal_fd_);
    sigprocmask(SIG_SETMASK, &saved_mask_, nullptr);
    return code;
  }

 private:
  void spawn() {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
      spdlog::error("cannot start a worker: pipe: {}", std::strerror(errno));
      return;
    }
    std::fflush(stdout);
    std::fflush(stderr);
    pid_t pid = bridge::fork_interpreter();
    if (pid < 0) {
      spdlog::error("cannot start a worker: fork: {}", std::strerror(errno));
      ::close(pipe_fds[0]);
      ::close(pipe_fds[1]);
      return;
    }
    if (pid == 0) run_worker(pipe_fds[1], pipe_fds[0]);  // never returns
    ::close(pipe_fds[1]);
    workers_.push_back(Worker{pid, pipe_fds[0], false, false, Clock::now()});
    spdlog::debug("worker {} started", pid);
  }

  [[noreturn]] void run_worker(int ready_fd, int other_end) {
    ::close(other_end);
    ::close(signal_fd_);
    for (const auto& w : workers_)
      if (w.ready_fd >= 0) ::close(w.ready_fd);
    // The master's signals are its own; a worker starts with the dispositions it inherited
    // and the mask the master had before it blocked them.
    sigprocmask(SIG_SETMASK, &saved_mask_, nullptr);
    // A worker must not outlive a master that was killed outright.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    ::prctl(PR_SET_NAME, "junction worker");
    if (::getppid() == 1) std::_Exit(1);
    int code = 1;
    try {
      code = worker_main_([ready_fd] {
        char byte = 'R';
        [[maybe_unused]] auto n = ::write(ready_fd, &byte, 1);
        ::close(ready_fd);
      });
    } catch (const std::exception& e) {
      // Nothing may unwind past here: above is the master's stack, and Python's.
      spdlog::critical("worker {}: {}", ::getpid(), e.what());
    } catch (...) {
      spdlog::critical("worker {}: unknown exception", ::getpid());
    }
    bridge::flush_python_output();
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(code);
  }

  // The worker's ready pipe is readable: it sent its byte (ready) or closed it (died first).
  static void collect_ready(Worker& worker) {
    char byte = 0;
    if (::read(worker.ready_fd, &byte, 1) == 1) worker.ready = true;
    ::close(worker.ready_fd);
    worker.ready_fd = -1;
  }

  void signal_all(int number) {
    for (const auto& w : workers_) ::kill(w.pid, number);
  }

  // The exit code, once every worker is gone after a shutdown (or a fatal start-up failure).
  int supervise() {
    Clock::time_point respawn_at{};            // pending replacements wait for this (backoff)
    unsigned pending = 0;                      // replacements to start
    std::optional<Clock::time_point> kill_at;  // graceful shutdown: SIGKILL what remains then
    bool announced = false;
    while (true) {
      if (stopping_ && workers_.empty()) return exit_code_;
      auto now = Clock::now();
      if (!stopping_ && pending > 0 && now >= respawn_at) {
        for (; pending > 0; --pending) spawn();
      }
      if (!announced && !stopping_ && workers_.size() == target_ &&
          std::all_of(workers_.begin(), workers_.end(), [](const Worker& w) { return w.ready; })) {
        announced = true;
        spdlog::info("{} worker(s) ready", workers_.size());
      }
      if (kill_at && now >= *kill_at) {
        spdlog::warn("workers still running past the grace period: killing them");
        signal_all(SIGKILL);
        kill_at.reset();
      }

      std::vector<pollfd> fds{{signal_fd_, POLLIN, 0}};
      for (const auto& w : workers_)
        if (w.ready_fd >= 0) fds.push_back({w.ready_fd, POLLIN, 0});
      ::poll(fds.data(), fds.size(), 100);

      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
        for (auto& w : workers_)
          if (w.ready_fd == fds[i].fd) collect_ready(w);
      }

      signalfd_siginfo info{};
      while (::read(signal_fd_, &info, sizeof info) == sizeof info) {
        int number = static_cast<int>(info.ssi_signo);
        switch (number) {
          case SIGCHLD:
            if (!reap(pending, respawn_at)) {
              // A start-up failure or a crash loop: stop the others and end with its code.
              begin_stop(SIGTERM);
              kill_at = Clock::now() + graceful();
            }
            break;
          case SIGTERM:
          case SIGINT:
            if (stopping_) {
              spdlog::warn("{} again: cutting the workers' grace period", strsignal(number));
              signal_all(SIGTERM);
            } else {
              spdlog::info("{}: stopping {} worker(s), grace period {:g}s", strsignal(number),
                           workers_.size(), config_.timeouts.graceful.count());
              begin_stop(SIGTERM);
              kill_at = Clock::now() + graceful();
            }
            break;
          case SIGQUIT:
            spdlog::info("SIGQUIT: stopping now");
            begin_stop(SIGKILL);
            break;
          case SIGHUP:
            spdlog::info("SIGHUP: passed to {} worker(s)", workers_.size());
            signal_all(SIGHUP);
            break;
          case SIGTTIN:
            if (!stopping_) {
              ++target_;
              spdlog::info("SIGTTIN: {} worker(s)", target_);
              spawn();
              announced = false;
            }
            break;
          case SIGTTOU:
            if (!stopping_ && target_ > 1) {
              --target_;
              spdlog::info("SIGTTOU: {} worker(s)", target_);
              for (auto it = workers_.rbegin(); it != workers_.rend(); ++it) {
                if (it->retiring) continue;
                it->retiring = true;
                ::kill(it->pid, SIGTERM);
                break;
              }
            }
            break;
          default:
            break;
        }
      }
    }
  }

  std::chrono::steady_clock::duration graceful() const {
    // The workers drain within --graceful-timeout; give them a few seconds more to exit.
    return std::chrono::duration_cast<Clock::duration>(config_.timeouts.graceful) +
           std::chrono::seconds(5);
  }

  void begin_stop(int number) {
    stopping_ = true;
    signal_all(number);
  }

  // Collects dead workers and schedules replacements. False when the master must stop: a
  // worker failed to start with a start-up exit code, or workers keep dying.
  bool reap(unsigned& pending, Clock::time_point& respawn_at) {
    bool keep_going = true;
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      auto it = std::find_if(workers_.begin(), workers_.end(),
                             [pid](const Worker& w) { return w.pid == pid; });
      if (it == workers_.end()) continue;
      Worker worker = *it;
      if (worker.ready_fd >= 0) collect_ready(worker);
      workers_.erase(it);
      int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
      if (stopping_) {
        if (code != 0 && exit_code_ == 0 && WIFEXITED(status)) exit_code_ = code;
        spdlog::debug("worker {} stopped ({})", pid, describe_status(status));
        continue;
      }
      if (worker.retiring) {
        spdlog::info("worker {} retired", pid);
        continue;
      }
      if (!worker.ready && WIFEXITED(status) &&
          std::find(std::begin(kStartupCodes), std::end(kStartupCodes), code) !=
              std::end(kStartupCodes)) {
        // The worker printed why; a replacement would fail the same way.
        exit_code_ = code;
        keep_going = false;
        continue;
      }
      if (WIFEXITED(status) && code == 0 && worker.ready) {
        // It stopped on its own, cleanly: --max-requests recycled it.
        spdlog::info("worker {} recycled; starting a new one", pid);
        quick_deaths_ = 0;
        ++pending;
        continue;
      }
      bool quick = Clock::now() - worker.started < kQuickDeath;
      quick_deaths_ = quick ? quick_deaths_ + 1 : 0;
      if (quick_deaths_ >= kCrashLoopLimit) {
        std::fputs(fmt::format("junction: workers keep dying ({} in a row within {}s of "
                               "starting, the last with {}); stopping\n",
                               quick_deaths_, kQuickDeath.count(), describe_status(status))
                       .c_str(),
                   stderr);
        exit_code_ = 1;
        keep_going = false;
        continue;
      }
      auto delay = quick ? std::chrono::milliseconds(100 << std::min(quick_deaths_ - 1, 4))
                         : std::chrono::milliseconds(0);
      spdlog::warn("worker {} died ({}); starting a new one{}", pid, describe_status(status),
                   delay.count() ? fmt::format(" in {}ms", delay.count()) : "");
      respawn_at = std::max(respawn_at, Clock::now() + delay);
      ++pending;
    }
    return keep_going;
  }

  const Config& config_;
  const WorkerMain& worker_main_;
  unsigned target_;
  std::vector<Worker> workers_;
  int signal_fd_ = -1;
  sigset_t saved_mask_{};
  bool stopping_ = false;
  int exit_code_ = 0;
  int quick_deaths_ = 0;
};

}  // namespace

int run_master(const Config& config, const WorkerMain& worker_main) {
  return Master(config, worker_main).run();
}

}  // namespace junction::gateway
