// libFuzzer target: the configuration file reader (gateway/server/config_file.hpp) on any text:
// TOML syntax, the flags as keys, [apps.NAME], [[routes]] with their migration keys and
// [[listen]]. It must never throw or crash, it must reject with at least one message of the form
// "FILE:LINE:COL: ..." or "FILE: ...", and what it accepts must hold together: every route names
// apps the file defines.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/server/config_file.hpp"

namespace {

using junction::gateway::FlagShape;

// A command line's worth of flags of each shape: valued, switches and repeatable.
const std::vector<FlagShape>& flags() {
  static const std::vector<FlagShape> shapes = {
      {"workers", false, false},
      {"threads", false, false},
      {"backlog", false, false},
      {"bind", false, true},
      {"no-access-log", true, false},
      {"access-log-format", false, false},
      {"http", false, false},
      {"tls-cert", false, true},
      {"tls-key", false, true},
      {"request-timeout", false, false},
      {"limit-concurrency", false, false},
      {"forwarded-allow-ips", false, false},
      {"proxy-protocol", true, false},
      {"static", false, true},
      {"admin-bind", false, false},
      {"log-level", false, false},
      {"diagnostics", true, false},
      {"request-buffer-size", false, false},
  };
  return shapes;
}

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "config file reader: %s: %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> errors;
  auto file = junction::gateway::read_config_text(text, "fuzz.toml", flags(), errors);
  if (!file) {
    if (errors.empty()) fail("rejected without a message", "");
    for (const auto& error : errors)
      if (!error.starts_with("fuzz.toml:")) fail("a message that names no place", error);
    return 0;
  }
  if (!errors.empty()) fail("accepted with errors", errors.front());
  for (const auto& route : file->routes)
    for (const auto& app : route.apps()) {
      bool defined = false;
      for (const auto& entry : file->apps) defined = defined || entry.name == app;
      if (!defined) fail("a route names an app the file does not define", app);
    }
  return 0;
}
