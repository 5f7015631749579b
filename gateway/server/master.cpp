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
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "bridge/process.hpp"
#include "gateway/logging.hpp"
#include "gateway/server/file_watcher.hpp"
#include "gateway/server/systemd.hpp"

namespace junction::gateway {
namespace {

using Clock = std::chrono::steady_clock;

// A worker that dies sooner than this after it started counts towards a crash loop; this many
// such deaths in a row end the master (gunicorn's workers-failed-to-boot, bounded).
constexpr auto kQuickDeath = std::chrono::seconds(5);
constexpr int kCrashLoopLimit = 5;
constexpr int kStartupCodes[] = {2, 3, 4};  // usage, lifespan, app load: respawning cannot help
// --reload: changes closer together than this are one reload (an editor saving several files,
// or writing a file in steps).
constexpr auto kReloadSettle = std::chrono::milliseconds(200);

struct Worker {
  pid_t pid = -1;
  int ready_fd = -1;  // read end of the worker's ready pipe; -1 once it is ready
  bool ready = false;
  // Asked to go, or going on its own, and not to be replaced when it exits: SIGTTOU, a
  // recycle (the replacement started when it began to drain), an old worker after a reload.
  bool retiring = false;
  std::size_t slot = 0;
  unsigned generation = 0;  // which reload started it
  Clock::time_point started;
  std::optional<Clock::time_point> kill_at;  // draining on its own: SIGKILL past this
  bool killed_stuck = false;                 // --worker-timeout killed it
};

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

bool is_startup_code(int status) {
  return WIFEXITED(status) && std::find(std::begin(kStartupCodes), std::end(kStartupCodes),
                                        WEXITSTATUS(status)) != std::end(kStartupCodes);
}

class Master {
 public:
  Master(const Config& config, const WorkerMain& worker_main, MetricsStore* metrics,
         const OnReload& on_reload)
      : config_(config),
        worker_main_(worker_main),
        metrics_(metrics),
        on_reload_(on_reload),
        target_(config.workers) {}

  int run() {
    if (config_.reload) {
      std::vector<std::string> roots = config_.reload_dirs;
      if (roots.empty()) roots.push_back(".");
      try {
        watcher_ = std::make_unique<FileWatcher>(roots);
      } catch (const std::system_error& e) {
        std::fprintf(stderr, "junction: --reload: %s\n", e.what());
        return 1;
      }
      spdlog::info("--reload: watching {} director{} for changed .py files",
                   watcher_->directories(), watcher_->directories() == 1 ? "y" : "ies");
    }
    sigset_t handled;
    sigemptyset(&handled);
    for (int s : {SIGCHLD, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGTTIN, SIGTTOU, SIGUSR1})
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
    discard_pending(handled);
    sigprocmask(SIG_SETMASK, &saved_mask_, nullptr);
    return code;
  }

 private:
  void spawn() {
    auto slot = board_.claim();
    if (!slot) {
      spdlog::error("cannot start a worker: all {} worker slots are in use", WorkerBoard::kSlots);
      return;
    }
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
      spdlog::error("cannot start a worker: pipe: {}", std::strerror(errno));
      board_.release(*slot);
      return;
    }
    std::fflush(stdout);
    std::fflush(stderr);
    pid_t pid = bridge::fork_interpreter();
    if (pid < 0) {
      spdlog::error("cannot start a worker: fork: {}", std::strerror(errno));
      ::close(pipe_fds[0]);
      ::close(pipe_fds[1]);
      board_.release(*slot);
      return;
    }
    if (pid == 0) run_worker(*slot, pipe_fds[1], pipe_fds[0]);  // never returns
    ::close(pipe_fds[1]);
    Worker worker;
    worker.pid = pid;
    worker.ready_fd = pipe_fds[0];
    worker.slot = *slot;
    worker.generation = generation_;
    worker.started = Clock::now();
    workers_.push_back(worker);
    if (metrics_) metrics_->master().add(counter::worker_starts);
    spdlog::debug("worker {} started", pid);
  }

  [[noreturn]] void run_worker(std::size_t slot, int ready_fd, int other_end) {
    ::close(other_end);
    ::close(signal_fd_);
    for (const auto& w : workers_)
      if (w.ready_fd >= 0) ::close(w.ready_fd);
    watcher_.reset();  // its descriptor is the master's
    // The master's signals are its own; a worker starts with the dispositions it inherited
    // and the mask the master had before it blocked them.
    sigprocmask(SIG_SETMASK, &saved_mask_, nullptr);
    // A worker must not outlive a master that was killed outright.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    SystemdNotify::instance().disable();  // the master speaks to systemd
    ::prctl(PR_SET_NAME, "junction worker");
    if (::getppid() == 1) std::_Exit(1);
    int code = 1;
    try {
      code = worker_main_(board_, slot, [ready_fd] {
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

  // A SIGTERM that came after the last worker was reaped is still pending: unblocked, its
  // default action would kill a master that has already stopped cleanly (exit -15, not 0).
  // Setting a pending signal to SIG_IGN discards it (POSIX sigaction); then the caller's
  // dispositions come back, for a script that goes on after junction.run().
  static void discard_pending(const sigset_t& handled) {
    sigset_t pending;
    sigpending(&pending);
    for (int s : {SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGTTIN, SIGTTOU, SIGUSR1}) {
      if (!sigismember(&handled, s) || !sigismember(&pending, s)) continue;
      struct sigaction ignore {
      }, previous{};
      ignore.sa_handler = SIG_IGN;
      ::sigaction(s, &ignore, &previous);
      ::sigaction(s, &previous, nullptr);
    }
  }

  void signal_all(int number) {
    for (const auto& w : workers_) ::kill(w.pid, number);
  }

  void retire(Worker& worker) {
    worker.retiring = true;
    worker.kill_at = Clock::now() + graceful();
    ::kill(worker.pid, SIGTERM);
  }

  std::size_t current_ready() const {
    return static_cast<std::size_t>(std::count_if(workers_.begin(), workers_.end(), [&](auto& w) {
      return w.ready && !w.retiring && w.generation == generation_;
    }));
  }

  // SIGHUP, --reload: a new set of workers (fresh imports, TLS certificates read again); the
  // old ones drain once every new one is ready (advance_reload), so no request goes unserved.
  void start_reload(const std::string& why) {
    if (stopping_) return;
    if (reloading_) {
      // A newer change: the half-started set would serve stale code.
      for (auto& w : workers_)
        if (w.generation == generation_ && !w.retiring) retire(w);
    }
    ++generation_;
    reloading_ = true;
    // The configuration file first: the new workers serve what it says now.
    if (on_reload_ && on_reload_(why)) {
      // /metrics counts by route index: the old table's counts must not take the new labels.
      routes_generation_ = generation_;
      if (metrics_) metrics_->forget_routes();
    }
    spdlog::info("{}: starting {} new worker(s); the old ones drain once they are ready", why,
                 target_);
    SystemdNotify::instance().reloading();
    for (unsigned i = 0; i < target_; ++i) spawn();
  }

  void advance_reload() {
    if (!reloading_ || current_ready() < target_) return;
    reloading_ = false;
    std::size_t old = 0;
    for (auto& w : workers_) {
      if (w.generation == generation_ || w.retiring) continue;
      retire(w);
      ++old;
    }
    spdlog::info("reload: {} new worker(s) ready; {} old worker(s) draining", target_, old);
    SystemdNotify::instance().ready(fmt::format("{} worker(s) serving (reloaded)", target_));
  }

  // A new worker of the reload failed before it was ready: the old ones keep serving.
  void fail_reload(pid_t pid, int status) {
    reloading_ = false;
    for (auto& w : workers_)
      if (w.generation == generation_ && !w.retiring) retire(w);
    spdlog::error(
        "reload failed: new worker {} ended with {} before it was ready; the old "
        "workers keep serving",
        pid, describe_status(status));
    SystemdNotify::instance().ready("reload failed; the old workers keep serving");
  }

  // What the board says: a worker that began to drain on its own (recycling) gets its
  // replacement now, while it finishes its requests; one whose heartbeat stopped is killed.
  void watch_board(Clock::time_point now) {
    auto now_ns = WorkerSlot::now();
    // Replacements are forked after the loop: spawn() appends to workers_, which would
    // invalidate `w` (ASan caught it when a worker recycled while others were listed).
    std::size_t replacements = 0;
    for (auto& w : workers_) {
      auto& slot = board_[w.slot];
      int state = slot.state.load(std::memory_order_acquire);
      if (state == WorkerSlot::kDraining && !w.retiring && !stopping_) {
        w.retiring = true;
        w.kill_at = now + graceful();
        if (w.generation == generation_) {
          spdlog::info("worker {} is recycling; starting a new one", w.pid);
          quick_deaths_ = 0;
          ++replacements;
        }
      }
      if (w.kill_at && now >= *w.kill_at) {
        spdlog::warn("worker {} still running past the grace period: killing it", w.pid);
        ::kill(w.pid, SIGKILL);
        w.kill_at.reset();
      }
      if (config_.worker_timeout.count() > 0 && state == WorkerSlot::kServing && !w.killed_stuck) {
        auto timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(config_.worker_timeout);
        if (auto stuck = slot.stuck(now_ns, timeout)) {
          spdlog::error(
              "worker {}: its {} has not responded for {:.1f}s (--worker-timeout {:g}): "
              "killing it",
              w.pid, stuck->part, stuck->silent_seconds, config_.worker_timeout.count());
          w.killed_stuck = true;
          ::kill(w.pid, SIGKILL);
        }
      }
    }
    for (; replacements > 0; --replacements) spawn();
  }

  // --reload: changes settle for kReloadSettle before the reload starts.
  void on_files_changed(Clock::time_point now) {
    auto changed = watcher_->read_changes();
    if (changed.empty()) return;
    if (!reload_due_) changed_file_ = changed.front();
    reload_due_ = now + kReloadSettle;
  }

  // The exit code, once every worker is gone after a shutdown (or a fatal start-up failure).
  int supervise() {
    Clock::time_point watchdog_due{};
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
      advance_reload();
      if (!announced && !stopping_ && !reloading_ && current_ready() == target_) {
        announced = true;
        spdlog::info("{} worker(s) ready", target_);
        SystemdNotify::instance().ready(fmt::format("{} worker(s) serving", target_));
      }
      // Type=notify with WatchdogSec=: the master says it is alive while it supervises (a
      // stuck worker is its own business: --worker-timeout).
      if (auto period = SystemdNotify::instance().watchdog_period();
          period.count() > 0 && now >= watchdog_due) {
        SystemdNotify::instance().watchdog();
        watchdog_due = now + period;
      }
      if (kill_at && now >= *kill_at) {
        spdlog::warn("workers still running past the grace period: killing them");
        signal_all(SIGKILL);
        kill_at.reset();
      }
      watch_board(now);
      if (reload_due_ && now >= *reload_due_) {
        reload_due_.reset();
        start_reload(fmt::format("--reload: {} changed", changed_file_));
        announced = true;  // advance_reload says when the new set is ready
      }

      std::vector<pollfd> fds{{signal_fd_, POLLIN, 0}};
      if (watcher_) fds.push_back({watcher_->fd(), POLLIN, 0});
      std::size_t first_worker = fds.size();
      for (const auto& w : workers_)
        if (w.ready_fd >= 0) fds.push_back({w.ready_fd, POLLIN, 0});
      ::poll(fds.data(), fds.size(), 100);

      if (watcher_ && (fds[1].revents & POLLIN)) on_files_changed(Clock::now());
      for (std::size_t i = first_worker; i < fds.size(); ++i) {
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
            start_reload("SIGHUP");
            announced = true;
            break;
          case SIGUSR1:
            // Each worker has the log files open: they reopen them, and the master its own
            // --log-file. Without files the logs go to stdout and stderr, which the process
            // manager owns and rotates.
            if (!log_file().empty()) {
              std::string error;
              if (reopen_log_file(error))
                spdlog::info("SIGUSR1: log file {} reopened", log_file());
              else
                spdlog::error("SIGUSR1: {}; the log stays on the file it had", error);
            }
            if ((config_.access_log && !config_.access_log_options.file.empty()) ||
                !log_file().empty()) {
              spdlog::info("SIGUSR1: the workers reopen their log files");
              signal_all(SIGUSR1);
            } else {
              spdlog::info("SIGUSR1: no log file to reopen (logs go to stdout and stderr)");
            }
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
                retire(*it);
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
    if (!stopping_) SystemdNotify::instance().stopping();
    stopping_ = true;
    reloading_ = false;
    signal_all(number);
  }

  // /metrics: the worker's counters join the retired ones (so that sums never go down), and
  // its end is counted by reason.
  void count_exit(const Worker& worker, int status) {
    if (!metrics_) return;
    metrics_->retire(worker.slot, worker.generation >= routes_generation_);
    auto reason = worker.killed_stuck                             ? counter::worker_exits_timeout
                  : WIFSIGNALED(status)                           ? counter::worker_exits_signaled
                  : WIFEXITED(status) && WEXITSTATUS(status) == 0 ? counter::worker_exits_clean
                                                                  : counter::worker_exits_failed;
    metrics_->master().add(reason);
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
      // A worker that recycled itself may be gone before watch_board saw it draining.
      bool drained =
          board_[worker.slot].state.load(std::memory_order_acquire) == WorkerSlot::kDraining;
      count_exit(worker, status);
      board_.release(worker.slot);
      workers_.erase(it);
      int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
      if (stopping_) {
        if (code != 0 && exit_code_ == 0 && WIFEXITED(status)) exit_code_ = code;
        spdlog::debug("worker {} stopped ({})", pid, describe_status(status));
        continue;
      }
      if (worker.retiring) {
        spdlog::info("worker {} retired ({})", pid, describe_status(status));
        continue;
      }
      if (!worker.ready && reloading_ && worker.generation == generation_) {
        fail_reload(pid, status);
        continue;
      }
      if (worker.generation != generation_ && reloading_) {
        // An old worker died while its replacements start: they take its place.
        spdlog::warn("worker {} died ({}) during a reload", pid, describe_status(status));
        continue;
      }
      if (!worker.ready && is_startup_code(status)) {
        // The worker printed why; a replacement would fail the same way.
        exit_code_ = code;
        keep_going = false;
        continue;
      }
      if (WIFEXITED(status) && code == 0 && worker.ready) {
        // It recycled itself (and exited before the board was read), or stopped on its own.
        spdlog::info("worker {} {}; starting a new one", pid, drained ? "recycled" : "exited");
        quick_deaths_ = 0;
        ++pending;
        continue;
      }
      bool quick = !worker.killed_stuck && Clock::now() - worker.started < kQuickDeath;
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
  MetricsStore* metrics_;  // null: no --admin-bind
  const OnReload& on_reload_;
  unsigned target_;
  WorkerBoard board_;
  std::vector<Worker> workers_;
  std::unique_ptr<FileWatcher> watcher_;
  std::optional<Clock::time_point> reload_due_;
  std::string changed_file_;
  int signal_fd_ = -1;
  sigset_t saved_mask_{};
  bool stopping_ = false;
  bool reloading_ = false;
  unsigned generation_ = 0;
  unsigned routes_generation_ = 0;  // the first generation of the current route table
  int exit_code_ = 0;
  int quick_deaths_ = 0;
};

}  // namespace

int run_master(const Config& config, const WorkerMain& worker_main, MetricsStore* metrics,
               const OnReload& on_reload) {
  return Master(config, worker_main, metrics, on_reload).run();
}

}  // namespace junction::gateway
