// The access log's buffer and its writer thread (access_log.hpp).
#include "gateway/access_log.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace junction::gateway {
namespace {

AccessLogFormat compile(const std::string& text) {
  std::string error;
  auto format = AccessLogFormat::parse(text, error);
  if (!format) throw std::runtime_error("--access-log-format: " + error);
  return std::move(*format);
}

int open_log(const std::string& path, std::string& error) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) error = "cannot open the access log " + path + ": " + std::strerror(errno);
  return fd;
}

}  // namespace

AccessLog::AccessLog(const AccessLogOptions& options)
    : options_(options), format_(compile(options.format)), pid_(static_cast<int>(::getpid())) {
  if (!options_.file.empty()) {
    std::string error;
    fd_ = open_log(options_.file, error);
    if (fd_ < 0) throw std::runtime_error(error);
  }
  pending_.reserve(kBatchBytes);
  writer_ = std::thread([this] { run_writer(); });
}

AccessLog::~AccessLog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();
  flush();
  if (fd_ > 2) ::close(fd_);
}

bool AccessLog::excluded(const RequestHead& request) const noexcept {
  return std::find(options_.exclude.begin(), options_.exclude.end(), request.path) !=
         options_.exclude.end();
}

void AccessLog::set_routes(std::vector<RouteLabel> routes) {
  std::lock_guard lock(mutex_);
  route_tables_.push_back(std::move(routes));
  routes_.store(&route_tables_.back(), std::memory_order_release);
}

void AccessLog::write(const RequestHead& request, int status, std::uint64_t body_bytes,
                      std::chrono::steady_clock::duration duration, std::size_t route) {
  if (!options_.exclude.empty() && excluded(request)) return;
  auto now = format_.needs_time() ? std::chrono::system_clock::now()
                                  : std::chrono::system_clock::time_point{};
  const auto* routes = routes_.load(std::memory_order_acquire);
  const RouteLabel* label = routes && route < routes->size() ? &(*routes)[route] : nullptr;
  bool wake = false;
  {
    // Formatted straight into the shared buffer, under its lock: a line takes a few hundred
    // nanoseconds, the writer holds the lock only to take the buffer, and a buffer per thread
    // would cost a copy and a thread-local lookup (__tls_get_addr, in a module Python loads)
    // per line, which perf showed to cost more than the lock (docs/benchmarks.md).
    std::lock_guard lock(mutex_);
    if (pending_.size() >= kMaxPendingBytes) {
      ++dropped_;
      return;
    }
    format_.write({request, status, body_bytes, duration, now, label, pid_}, pending_);
    wake = pending_.size() >= kBatchBytes;
  }
  if (wake) wake_.notify_one();
}

void AccessLog::run_writer() {
  // Named, so that top -H and perf (bench/observability.sh) tell its time from the I/O threads'.
  ::pthread_setname_np(::pthread_self(), "junction-log");
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, kBatchDelay,
                   [this] { return stopping_ || pending_.size() >= kBatchBytes; });
    lock.unlock();
    flush();
    lock.lock();
  }
}

fmt::memory_buffer AccessLog::take_pending() {
  fmt::memory_buffer batch = std::move(pending_);
  pending_.clear();  // a moved-from fmt buffer that was inline keeps its bytes
  pending_.reserve(kBatchBytes);
  return batch;
}

// The batch is taken and written under write_mutex_, so that batches reach the file in the
// order their lines were logged whoever writes them (the writer thread, flush(), reopen()).
void AccessLog::flush() {
  std::lock_guard writing(write_mutex_);
  fmt::memory_buffer batch;
  std::uint64_t dropped = 0;
  {
    std::lock_guard lock(mutex_);
    if (pending_.size() == 0 && dropped_ == 0) return;  // the writer's idle tick
    batch = take_pending();
    std::swap(dropped, dropped_);
  }
  if (dropped > 0)
    spdlog::warn("access log: {} line(s) dropped, {} bytes were waiting to be written", dropped,
                 kMaxPendingBytes);
  if (batch.size() > 0) write_out(batch.data(), batch.size());
}

void AccessLog::write_out(const char* bytes, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    auto n = ::write(fd_, bytes + done, size - done);
    if (n >= 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {  // a non-blocking stdout (a parent's pipe): wait for room, briefly
      pollfd writable{fd_, POLLOUT, 0};
      if (::poll(&writable, 1, 1000) > 0) continue;
    }
    spdlog::error("access log: writing {} bytes failed: {}", size - done, std::strerror(errno));
    return;
  }
}

bool AccessLog::reopen(std::string& error) {
  if (options_.file.empty()) return true;
  std::lock_guard writing(write_mutex_);
  int fresh = open_log(options_.file, error);
  if (fresh < 0) return false;
  fmt::memory_buffer batch;
  {
    std::lock_guard lock(mutex_);
    batch = take_pending();
  }
  // What was logged before the signal goes to the old file, which logrotate has renamed.
  if (batch.size() > 0) write_out(batch.data(), batch.size());
  ::close(fd_);
  fd_ = fresh;
  return true;
}

}  // namespace junction::gateway
