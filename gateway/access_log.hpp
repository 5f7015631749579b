// The access log: one line per completed request, in the --access-log-format, to stdout or
// --access-log-file. Lines are formatted on the I/O thread that finished the request into a
// shared buffer, which one writer thread hands to the file in batches (every 100 ms, or sooner
// once 64 KiB are waiting): a request costs no system call of its own. It is opened in the
// process that serves (a worker: after the fork), whose pid is {pid}.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gateway/access_log_format.hpp"
#include "gateway/exchange.hpp"

namespace junction::gateway {

struct AccessLogOptions {
  std::string format = "default";    // --access-log-format
  std::string file;                  // --access-log-file; empty: stdout
  std::vector<std::string> exclude;  // --access-log-exclude: paths not logged (exact match)
};

class AccessLog {
 public:
  static constexpr std::size_t kBatchBytes = 64 * 1024;
  static constexpr std::chrono::milliseconds kBatchDelay{100};
  // Past this much unwritten (a reader that stopped reading stdout), lines are dropped and
  // counted rather than held or waited for: the server must not stall on its log.
  static constexpr std::size_t kMaxPendingBytes = 8 * 1024 * 1024;

  // Opens the file (appending, created 0644). Throws std::runtime_error, one line, when the
  // format does not parse or the file cannot be opened.
  explicit AccessLog(const AccessLogOptions& options);
  // Writes what is left.
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Any thread.
  // `route`: the router's index of the route that answered ({app}, {route}).
  void write(const RequestHead& request, int status, std::uint64_t body_bytes,
             std::chrono::steady_clock::duration duration,
             std::size_t route = Router::kNotFoundRoute);
  // The routes by index (Router::routes()), for {app} and {route}; set before the first write,
  // and again (any thread) when a single process swaps its routes. Each table is kept until the
  // log goes, so a write that read the old one never reads freed memory.
  void set_routes(std::vector<RouteLabel> routes);

  // SIGUSR1 (logrotate's postrotate): writes what is pending to the old file, then opens the
  // path again. False, with `error`, when it cannot (the old file stays in use). True and
  // nothing done for stdout.
  bool reopen(std::string& error);
  // Hands everything pending to the file now (tests, shutdown).
  void flush();

  const std::string& file() const noexcept { return options_.file; }

 private:
  void run_writer();
  void write_out(const char* bytes, std::size_t size);
  // The lines waiting, leaving an empty buffer of kBatchBytes in their place; mutex_ held.
  fmt::memory_buffer take_pending();
  bool excluded(const RequestHead& request) const noexcept;

  AccessLogOptions options_;
  AccessLogFormat format_;
  std::atomic<const std::vector<RouteLabel>*> routes_{nullptr};
  std::deque<std::vector<RouteLabel>> route_tables_;  // guarded by mutex_
  std::mutex mutex_;
  std::condition_variable wake_;
  fmt::memory_buffer pending_;  // guarded by mutex_
  std::uint64_t dropped_ = 0;   // lines dropped over kMaxPendingBytes; guarded
  bool stopping_ = false;
  int pid_;
  int fd_ = 1;              // stdout, or the file; replaced under mutex_ by reopen()
  std::mutex write_mutex_;  // held while a batch is written: reopen swaps the descriptor under it
  std::thread writer_;
};

}  // namespace junction::gateway
