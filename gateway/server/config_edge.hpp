// The command line's edge and proxy options (--forwarded-*, --proxy-protocol, --static*,
// --https-redirect, --hsts*, --uds-mode, --user, --group): added to the parser with the rest,
// then checked against each other and the listeners. Private to config.cpp.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gateway/server/config.hpp"

namespace junction::gateway::detail {

// What the parser fills before it is checked.
struct EdgeCommandLine {
  std::string forwarded_allow_ips = "127.0.0.1,::1";
  CLI::Option* forwarded_allow_ips_option = nullptr;  // given? ($FORWARDED_ALLOW_IPS is below it)
  std::vector<std::string> statics;
  std::optional<std::uint64_t> hsts;
  bool hsts_include_subdomains = false;
  bool hsts_preload = false;
  std::string uds_mode = "0660";
};

void add_edge_options(CLI::App& app, Config& config, EdgeCommandLine& cli);

// Fills config.edge from `cli`; `config.binds` and `config.tls` are final. Throws
// CommandLineExit (exit 2) with one line for a bad value or combination.
void finish_edge_options(Config& config, const EdgeCommandLine& cli);

}  // namespace junction::gateway::detail
