// --config FILE.toml: the command line's flags as the keys of a TOML file (docs/configuration.md,
// "A configuration file"). `workers = 4` is --workers 4, `no_access_log = true` is
// --no-access-log, `bind = ["127.0.0.1:8000", "unix:/run/app.sock"]` gives --bind twice; '-' and
// '_' are the same in a key. A flag on the command line wins over its JUNCTION_* variable, which
// wins over the file (config.cpp applies them in that order). Besides the flags, [apps.NAME]
// tables name apps and [[routes]] say which requests each answers (by host, prefix, methods).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/app_spec.hpp"
#include "gateway/options.hpp"
#include "gateway/router.hpp"
#include "gateway/server/split.hpp"

namespace junction::gateway {

// Where a key is in the file, for "FILE:LINE:COL: message".
struct FilePlace {
  int line = 0;
  int column = 0;
};

// What the file may set: one entry per long flag of the command line.
struct FlagShape {
  std::string name;         // without "--": "workers", "no-access-log"
  bool is_switch = false;   // takes no value on the command line: a boolean in the file
  bool repeatable = false;  // may be given several times: an array in the file (or one value)
};

// One key of the file, as the flag it stands for.
struct FileSetting {
  std::string flag;                 // the FlagShape name
  std::vector<std::string> values;  // as they would follow --flag ("true"/"false" for a switch)
  FilePlace place;
};

// [apps.NAME]: an app the routes can name.
struct FileApp {
  std::string name;
  // "[wsgi:|asgi:]MODULE[:ATTR]", checked by bridge::parse_app_spec; `interface = "wsgi"` or
  // "asgi" is written into it as that prefix.
  std::string target;
  FilePlace place;
  std::vector<std::string> pythonpath;  // added to the import path (of every app)
  bridge::AppSettings settings;         // its own pool, budget, lifespan and timeout
};

// [[routes]]: which requests an app answers. The prefix only selects: the app sees the full
// path (in a migration both apps serve the same URLs), unless `mount` makes the prefix its mount
// point (SCRIPT_NAME / root_path), as PREFIX=MODULE:ATTR on the command line does.
struct FileRoute {
  RouteRule rule;
  std::string app;  // a FileApp name; with a split, optional (one of the split's)
  bool mount = false;
  FilePlace place;
  std::optional<double> request_timeout;  // seconds, for every app of the route; 0: no limit

  // Migration (docs/migration.md): at most one of fall-through, split and shadow.
  std::string fallthrough;  // the legacy app (a FileApp name); empty: none
  std::vector<int> fallthrough_on{404};
  std::uint64_t fallthrough_max_body = 1 << 20;
  std::vector<SplitShare> split;  // app names and percents, in the file's order
  Sticky sticky = Sticky::cookie;
  std::uint64_t split_seed = 0;
  bool has_split_seed = false;
  bool expose_decision = false;
  std::string shadow;                              // the shadow app (a FileApp name); empty: none
  std::vector<std::string> shadow_ignore_headers;  // lower case
  std::vector<std::string> shadow_ignore_json;     // JSON paths, checked
  std::vector<std::string> shadow_scrub;           // regular expressions, checked
  std::vector<std::string> shadow_methods{"GET", "HEAD", "OPTIONS"};
  std::uint64_t shadow_max_in_flight = 16;
  std::uint64_t shadow_max_body = 1 << 20;
  // Where the migration keys are, for the checks across keys; line 0 when absent.
  FilePlace fallthrough_place, split_place, fallthrough_only_place, split_only_place;
  FilePlace shadow_place, shadow_only_place;

  // The apps the route names, its own first: app, then fallthrough or shadow, or the split's
  // others.
  std::vector<std::string> apps() const;
};

// [[listen]]: a listener with its own protocols, TLS and PROXY protocol (docs/configuration.md,
// "Listeners"); an unset field is the command line's.
struct FileListener {
  std::string bind;                    // as --bind takes it, checked
  std::optional<bool> tls;             // true: TLS (the --tls-cert set); false: plain text
  std::optional<HttpMode> http;        // as --http
  std::optional<bool> proxy_protocol;  // as --proxy-protocol
  FilePlace place;
};

struct ConfigFile {
  std::string path;
  std::vector<FileSetting> settings;    // in the file's order
  std::vector<FileApp> apps;            // by name
  std::vector<FileRoute> routes;        // in the file's order
  std::vector<FileListener> listeners;  // in the file's order

  // The setting for `flag`, if the file has one.
  const FileSetting* find(std::string_view flag) const noexcept;
  // "FILE:LINE:COL: message" for a message about `setting`.
  std::string located(const FileSetting& setting, std::string_view message) const;
};

// Reads and checks `path` against the flags there are. Every problem is reported (a syntax
// error stops the reading at once, since nothing after it can be trusted), each as one
// "FILE:LINE:COL: message" in `errors`; nullopt when there is any.
std::optional<ConfigFile> read_config_file(const std::string& path,
                                           const std::vector<FlagShape>& flags,
                                           std::vector<std::string>& errors);

// The same for a file's text, already read; `path` names it in the messages.
std::optional<ConfigFile> read_config_text(std::string_view text, const std::string& path,
                                           const std::vector<FlagShape>& flags,
                                           std::vector<std::string>& errors);

// Of `candidates`, the one nearest to `name` (edit distance), when it is near enough to be what
// was meant (at most a third of the name's letters differ); empty otherwise.
std::string nearest_name(std::string_view name, const std::vector<std::string>& candidates);

}  // namespace junction::gateway
