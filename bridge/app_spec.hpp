// What an APP argument asks for: "[PREFIX=][wsgi:|asgi:]MODULE[:ATTR[()]]" (README.md, "Usage";
// docs/architecture.md, "Python apps", app loading). Parsing is pure so it can be checked without
// Python.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace junction::bridge {

enum class Interface { detect, wsgi, asgi };

// What one app of a configuration file sets for itself ([apps.NAME], docs/configuration.md):
// each unset field is the command line's. An app with `threads` or `backlog` runs on a WSGI pool
// of its own, one with `limit_concurrency` has its own ASGI budget, so a slow app cannot take
// the threads or slots of the others. `request_timeout` may also come from the route.
struct AppSettings {
  std::string name;  // the [apps.NAME] name (pools and budgets are per name); empty: none
  std::optional<unsigned> threads;
  std::optional<unsigned> backlog;
  std::optional<unsigned> limit_concurrency;
  std::optional<std::string> lifespan;    // "auto", "on" or "off"
  std::optional<double> request_timeout;  // seconds; 0: no limit

  bool own_pool() const noexcept { return threads.has_value() || backlog.has_value(); }
  // Tells apart two loads of one app that must be wrapped apart (they time out differently).
  std::string key() const;
};

struct AppSpec {
  std::string text;    // as the user wrote it, for messages
  std::string prefix;  // mount prefix: "/" or "/api" (no trailing slash)
  Interface interface = Interface::detect;
  std::string module;             // dotted module name
  std::vector<std::string> attr;  // dotted attribute path inside the module; empty: the module's
                                  // `app`, else its `application`
  bool call_factory = false;      // "ATTR()": call it with no arguments to get the app
  AppSettings settings;           // from [apps.NAME]; none for an APP argument

  // "module:attr.path" (or "module") without prefix, interface or "()", for messages.
  std::string target() const;
};

// Parses one APP argument; nullopt with `error` set (one line) when malformed.
std::optional<AppSpec> parse_app_spec(std::string_view text, std::string& error);

}  // namespace junction::bridge
