#include "gateway/logging.hpp"

#include <fcntl.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "gateway/access_log_format.hpp"

namespace junction::gateway {
namespace {

// One JSON object a line, for log shippers (Loki, Elasticsearch, CloudWatch): a multi-line
// message such as a Python traceback stays one record, its line breaks escaped.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    fmt::memory_buffer out;
    auto since_epoch = msg.time.time_since_epoch();
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds);
    std::time_t t = seconds.count();
    std::tm utc{};
    ::gmtime_r(&t, &utc);
    char stamp[32];
    auto n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
    fmt::format_to(std::back_inserter(out), "{{\"time\":\"{}.{:03}Z\",\"level\":\"{}\",",
                   std::string_view(stamp, n), millis.count(), level_name(msg.level));
    fmt::format_to(std::back_inserter(out), "\"pid\":{},\"message\":", pid());
    auto text = std::string_view(msg.payload.data(), msg.payload.size());
    while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    append_json_quoted(out, text);
    out.append(std::string_view("}\n"));
    dest.append(out.data(), out.data() + out.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }

 private:
  static std::string_view level_name(spdlog::level::level_enum level) {
    // The names --log-level takes (Python's logging says "warning" too).
    switch (level) {
      case spdlog::level::trace:
        return "trace";
      case spdlog::level::debug:
        return "debug";
      case spdlog::level::info:
        return "info";
      case spdlog::level::warn:
        return "warning";
      case spdlog::level::err:
        return "error";
      default:
        return "critical";
    }
  }
  // Not cached across a fork: a worker logs its own pid.
  static int pid() { return static_cast<int>(::getpid()); }
};

int open_append(const std::string& path, std::string& error) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) error = "cannot open the log file " + path + ": " + std::strerror(errno);
  return fd;
}

// --log-file: each record one write(2) with O_APPEND, so the master and its workers can share
// the file; reopen() swaps the descriptor under the sink's lock.
class FileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit FileSink(std::string path) : path_(std::move(path)) {
    std::string error;
    fd_ = open_append(path_, error);
    if (fd_ < 0) throw std::runtime_error(error);
  }
  ~FileSink() override {
    if (fd_ >= 0) ::close(fd_);
  }

  bool reopen(std::string& error) {
    int fresh = open_append(path_, error);
    if (fresh < 0) return false;
    std::lock_guard lock(mutex_);
    ::close(fd_);
    fd_ = fresh;
    return true;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    std::size_t done = 0;
    while (done < line.size()) {
      auto n = ::write(fd_, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // nowhere to report it: the log is where errors go
      done += static_cast<std::size_t>(n);
    }
  }
  void flush_() override {}

 private:
  std::string path_;
  int fd_ = -1;
};

std::shared_ptr<FileSink> file_sink;
std::string file_path;

}  // namespace

void init_logging(const LogOptions& options) {
  std::shared_ptr<spdlog::logger> logger;
  if (options.file.empty()) {
    logger = spdlog::stderr_logger_mt("junction");
  } else {
    try {
      file_sink = std::make_shared<FileSink>(options.file);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(std::string("--log-file: ") + e.what());
    }
    file_path = options.file;
    logger = std::make_shared<spdlog::logger>("junction", file_sink);
  }
  if (options.format == "json")
    logger->set_formatter(std::make_unique<JsonFormatter>());
  else
    logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
  logger->set_level(spdlog::level::from_str(options.level == "warning" ? "warn" : options.level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

bool reopen_log_file(std::string& error) {
  return !file_sink || file_sink->reopen(error);
}

const std::string& log_file() {
  return file_path;
}

}  // namespace junction::gateway
