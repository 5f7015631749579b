// Process logging: the error log (spdlog), at the level --log-level names, as text or one JSON
// object a line (--log-format), on stderr or appended to --log-file (opened again on SIGUSR1,
// for logrotate).
#pragma once

#include <string>

namespace junction::gateway {

struct LogOptions {
  std::string level = "info";
  std::string format = "text";  // text | json
  std::string file;             // empty: stderr
};

// Sets the default logger. Throws std::runtime_error, one line, when the file cannot be opened.
void init_logging(const LogOptions& options);
// Backwards-compatible form: text on stderr.
inline void init_logging(const std::string& level) {
  init_logging(LogOptions{level, "text", {}});
}

// SIGUSR1: opens --log-file again (logrotate moved it). False, with `error`, when it cannot (the
// old file stays in use); true and nothing done without a log file.
bool reopen_log_file(std::string& error);
// The --log-file in use; empty for stderr.
const std::string& log_file();

}  // namespace junction::gateway
