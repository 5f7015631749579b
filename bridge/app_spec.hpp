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

struct AppSpec {
  std::string text;    // as the user wrote it, for messages
  std::string prefix;  // mount prefix: "/" or "/api" (no trailing slash)
  Interface interface = Interface::detect;
  std::string module;             // dotted module name
  std::vector<std::string> attr;  // dotted attribute path inside the module; empty: the module's
                                  // `app`, else its `application`
  bool call_factory = false;      // "ATTR()": call it with no arguments to get the app

  // "module:attr.path" (or "module") without prefix, interface or "()", for messages.
  std::string target() const;
};

// Parses one APP argument; nullopt with `error` set (one line) when malformed.
std::optional<AppSpec> parse_app_spec(std::string_view text, std::string& error);

}  // namespace junction::bridge
