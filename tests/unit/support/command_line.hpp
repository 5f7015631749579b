// Parsing a command line as main() passes it, for the configuration tests. Header-only.
#pragma once

#include <utility>
#include <vector>

#include "gateway/server/config.hpp"

namespace junction::gateway {

// The configuration `args` (without the program name) give.
inline Config parse_args(std::vector<const char*> args) {
  args.insert(args.begin(), "junction");
  return parse_command_line(static_cast<int>(args.size()), args.data());
}

// The CommandLineExit that parsing `args` throws; exit_code -1 when it throws none.
inline CommandLineExit exit_of(std::vector<const char*> args) {
  try {
    parse_args(std::move(args));
  } catch (const CommandLineExit& e) {
    return e;
  }
  return {-1, "parse_command_line returned"};
}

}  // namespace junction::gateway
