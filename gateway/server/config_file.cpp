// Reading --config FILE.toml (config_file.hpp) with toml++ (through toml_guard.hpp), header-only:
// the wheel then needs no libtomlplusplus beside it.
#include "gateway/server/config_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "bridge/app_spec.hpp"
#include "gateway/fields.hpp"
#include "gateway/server/bind_address.hpp"
#include "gateway/server/shadow_diff.hpp"
#include "gateway/server/toml_guard.hpp"
#include "gateway/text.hpp"

namespace junction::gateway {
namespace {

FilePlace place_of(const toml::source_region& source) {
  return {static_cast<int>(source.begin.line), static_cast<int>(source.begin.column)};
}

std::string flag_name(std::string_view key) {
  std::string name(key);
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

// A scalar as it would be written after --flag; nullopt for a table, an array or a date.
std::optional<std::string> scalar_text(const toml::node& node) {
  if (auto text = node.as_string()) return text->get();
  if (auto integer = node.as_integer()) return std::to_string(integer->get());
  if (auto number = node.as_floating_point()) return fmt::format("{}", number->get());
  if (auto boolean = node.as_boolean()) return boolean->get() ? "true" : "false";
  return std::nullopt;
}

// HTTP methods are case-sensitive (RFC 9110 §9.1), but every registered one is upper case: a
// "get" in a file means GET, not a method no client sends.
std::string upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// "example.com" or "*.example.com": letters, digits, '-' and '.' (a '*.' only in front).
bool valid_host_pattern(std::string_view host) {
  if (host.starts_with("*.")) host.remove_prefix(2);
  if (host.empty() || host.front() == '.' || host.back() == '.') return false;
  return std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
}

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a number";
    case toml::node_type::boolean:
      return "a boolean";
    default:
      return "a date or time";
  }
}

// A toml::table is ordered by key; errors are reported in the file's order.
std::vector<std::pair<const toml::key*, const toml::node*>> in_file_order(
    const toml::table& table) {
  std::vector<std::pair<const toml::key*, const toml::node*>> keys;
  for (auto&& [key, node] : table) keys.emplace_back(&key, &node);
  std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
    const auto& x = a.first->source().begin;
    const auto& y = b.first->source().begin;
    return x.line != y.line ? x.line < y.line : x.column < y.column;
  });
  return keys;
}

class Reader {
 public:
  Reader(const std::string& path, const std::vector<FlagShape>& flags,
         std::vector<std::string>& errors)
      : path_(path), flags_(flags), errors_(errors) {
    for (const auto& flag : flags_) names_.push_back(flag.name);
  }

  void read(const toml::table& table, ConfigFile& file) {
    for (auto [key_pointer, node_pointer] : in_file_order(table)) {
      const toml::key& key = *key_pointer;
      const toml::node& node = *node_pointer;
      FilePlace where = place_of(key.source());
      if (key.str() == "apps") {
        read_apps(node, where, file);
        continue;
      }
      if (key.str() == "routes") {
        read_routes(node, where, file);
        continue;
      }
      if (key.str() == "listen") {
        read_listeners(node, where, file);
        continue;
      }
      std::string name = flag_name(key.str());
      auto shape = std::find_if(flags_.begin(), flags_.end(),
                                [&](const FlagShape& flag) { return flag.name == name; });
      if (shape == flags_.end()) {
        unknown(key.str(), where);
        continue;
      }
      if (std::any_of(file.settings.begin(), file.settings.end(),
                      [&](const FileSetting& s) { return s.flag == name; })) {
        // TOML itself refuses a key given twice; these are two spellings of one ('-', '_').
        error(where, fmt::format("'{}' is set twice ('-' and '_' spell the same key)", name));
        continue;
      }
      FileSetting setting{name, {}, where};
      if (values(*shape, node, where, setting.values)) file.settings.push_back(std::move(setting));
    }
  }

 private:
  bool values(const FlagShape& shape, const toml::node& node, FilePlace where,
              std::vector<std::string>& out) {
    if (shape.is_switch) {
      if (!node.is_boolean()) {
        error(where,
              fmt::format("'{}' is a switch: true or false, not {}", shape.name, type_name(node)));
        return false;
      }
      out.push_back(*scalar_text(node));
      return true;
    }
    if (auto array = node.as_array()) {
      if (!shape.repeatable) {
        error(where, fmt::format("'{}' takes one value, not an array", shape.name));
        return false;
      }
      for (const auto& element : *array) {
        auto text = scalar_text(element);
        if (!text || element.is_boolean()) {
          error(place_of(element.source()), fmt::format("'{}' takes strings or numbers, not {}",
                                                        shape.name, type_name(element)));
          return false;
        }
        out.push_back(std::move(*text));
      }
      return true;
    }
    auto text = scalar_text(node);
    if (!text || node.is_boolean()) {
      error(where, fmt::format("'{}' takes a value (a string or a number), not {}", shape.name,
                               type_name(node)));
      return false;
    }
    out.push_back(std::move(*text));
    return true;
  }

  // [apps.NAME] target = "...": every app a route may name.
  void read_apps(const toml::node& node, FilePlace where, ConfigFile& file) {
    const auto* apps = node.as_table();
    if (!apps) return error(where, "'apps' is a table of apps: [apps.NAME] with target = ...");
    for (auto [name_pointer, app_pointer] : in_file_order(*apps)) {
      const toml::key& name = *name_pointer;
      const toml::node& app_node = *app_pointer;
      FilePlace at = place_of(app_node.source());
      const auto* app = app_node.as_table();
      if (!app) {
        error(place_of(name.source()),
              fmt::format("[apps.{}] is a table (target = \"MODULE:ATTR\"), not {}", name.str(),
                          type_name(app_node)));
        continue;
      }
      FileApp entry{std::string(name.str()), {}, at, {}, {}};
      entry.settings.name = entry.name;
      std::string interface = "auto";
      FilePlace interface_at;
      for (auto [key_pointer, value_pointer] : in_file_order(*app)) {
        const toml::key& key = *key_pointer;
        const toml::node& value = *value_pointer;
        FilePlace key_at = place_of(key.source());
        std::string key_name(key.str());
        std::replace(key_name.begin(), key_name.end(), '-', '_');
        if (key_name == "interface") {
          auto text = value.value<std::string>();
          if (!value.is_string() || (*text != "auto" && *text != "wsgi" && *text != "asgi"))
            error(key_at, "interface is \"auto\", \"wsgi\" or \"asgi\"");
          else {
            interface = *text;
            interface_at = key_at;
          }
          continue;
        }
        if (key_name == "pythonpath") {
          if (!strings(value, entry.pythonpath))
            error(key_at, "pythonpath is a directory or a list of directories");
          continue;
        }
        if (read_app_setting(key_name, value, key_at, entry.settings)) continue;
        if (key_name != "target") {
          unknown_in(fmt::format("[apps.{}]", name.str()), key.str(), key_at,
                     {"target", "interface", "pythonpath", "threads", "backlog",
                      "limit_concurrency", "lifespan", "request_timeout"});
          continue;
        }
        if (!value.is_string()) {
          error(key_at, fmt::format("target is a string (\"[wsgi:|asgi:]MODULE:ATTR\"), not {}",
                                    type_name(value)));
          continue;
        }
        entry.target = *value.value<std::string>();
        std::string problem;
        if (entry.target.find('=') != std::string::npos)
          error(key_at, "target has no PREFIX=: a route's prefix says where the app answers");
        else if (!bridge::parse_app_spec(entry.target, problem))
          error(key_at, problem);
      }
      if (entry.target.empty() && app->find("target") == app->end())
        error(at, fmt::format("[apps.{}] needs a target = \"MODULE:ATTR\"", name.str()));
      if (interface != "auto" && !entry.target.empty()) {
        bool prefixed = entry.target.starts_with("wsgi:") || entry.target.starts_with("asgi:");
        if (prefixed && !entry.target.starts_with(interface + ":"))
          error(interface_at, fmt::format("interface = \"{}\", but the target says {}", interface,
                                          entry.target.substr(0, 4)));
        else if (!prefixed)
          entry.target = interface + ":" + entry.target;
      }
      file.apps.push_back(std::move(entry));
    }
  }

  // An app's own threads, backlog, limit_concurrency, lifespan or request_timeout (the same
  // ranges as their flags); false when `name` is none of them.
  bool read_app_setting(std::string_view name, const toml::node& value, FilePlace at,
                        bridge::AppSettings& settings) {
    auto count = [&](std::optional<unsigned>& field, std::int64_t low, std::int64_t high) {
      auto number = value.as_integer();
      if (!number || number->get() < low || number->get() > high)
        error(at, fmt::format("{} is a whole number from {} to {}", name, low, high));
      else
        field = static_cast<unsigned>(number->get());
    };
    if (name == "threads") {
      count(settings.threads, 1, 1024);
    } else if (name == "backlog") {
      count(settings.backlog, 0, 1000000);
    } else if (name == "limit_concurrency") {
      count(settings.limit_concurrency, 1, 1000000);
    } else if (name == "lifespan") {
      auto mode = value.value<std::string>();
      if (!value.is_string() || (*mode != "auto" && *mode != "on" && *mode != "off"))
        error(at, "lifespan is \"auto\", \"on\" or \"off\"");
      else
        settings.lifespan = *mode;
    } else if (name == "request_timeout") {
      if (auto seconds = read_seconds(value))
        settings.request_timeout = *seconds;
      else
        error(at, "request_timeout is a number of seconds (0: no limit)");
    } else {
      return false;
    }
    return true;
  }

  // A number of seconds, 0 or more (an integer or a float); nullopt otherwise.
  static std::optional<double> read_seconds(const toml::node& value) {
    std::optional<double> seconds;
    if (value.is_integer()) seconds = static_cast<double>(*value.value<std::int64_t>());
    if (value.is_floating_point()) seconds = *value.value<double>();
    if (seconds && !(*seconds >= 0 && *seconds <= 1e9)) seconds.reset();
    return seconds;
  }

  // [[listen]] bind, tls, http, proxy_protocol: a listener with settings of its own.
  void read_listeners(const toml::node& node, FilePlace where, ConfigFile& file) {
    const auto* listeners = node.as_array();
    if (!listeners || !listeners->is_array_of_tables())
      return error(where, "'listen' is an array of tables: [[listen]] with bind = \"HOST:PORT\"");
    for (const auto& listener_node : *listeners) {
      const auto& table = *listener_node.as_table();
      FileListener entry;
      entry.place = place_of(table.source());
      FilePlace tls_at;
      for (auto [key_pointer, value_pointer] : in_file_order(table)) {
        const toml::key& key = *key_pointer;
        const toml::node& value = *value_pointer;
        FilePlace at = place_of(key.source());
        std::string name(key.str());
        std::replace(name.begin(), name.end(), '-', '_');
        if (name == "bind") {
          std::string problem;
          auto text = value.value<std::string>();
          if (!value.is_string())
            error(at, "bind is an address: \"HOST:PORT\", \"[V6]:PORT\" or \"unix:PATH\"");
          else if (!parse_bind_address(*text, problem))
            error(at, problem);
          else
            entry.bind = *text;
        } else if (name == "tls" || name == "proxy_protocol") {
          auto flag = value.value<bool>();
          if (!flag || !value.is_boolean()) {
            error(at, fmt::format("{} is true or false", name));
            continue;
          }
          (name == "tls" ? entry.tls : entry.proxy_protocol) = *flag;
          if (name == "tls") tls_at = at;
        } else if (name == "http") {
          auto text = value.is_integer() ? std::to_string(*value.value<std::int64_t>())
                                         : value.value<std::string>().value_or("");
          if (text == "auto")
            entry.http = HttpMode::automatic;
          else if (text == "1")
            entry.http = HttpMode::http1;
          else if (text == "2")
            entry.http = HttpMode::http2;
          else
            error(at, "http is \"auto\", 1 or 2 (as --http)");
        } else {
          unknown_in("[[listen]]", name, at, {"bind", "tls", "http", "proxy_protocol"});
        }
      }
      if (table.find("bind") == table.end()) {
        error(entry.place, "a [[listen]] needs bind = \"HOST:PORT\"");
        continue;
      }
      // A scheme in the address says it already: the two must agree.
      bool https = entry.bind.starts_with("https://"), http = entry.bind.starts_with("http://");
      if (entry.tls && ((*entry.tls && http) || (!*entry.tls && https)))
        error(tls_at, fmt::format("tls = {}, but the address says {}", *entry.tls,
                                  https ? "https://" : "http://"));
      if (!entry.bind.empty()) file.listeners.push_back(std::move(entry));
    }
  }

  // [[routes]] host, prefix, methods, app, mount, request_timeout.
  void read_routes(const toml::node& node, FilePlace where, ConfigFile& file) {
    const auto* routes = node.as_array();
    if (!routes || !routes->is_array_of_tables())
      return error(where, "'routes' is an array of tables: [[routes]] with prefix and app");
    for (const auto& route_node : *routes) {
      const auto& route = *route_node.as_table();
      FileRoute entry;
      entry.place = place_of(route.source());
      bool valid = true;
      auto fail = [&](FilePlace at, std::string message) {
        error(at, message);
        valid = false;
      };
      for (auto [key_pointer, value_pointer] : in_file_order(route)) {
        const toml::key& key = *key_pointer;
        const toml::node& value = *value_pointer;
        FilePlace at = place_of(key.source());
        std::string key_name(key.str());
        std::replace(key_name.begin(), key_name.end(), '-', '_');
        std::string_view name = key_name;
        if (name == "host") {
          auto host = value.value<std::string>();
          if (!host || !valid_host_pattern(*host))
            fail(at,
                 "host is a name (\"example.com\") or a wildcard (\"*.example.com\"), "
                 "without a port");
          else
            entry.rule.host = ascii_lowered(*host);
        } else if (name == "prefix") {
          auto prefix = value.value<std::string>();
          if (!prefix || !prefix->starts_with('/') ||
              prefix->find_first_of("?#% ") != std::string::npos) {
            fail(at, "prefix is a path starting with '/' (\"/api\")");
          } else {
            while (prefix->size() > 1 && prefix->ends_with('/')) prefix->pop_back();
            entry.rule.prefix = *prefix;
          }
        } else if (name == "methods") {
          const auto* methods = value.as_array();
          bool ok = methods && !methods->empty();
          if (ok)
            for (const auto& method : *methods) {
              auto text = method.value<std::string>();
              ok = ok && text && valid_field_name(*text);
              if (ok) entry.rule.methods.push_back(upper(*text));
            }
          if (!ok) fail(at, "methods is a list of HTTP methods ([\"GET\", \"HEAD\"])");
        } else if (name == "app") {
          auto app = value.value<std::string>();
          if (!app)
            fail(at, fmt::format("app is the name of an [apps.NAME], not {}", type_name(value)));
          else
            entry.app = *app;
        } else if (name == "request_timeout") {
          if (auto seconds = read_seconds(value))
            entry.request_timeout = *seconds;
          else
            fail(at, "request_timeout is a number of seconds (0: no limit)");
        } else if (name == "mount") {
          auto mount = value.value<bool>();
          if (!mount || !value.is_boolean())
            fail(at, "mount is true or false");
          else
            entry.mount = *mount;
        } else if (!read_migration_key(name, value, at, entry, fail)) {
          unknown_in("[[routes]]", name, at,
                     {"host",
                      "prefix",
                      "methods",
                      "app",
                      "mount",
                      "request_timeout",
                      "fallthrough",
                      "fallthrough_on",
                      "fallthrough_max_body",
                      "split",
                      "sticky",
                      "split_seed",
                      "expose_decision",
                      "shadow",
                      "shadow_ignore_headers",
                      "shadow_ignore_json",
                      "shadow_scrub",
                      "shadow_methods",
                      "shadow_max_in_flight",
                      "shadow_max_body"});
          valid = false;
        }
      }
      if (entry.app.empty() && !entry.split.empty()) entry.app = entry.split.front().app;
      if (entry.app.empty() && route.find("app") == route.end()) {
        fail(entry.place, "a route needs app = \"NAME\" (one of the [apps.NAME])");
      }
      if (valid) file.routes.push_back(std::move(entry));
    }
  }

  // A list of strings (a one-element list may be given as the string alone).
  static bool strings(const toml::node& value, std::vector<std::string>& out) {
    if (value.is_string()) {
      out.push_back(*value.value<std::string>());
      return true;
    }
    const auto* list = value.as_array();
    if (!list) return false;
    for (const auto& element : *list) {
      if (!element.is_string()) return false;
      out.push_back(*element.value<std::string>());
    }
    return true;
  }

  // The migration keys of a [[routes]] table (docs/migration.md); false when `name` is none of
  // them. The checks across keys are check_routes'.
  template <class Fail>
  bool read_migration_key(std::string_view name, const toml::node& value, FilePlace at,
                          FileRoute& entry, Fail& fail) {
    auto whole = [&](std::int64_t low, std::int64_t high) -> std::optional<std::int64_t> {
      auto number = value.as_integer();
      if (!number || number->get() < low || number->get() > high) return std::nullopt;
      return number->get();
    };
    if (name == "fallthrough") {
      if (!value.is_string()) {
        fail(at, "fallthrough is the name of an [apps.NAME]: the legacy app");
        return true;
      }
      entry.fallthrough = *value.value<std::string>();
      entry.fallthrough_place = at;
    } else if (name == "fallthrough_on") {
      const auto* statuses = value.as_array();
      bool ok = statuses && !statuses->empty();
      std::vector<int> codes;
      if (ok)
        for (const auto& status : *statuses) {
          auto code = status.as_integer();
          ok = ok && code && code->get() >= 100 && code->get() <= 599;
          if (ok) codes.push_back(static_cast<int>(code->get()));
        }
      if (!ok) {
        fail(at, "fallthrough_on is a list of HTTP statuses ([404, 405])");
        return true;
      }
      entry.fallthrough_on = std::move(codes);
      entry.fallthrough_only_place = at;
    } else if (name == "fallthrough_max_body") {
      auto bytes = whole(0, std::int64_t{1} << 40);
      if (!bytes) {
        fail(at, "fallthrough_max_body is a number of bytes (1048576)");
        return true;
      }
      entry.fallthrough_max_body = static_cast<std::uint64_t>(*bytes);
      entry.fallthrough_only_place = at;
    } else if (name == "split") {
      const auto* shares = value.as_table();
      if (!shares || shares->size() < 2) {
        fail(at, "split is a table of apps and percents ({ new = 10, legacy = 90 })");
        return true;
      }
      std::vector<SplitShare> split;
      for (auto [app, share] : in_file_order(*shares)) {
        auto number = share->as_integer();
        if (!number || number->get() < 0 || number->get() > 100) {
          fail(place_of(app->source()),
               fmt::format("the share of '{}' is a whole percent (0 to 100)", app->str()));
          return true;
        }
        split.push_back({std::string(app->str()), static_cast<unsigned>(number->get())});
      }
      entry.split = std::move(split);
      entry.split_place = at;
    } else if (name == "sticky") {
      auto sticky = value.value<std::string>();
      if (!value.is_string() || (*sticky != "cookie" && *sticky != "client" && *sticky != "none")) {
        fail(at, "sticky is \"cookie\", \"client\" or \"none\"");
        return true;
      }
      entry.sticky = *sticky == "cookie"   ? Sticky::cookie
                     : *sticky == "client" ? Sticky::client
                                           : Sticky::none;
      entry.split_only_place = at;
    } else if (name == "split_seed") {
      auto seed = whole(0, INT64_MAX);
      if (!seed) {
        fail(at, "split_seed is a whole number (0 or more)");
        return true;
      }
      entry.split_seed = static_cast<std::uint64_t>(*seed);
      entry.has_split_seed = true;
      entry.split_only_place = at;
    } else if (name == "shadow") {
      if (!value.is_string()) {
        fail(at, "shadow is the name of an [apps.NAME]: the app that answers in the shadow");
        return true;
      }
      entry.shadow = *value.value<std::string>();
      entry.shadow_place = at;
    } else if (name == "shadow_ignore_headers" || name == "shadow_ignore_json" ||
               name == "shadow_scrub" || name == "shadow_methods") {
      std::vector<std::string> texts;
      if (!strings(value, texts)) {
        fail(at, fmt::format("{} is a list of strings", name));
        return true;
      }
      std::string problem;
      for (auto& text : texts) {
        if (name == "shadow_ignore_headers" && !valid_field_name(text)) {
          problem = fmt::format("'{}' is not a header name", text);
        } else if (name == "shadow_methods" && !valid_field_name(text)) {
          problem = fmt::format("'{}' is not an HTTP method", text);
        } else if (name == "shadow_ignore_json") {
          JsonPath::parse(text, problem);
        } else if (name == "shadow_scrub") {
          try {
            boost::regex pattern(text);
          } catch (const boost::regex_error& e) {
            problem = fmt::format("'{}' is not a regular expression: {}", text, e.what());
          }
        }
        if (!problem.empty()) break;
      }
      if (!problem.empty()) {
        fail(at, fmt::format("{}: {}", name, problem));
        return true;
      }
      if (name == "shadow_ignore_headers") {
        for (auto& text : texts) text = ascii_lowered(text);
        entry.shadow_ignore_headers = std::move(texts);
      } else if (name == "shadow_methods") {
        for (auto& text : texts) text = upper(text);
        entry.shadow_methods = std::move(texts);
      } else if (name == "shadow_ignore_json") {
        entry.shadow_ignore_json = std::move(texts);
      } else {
        entry.shadow_scrub = std::move(texts);
      }
      entry.shadow_only_place = at;
    } else if (name == "shadow_max_in_flight" || name == "shadow_max_body") {
      auto number = whole(1, std::int64_t{1} << 40);
      if (!number) {
        fail(at, fmt::format("{} is a whole number, 1 or more", name));
        return true;
      }
      (name == "shadow_max_body" ? entry.shadow_max_body : entry.shadow_max_in_flight) =
          static_cast<std::uint64_t>(*number);
      entry.shadow_only_place = at;
    } else if (name == "expose_decision") {
      if (!value.is_boolean()) {
        fail(at, "expose_decision is true or false");
        return true;
      }
      entry.expose_decision = *value.value<bool>();
    } else {
      return false;
    }
    return true;
  }

  void unknown_in(std::string_view table, std::string_view key, FilePlace where,
                  const std::vector<std::string>& known) {
    std::string near = nearest_name(key, known);
    if (near.empty())
      error(where, fmt::format("unknown key '{}' in {}", key, table));
    else
      error(where, fmt::format("unknown key '{}' in {}; did you mean '{}'?", key, table, near));
  }

  void unknown(std::string_view key, FilePlace where) {
    std::string near = nearest_name(flag_name(key), names_);
    if (near.empty())
      error(where, fmt::format("unknown key '{}' (every key is a flag of junction --help, "
                               "without its --)",
                               key));
    else
      error(where, fmt::format("unknown key '{}'; did you mean '{}'?", key, near));
  }

  void error(FilePlace where, std::string_view message) {
    errors_.push_back(fmt::format("{}:{}:{}: {}", path_, where.line, where.column, message));
  }

  const std::string& path_;
  const std::vector<FlagShape>& flags_;
  std::vector<std::string>& errors_;
  std::vector<std::string> names_;
};

// A route's migration keys, taken together: one mode, and what each needs.
template <class At, class CheckDefined>
void check_migration(const FileRoute& route, At& at, CheckDefined& check_defined,
                     std::vector<std::string>& errors) {
  if (!route.shadow.empty()) {
    check_defined(route.shadow, route.shadow_place);
    if (route.shadow == route.app)
      errors.push_back(at(route.shadow_place) +
                       fmt::format("shadow names the route's own app '{}': name the app whose "
                                   "answers are compared with it",
                                   route.app));
    if (!route.fallthrough.empty() || !route.split.empty())
      errors.push_back(at(route.shadow_place) +
                       "a route has one migration mode: shadow, fallthrough or split");
  } else if (route.shadow_only_place.line != 0) {
    errors.push_back(at(route.shadow_only_place) + "the shadow_* keys need shadow = \"APP\"");
  }
  if (!route.fallthrough.empty()) {
    check_defined(route.fallthrough, route.fallthrough_place);
    // With a split, the split's other apps fall through to it (a split with a safety net).
    bool in_split =
        std::any_of(route.split.begin(), route.split.end(),
                    [&](const SplitShare& share) { return share.app == route.fallthrough; });
    if (route.split.empty() && route.fallthrough == route.app)
      errors.push_back(at(route.fallthrough_place) +
                       fmt::format("fallthrough names the route's own app '{}': name the legacy "
                                   "app that answers when '{}' does not",
                                   route.app, route.app));
    else if (!route.split.empty() && !in_split)
      errors.push_back(at(route.fallthrough_place) +
                       fmt::format("with a split, fallthrough names one of the split's apps (the "
                                   "one the others fall through to), not '{}'",
                                   route.fallthrough));
  } else if (route.fallthrough_only_place.line != 0) {
    errors.push_back(at(route.fallthrough_only_place) +
                     "fallthrough_on and fallthrough_max_body need fallthrough = \"APP\"");
  }
  if (route.split.empty()) {
    if (route.split_only_place.line != 0)
      errors.push_back(at(route.split_only_place) +
                       "sticky and split_seed need a split = { APP = PERCENT, ... }");
    return;
  }
  unsigned sum = 0;
  bool has_app = false;
  for (const auto& share : route.split) {
    check_defined(share.app, route.split_place);
    sum += share.percent;
    has_app = has_app || share.app == route.app;
  }
  if (sum != 100)
    errors.push_back(at(route.split_place) +
                     fmt::format("the split's shares sum to {}, not 100", sum));
  if (!has_app)
    errors.push_back(at(route.place) +
                     fmt::format("app = \"{}\" is not one of the split's apps", route.app));
}

// What the routes name must exist, and no two routes may take the same requests.
void check_routes(const ConfigFile& file, std::vector<std::string>& errors) {
  auto at = [&](FilePlace where) {
    return fmt::format("{}:{}:{}: ", file.path, where.line, where.column);
  };
  std::vector<std::string> names;
  for (const auto& app : file.apps) names.push_back(app.name);
  auto check_defined = [&](const std::string& name, FilePlace where) {
    if (std::find(names.begin(), names.end(), name) != names.end()) return;
    std::string near = nearest_name(name, names);
    errors.push_back(at(where) +
                     fmt::format("the route names app '{}', which no [apps.{}] defines{}", name,
                                 name, near.empty() ? "" : "; did you mean '" + near + "'?"));
  };
  for (std::size_t i = 0; i < file.routes.size(); ++i) {
    const auto& route = file.routes[i];
    check_defined(route.app, route.place);
    check_migration(route, at, check_defined, errors);
    for (std::size_t j = 0; j < i; ++j)
      if (file.routes[j].rule.same_requests(route.rule))
        errors.push_back(at(route.place) +
                         fmt::format("this route ({}) takes the same requests as the one at line "
                                     "{} ({}): it could never answer",
                                     route.rule.describe(), file.routes[j].place.line,
                                     file.routes[j].rule.describe()));
  }
}

}  // namespace

std::vector<std::string> FileRoute::apps() const {
  std::vector<std::string> names;
  if (!split.empty()) {
    for (const auto& share : split) names.push_back(share.app);
    return names;
  }
  names.push_back(app);
  if (!fallthrough.empty()) names.push_back(fallthrough);
  if (!shadow.empty()) names.push_back(shadow);
  return names;
}

const FileSetting* ConfigFile::find(std::string_view flag) const noexcept {
  auto it = std::find_if(settings.begin(), settings.end(),
                         [&](const FileSetting& setting) { return setting.flag == flag; });
  return it == settings.end() ? nullptr : &*it;
}

std::string ConfigFile::located(const FileSetting& setting, std::string_view message) const {
  return fmt::format("{}:{}:{}: {}", path, setting.place.line, setting.place.column, message);
}

std::optional<ConfigFile> read_config_file(const std::string& path,
                                           const std::vector<FlagShape>& flags,
                                           std::vector<std::string>& errors) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    errors.push_back(fmt::format("{}: cannot be read: it is a directory", path));
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errors.push_back(fmt::format("{}: cannot be read: {}", path, std::strerror(errno)));
    return std::nullopt;
  }
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return read_config_text(text, path, flags, errors);
}

std::optional<ConfigFile> read_config_text(std::string_view text, const std::string& path,
                                           const std::vector<FlagShape>& flags,
                                           std::vector<std::string>& errors) {
  auto before = errors.size();
  toml::table table;
  try {
    table = parse_toml(text, path);
  } catch (const toml::parse_error& e) {
    const auto& begin = e.source().begin;
    errors.push_back(fmt::format("{}:{}:{}: {}", path, begin.line, begin.column, e.description()));
    return std::nullopt;
  }
  ConfigFile file{path, {}, {}, {}, {}};
  Reader(path, flags, errors).read(table, file);
  check_routes(file, errors);
  if (errors.size() != before) return std::nullopt;
  return file;
}

std::string nearest_name(std::string_view name, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = name.size() / 3 + 1;
  std::vector<std::size_t> row, previous;
  for (const auto& candidate : candidates) {
    // Levenshtein distance, one row at a time.
    previous.resize(candidate.size() + 1);
    row.resize(candidate.size() + 1);
    for (std::size_t j = 0; j <= candidate.size(); ++j) previous[j] = j;
    for (std::size_t i = 1; i <= name.size(); ++i) {
      row[0] = i;
      for (std::size_t j = 1; j <= candidate.size(); ++j) {
        std::size_t substitute = previous[j - 1] + (name[i - 1] == candidate[j - 1] ? 0 : 1);
        row[j] = std::min({previous[j] + 1, row[j - 1] + 1, substitute});
      }
      std::swap(row, previous);
    }
    if (previous[candidate.size()] < best_distance) {
      best_distance = previous[candidate.size()];
      best = candidate;
    }
  }
  return best;
}

}  // namespace junction::gateway
