#include "gateway/server/config.hpp"

#include <fmt/format.h>
#include <sched.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <map>
#include <thread>

#include "gateway/fields.hpp"
#include "gateway/server/config_edge.hpp"
#include "gateway/server/config_file.hpp"

namespace junction::gateway {
namespace {

constexpr const char* kDescription =
    "Junction: an HTTP/1.1 and HTTP/2 gateway for Python web apps (WSGI and ASGI).\n"
    "APP is MODULE:ATTR, or PREFIX=MODULE:ATTR to mount it at a path prefix; 'wsgi:' or\n"
    "'asgi:' in front forces the interface.";

// A validator that says nothing in --help, where the option's type name says it already
// (CLI11 would append "FILE", or the transformer's whole mapping, to it).
CLI::Validator quiet(CLI::Validator validator) {
  validator.description("");
  return validator;
}

// Turns one of the names of `choices` into its enum value (as CLI11 reads enums), or says
// which names there are.
template <class Enum>
CLI::Validator one_of(std::map<std::string, Enum> choices) {
  std::string names;
  for (const auto& [name, value] : choices) names += (names.empty() ? "" : ", ") + name;
  return CLI::Validator(
      [choices = std::move(choices), names](std::string& text) -> std::string {
        auto found = choices.find(text);
        if (found == choices.end()) return "'" + text + "' is not one of " + names;
        text = std::to_string(static_cast<int>(found->second));
        return {};
      },
      "");
}

// A positive number of seconds (fractions allowed); with `zero_is_off`, 0 too.
CLI::Validator positive_seconds(bool zero_is_off) {
  return CLI::Validator(
      [zero_is_off](std::string& text) -> std::string {
        double value = 0;
        try {
          std::size_t used = 0;
          value = std::stod(text, &used);
          if (used != text.size()) return "not a number of seconds: " + text;
        } catch (const std::exception&) {
          return "not a number of seconds: " + text;
        }
        if (zero_is_off && value == 0) return {};
        if (!(value > 0) || value > 86400 * 365)
          return zero_is_off ? "must be a positive number of seconds, or 0 for off"
                             : "must be a positive number of seconds";
        return {};
      },
      "SECONDS");
}

CLI::Option* add_seconds(CLI::App& app, const char* name, seconds_d& target, const char* help,
                         bool zero_is_off = false) {
  auto* option = app.add_option_function<double>(
      name, [&target](double value) { target = seconds_d(value); }, help);
  option->check(positive_seconds(zero_is_off));
  option->default_str(fmt::format("{:g}", target.count()));
  option->type_name("S");
  return option;
}

// JUNCTION_WORKERS=4 is --workers 4: every flag is also JUNCTION_ and its name in upper case
// with '_' for '-' (granian's GRANIAN_*, uvicorn's UVICORN_*), for containers and systemd units.
// CLI11 reads a flag's variable only when the command line does not give it, so the command line
// wins. A repeatable flag takes one value from its variable; a switch takes 1/0, true/false.
std::string environment_variable(std::string_view flag) {
  std::string variable = "JUNCTION_";
  for (char c : flag) variable += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return variable;
}

void read_flags_from_environment(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) {
    if (option->get_positional() || option->get_lnames().empty()) continue;  // the APPs
    const std::string& name = option->get_lnames().front();
    if (name == "help" || name == "version") continue;
    option->envname(environment_variable(name));
  }
  app.footer(
      "Every flag can also be set in the environment as JUNCTION_<FLAG>, with '_' for '-' "
      "(JUNCTION_WORKERS=4, JUNCTION_NO_ACCESS_LOG=1); a flag on the command line wins.");
}

// --config FILE.toml (config_file.hpp). CLI11 gives a file's values to the options the command
// line left unset, but it reads its file before the environment, which would make the file win
// over JUNCTION_* variables; so the file is read here first, and a key whose variable is set is
// left out of what CLI11 is handed.
class ConfigFileSource final : public CLI::Config {
 public:
  explicit ConfigFileSource(ConfigFile file) : file_(std::move(file)) {}

  std::string to_config(const CLI::App*, bool, bool, std::string) const override { return {}; }
  std::vector<CLI::ConfigItem> from_config(std::istream&) const override {
    std::vector<CLI::ConfigItem> items;
    for (const auto& setting : file_.settings)
      if (!from_environment(setting.flag)) items.push_back({{}, setting.flag, setting.values});
    return items;
  }

  // The file's place for an error CLI11 reports about one of its values ("--workers: ...").
  std::string locate(const std::string& message, int argc, const char* const* argv) const {
    for (const auto& setting : file_.settings) {
      std::string flag = "--" + setting.flag;
      auto at = message.find(flag);
      bool named = at != std::string::npos && !name_continues(message, at + flag.size());
      if (named && !from_environment(setting.flag) && !on_command_line(flag, argc, argv))
        return file_.located(setting, message);
    }
    return {};
  }

 private:
  // Whether message[at] goes on with a flag's name ("--threads" is not named in "--threads-x").
  static bool name_continues(const std::string& message, std::size_t at) {
    if (at >= message.size()) return false;
    char c = message[at];
    return c == '-' || std::isalnum(static_cast<unsigned char>(c));
  }
  static bool from_environment(const std::string& flag) {
    const char* value = std::getenv(environment_variable(flag).c_str());
    return value != nullptr && *value != '\0';
  }
  static bool on_command_line(const std::string& flag, int argc, const char* const* argv) {
    for (int i = 1; i < argc; ++i) {
      std::string_view arg(argv[i]);
      if (arg == flag || arg.starts_with(flag + "=")) return true;
    }
    return false;
  }

  ConfigFile file_;
};

// Whether --bind (-b) is on the command line or in JUNCTION_BIND.
bool bind_given_outside_file(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg(argv[i]);
    if (arg == "--") break;
    if (arg == "--bind" || arg.starts_with("--bind=") || arg.starts_with("-b")) return true;
  }
  const char* variable = std::getenv(environment_variable("bind").c_str());
  return variable != nullptr && *variable != '\0';
}

// The config file named by --config FILE (or --config=FILE) on the command line, else by
// JUNCTION_CONFIG; empty when none.
std::string config_file_path(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg(argv[i]);
    if (arg == "--") break;
    if (arg == "--config" && i + 1 < argc) return argv[i + 1];
    if (arg.starts_with("--config=")) return std::string(arg.substr(9));
  }
  const char* variable = std::getenv("JUNCTION_CONFIG");
  return variable ? variable : "";
}

// What the file may set: every long flag but --help, --version and --config itself.
std::vector<FlagShape> flag_shapes(const CLI::App& app) {
  std::vector<FlagShape> shapes;
  for (const CLI::Option* option : app.get_options()) {
    if (option->get_positional() || option->get_lnames().empty()) continue;
    const std::string& name = option->get_lnames().front();
    if (name == "help" || name == "version" || name == "config") continue;
    shapes.push_back({name, option->get_expected_max() == 0, option->get_expected_max() > 1});
  }
  return shapes;
}

}  // namespace

Config parse_command_line(int argc, const char* const* argv, const std::string& runtime) {
  Config config;
  unsigned hardware = std::thread::hardware_concurrency();
  config.io_threads = hardware == 0 ? 1 : hardware;

  CLI::App app(kDescription, "junction");
  std::string version = std::string("junction ") + JUNCTION_VERSION;
  if (!runtime.empty()) version += " on " + runtime;
  app.set_version_flag("--version", version);
  app.get_formatter()->column_width(40);

  std::vector<std::string> binds;
  app.add_option("apps", config.apps, "Python apps to serve (MODULE:ATTR or PREFIX=MODULE:ATTR)")
      ->type_name("APP");
  app.add_option("--bind,-b", binds,
                 "Listen on HOST:PORT, [V6]:PORT or unix:PATH; repeatable (default "
                 "127.0.0.1:8000). http://HOST:PORT is always plain text, https://HOST:PORT "
                 "always TLS; a bare address is TLS when --tls-cert is given")
      ->allow_extra_args(false)  // one address per --bind; what follows may be an APP
      ->type_name("ADDR");
  std::string workers = "1";
  app.add_option("--workers,-w", workers,
                 "Worker processes serving the listeners, each with its own Python; 'auto': one "
                 "per usable core. With more than one, a master binds, supervises and respawns "
                 "them (default: 1, no master)")
      ->type_name("N|auto")
      ->check([](const std::string& text) -> std::string {
        if (text == "auto") return "";
        unsigned n = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
        return ec == std::errc() && end == text.data() + text.size() && n >= 1 && n <= 256
                   ? ""
                   : "must be a number from 1 to 256, or auto";
      });
  app.add_option("--max-requests", config.max_requests,
                 "A worker that has served N requests drains and is replaced (default: 0, "
                 "never)")
      ->check(CLI::NonNegativeNumber)
      ->type_name("N");
  app.add_option("--max-requests-jitter", config.max_requests_jitter,
                 "Each worker's --max-requests is drawn from [N, N+J], so they do not all "
                 "restart together (default: 0)")
      ->type_name("J");
  app.add_option("--max-rss", config.max_rss_mib,
                 "A worker whose resident memory is over MiB (two samples a second apart) "
                 "drains and is replaced (default: 0, never)")
      ->check(CLI::NonNegativeNumber)
      ->type_name("MiB");
  add_seconds(app, "--worker-lifetime", config.worker_lifetime,
              "A worker this old (plus up to 10%, drawn per worker) drains and is replaced "
              "(default: 0, never)",
              true);
  add_seconds(app, "--worker-timeout", config.worker_timeout,
              "Kill and replace a worker whose I/O threads, WSGI pool or ASGI loop stop "
              "responding for this long (default: 0, never)",
              true);
  add_seconds(app, "--request-timeout", config.python.request_timeout,
              "Answer 504 to a request whose response has not started this long after it "
              "arrived; the ASGI task is cancelled, a WSGI thread is overdue until the app "
              "returns (default: 0, no limit)",
              true);
  app.add_flag("--preload", config.preload,
               "Import the apps in the master before forking the workers (shared memory, a "
               "failed import stops the start at once; code changes need a restart)");
  app.add_flag("--reload", config.reload,
               "Development: start new workers when a .py file under the working directory (or "
               "--reload-dir) changes");
  app.add_option("--reload-dir", config.reload_dirs,
                 "A directory --reload watches (repeatable; default: the working directory)")
      ->allow_extra_args(false)
      ->type_name("DIR")
      ->check(CLI::ExistingDirectory);
  app.add_flag("--health-check-app", config.health_check_app,
               "The health path also round-trips through the WSGI pool and the ASGI loop, and "
               "answers 503 when one does not answer within 1s");
  app.add_option("--pid-file", config.pid_file,
                 "Write the process id (the master's, with workers) to FILE; removed at exit")
      ->type_name("FILE");
  auto* io_threads_option =
      app.add_option("--io-threads", config.io_threads,
                     "I/O threads per process (default: one per core, shared out among the "
                     "workers)")
          ->check(CLI::Range(1u, 256u))
          ->type_name("N");
  app.add_option("--log-level", config.log_level, "Log level")
      ->transform(CLI::IsMember({"trace", "debug", "info", "warning", "error", "critical"},
                                CLI::ignore_case))
      ->default_str("info")
      ->type_name("LEVEL");
  app.add_option("--log-format", config.log_format,
                 "The server's log (not the access log): text, or json (one object a line: "
                 "time, level, pid, message)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str()
      ->type_name("FORMAT");
  app.add_option("--log-file", config.log_file,
                 "Append the server's log to FILE instead of stderr; SIGUSR1 opens it again")
      ->type_name("FILE");
  // Two flags rather than CLI11's negation syntax, whose --help shows a confusing "{false}".
  auto* access_on = app.add_flag_callback(
      "--access-log", [&config] { config.access_log = true; },
      "One line per request on stdout: client, request, status, bytes, duration (default)");
  app.add_flag_callback(
         "--no-access-log", [&config] { config.access_log = false; }, "No access log")
      ->excludes(access_on);
  auto& access = config.access_log_options;
  app.add_option("--access-log-format", access.format,
                 "default, common or combined (Apache's), json (one object a line), or a "
                 "template of {atoms}: " +
                     std::string(AccessLogFormat::atoms_list()))
      ->capture_default_str()
      ->type_name("FORMAT")
      ->check([](const std::string& text) -> std::string {
        std::string error;
        return AccessLogFormat::parse(text, error) ? "" : error;
      });
  app.add_option("--access-log-file", access.file,
                 "Append the access log to FILE instead of stdout; SIGUSR1 opens it again (after "
                 "logrotate moved it)")
      ->type_name("FILE");
  app.add_option("--access-log-exclude", access.exclude,
                 "Do not log requests for this exact path (repeatable), as the health path")
      ->allow_extra_args(false)
      ->type_name("PATH");

  app.add_option("--request-id-header", config.request_id_header,
                 "Each request's ID travels in this field: kept from a trusted proxy "
                 "(--forwarded-allow-ips), else generated; the app sees it, the response echoes "
                 "it, the access log has {request_id}. '' turns IDs off")
      ->capture_default_str()
      ->type_name("NAME")
      ->check([](const std::string& name) -> std::string {
        return name.empty() || valid_field_name(name) ? "" : "not a header field name: " + name;
      });
  std::string admin_bind;
  app.add_option("--admin-bind", admin_bind,
                 "Serve /metrics (Prometheus), /metrics.json, /status and a dashboard at / on "
                 "this address (HOST:PORT or unix:PATH; plain HTTP: keep it private). Off by "
                 "default")
      ->type_name("ADDR");

  auto& limits = config.limits;
  app.add_option("--limit-request-line", limits.request_line,
                 "Longest request line in bytes; longer gets 414")
      ->check(CLI::Range(std::size_t{16}, std::size_t{1} << 20))
      ->capture_default_str()
      ->type_name("N");
  app.add_option("--limit-request-fields", limits.header_fields,
                 "Most header fields in a request; more gets 431")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000}))
      ->capture_default_str()
      ->type_name("N");
  app.add_option("--limit-request-field-size", limits.header_field_size,
                 "Longest header field (name and value) in bytes; longer gets 431")
      ->check(CLI::Range(std::size_t{16}, std::size_t{1} << 20))
      ->capture_default_str()
      ->type_name("N");
  app.add_option("--limit-request-header-size", limits.header_block_size,
                 "Largest request head (all header fields) in bytes; larger gets 431")
      ->check(CLI::Range(std::size_t{64}, std::size_t{16} << 20))
      ->capture_default_str()
      ->type_name("N");
  app.add_option("--max-body-size", limits.max_body_size,
                 "Largest request body in bytes; larger gets 413")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 50))
      ->capture_default_str()
      ->type_name("BYTES");

  auto& timeouts = config.timeouts;
  add_seconds(app, "--timeout-keep-alive", timeouts.keep_alive,
              "Close a keep-alive connection idle this long between requests");
  add_seconds(app, "--timeout-request-header", timeouts.request_header,
              "Answer 408 and close when a request head takes longer than this");
  add_seconds(app, "--timeout-request-body", timeouts.request_body,
              "Answer 408 (or abort) when the request body stalls this long");
  add_seconds(app, "--timeout-send", timeouts.send,
              "Close the connection when the client takes none of its response this long");
  add_seconds(app, "--graceful-timeout", timeouts.graceful,
              "On SIGTERM/SIGINT, let in-flight requests finish this long, then cut them");
  app.add_option("--min-request-body-rate", timeouts.min_request_body_rate,
                 "Answer 408 when a request body arrives slower than this many bytes a second "
                 "once --min-rate-grace is over (counting only time the server waits for it); "
                 "0: no minimum")
      ->check(CLI::Range(0.0, 1e12))
      ->default_str(fmt::format("{:g}", timeouts.min_request_body_rate))
      ->type_name("BYTES/S");
  app.add_option("--min-response-rate", timeouts.min_response_rate,
                 "Close the connection of a client taking its response slower than this many "
                 "bytes a second once --min-rate-grace is over (counting only time its output "
                 "waits); 0: no minimum")
      ->check(CLI::Range(0.0, 1e12))
      ->default_str(fmt::format("{:g}", timeouts.min_response_rate))
      ->type_name("BYTES/S");
  add_seconds(app, "--min-rate-grace", timeouts.min_rate_grace,
              "Time a client has before the minimum rates apply; each second more is earned "
              "by moving that many bytes");

  auto& buffering = config.request_buffering;
  app.add_option("--request-buffer-size", buffering.size,
                 "Read a request body of up to this many bytes whole before its app sees the "
                 "request, so a slow upload holds a connection, not a thread; 0: off")
      ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 30))
      ->capture_default_str()
      ->type_name("BYTES");
  app.add_option("--request-buffer-total", buffering.total,
                 "Bytes of request bodies read ahead of their apps at once, in all; past it, "
                 "bodies stream to their apps as they come")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40))
      ->capture_default_str()
      ->type_name("BYTES");
  app.add_option("--response-buffer-total", config.response_buffer_total,
                 "Bytes of responses held for clients that read slowly, in all (up to 4 MiB a "
                 "connection), so that their apps' writes need not wait; past it, writes wait "
                 "for the client (0: always)")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 40))
      ->capture_default_str()
      ->type_name("BYTES");

  auto& python = config.python;
  // Apps import from the venv junction runs in; --venv adds another one of the same Python.
  app.add_option("--venv", python.venv,
                 "Also import apps from this virtualenv (made with the Python junction runs "
                 "on), before the venv junction is installed in")
      ->type_name("DIR")
      ->check(quiet(CLI::ExistingDirectory));
  app.add_option("--chdir", python.chdir, "Change to this directory before importing apps")
      ->type_name("DIR")
      ->check(quiet(CLI::ExistingDirectory));
  app.add_option("--pythonpath", python.pythonpath,
                 "Add this directory to the import path, first (relative to --chdir); "
                 "repeatable. The working directory is always importable")
      ->allow_extra_args(false)
      ->type_name("DIR");
  app.add_option("--threads", python.threads,
                 "WSGI pool: Python threads that run requests (each releases the GIL while it "
                 "waits for I/O); an app of --config with threads or backlog of its own has its "
                 "own pool")
      ->check(CLI::Range(1u, 1024u))
      ->capture_default_str()
      ->type_name("N");
  app.add_option("--backlog", python.backlog,
                 "WSGI requests that may wait for a free thread; past that, 503 with "
                 "Retry-After")
      ->check(CLI::Range(0u, 1000000u))
      ->capture_default_str()
      ->type_name("N");

  app.add_option("--loop", python.loop,
                 "ASGI event loop: auto picks uvloop when it is installed, else asyncio")
      ->check(CLI::IsMember({"auto", "asyncio", "uvloop"}))
      ->capture_default_str()
      ->type_name("LOOP");
  app.add_option("--limit-concurrency", python.limit_concurrency,
                 "ASGI: requests and WebSocket connections in progress at once (all ASGI apps "
                 "together, but those with a limit_concurrency of their own in --config); past "
                 "that, 503 with Retry-After")
      ->check(CLI::Range(1u, 1000000u))
      ->capture_default_str()
      ->type_name("N");
  app.add_option("--lifespan", python.lifespan,
                 "ASGI lifespan events: on requires the app to support them, off skips them, "
                 "auto runs them when the app supports them")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str()
      ->type_name("MODE");
  app.add_option("--ws-max-message-size", limits.ws_max_message_size,
                 "Largest WebSocket message in bytes; a larger one closes the connection with "
                 "1009")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40))
      ->capture_default_str()
      ->type_name("BYTES");

  auto& http2 = config.http2;
  std::map<std::string, HttpMode> modes{
      {"auto", HttpMode::automatic}, {"1", HttpMode::http1}, {"2", HttpMode::http2}};
  app.add_option("--http", config.http_mode,
                 "Protocols: auto serves HTTP/1.1 and HTTP/2 (over TLS, ALPN offers h2 and "
                 "http/1.1; in plain text, HTTP/2 with prior knowledge, told apart by its "
                 "preface, or by Upgrade: h2c); 1 serves HTTP/1.1 only; 2 serves HTTP/2 only")
      ->transform(one_of(modes))
      ->default_str("auto")
      ->type_name("auto|1|2");
  app.add_option("--h2-max-concurrent-streams", http2.max_concurrent_streams,
                 "HTTP/2: streams a client may have open at once; more are refused")
      ->check(CLI::Range(1u, 10000u))
      ->capture_default_str()
      ->type_name("N");
  app.add_option("--h2-initial-window-size", http2.initial_window_size,
                 "HTTP/2: request body bytes one stream may send ahead of the app reading them")
      ->check(CLI::Range(std::uint32_t{65535}, std::uint32_t{0x7fffffff}))
      ->capture_default_str()
      ->type_name("BYTES");
  app.add_option("--h2-connection-window-size", http2.connection_window_size,
                 "HTTP/2: request body bytes all streams of a connection together may send "
                 "ahead of their apps")
      ->check(CLI::Range(std::uint32_t{65535}, std::uint32_t{0x7fffffff}))
      ->capture_default_str()
      ->type_name("BYTES");
  app.add_option("--h2-max-frame-size", http2.max_frame_size,
                 "HTTP/2: largest frame payload we accept (SETTINGS_MAX_FRAME_SIZE)")
      ->check(CLI::Range(std::uint32_t{16384}, std::uint32_t{16777215}))
      ->capture_default_str()
      ->type_name("BYTES");
  app.add_option_function<std::uint32_t>(
         "--h2-max-header-list-size",
         [&http2](std::uint32_t value) { http2.max_header_list_size = value; },
         "HTTP/2: largest request header list (names, values and 32 bytes per field, RFC "
         "9113 §6.5.2); larger gets 431 (default: --limit-request-header-size)")
      ->check(CLI::Range(std::uint32_t{64}, std::uint32_t{16} << 20))
      ->type_name("BYTES");

  auto& tls = config.tls;
  std::vector<std::string> tls_certs, tls_keys;
  app.add_option("--tls-cert", tls_certs,
                 "TLS: a PEM certificate (followed by its chain); every listener then speaks "
                 "TLS. Give --tls-cert/--tls-key several times to serve several names: the pair "
                 "whose certificate matches the client's SNI name is used, the first otherwise")
      ->check(quiet(CLI::ExistingFile))
      ->allow_extra_args(false)  // one file per flag; what follows may be an APP
      ->type_name("FILE");
  app.add_option("--tls-key", tls_keys, "TLS: the PEM private key of the --tls-cert before it")
      ->check(quiet(CLI::ExistingFile))
      ->allow_extra_args(false)
      ->type_name("FILE");
  app.add_option("--tls-key-password-file", tls.key_password_file,
                 "TLS: a file whose first line is the passphrase of encrypted keys")
      ->check(quiet(CLI::ExistingFile))
      ->type_name("FILE");
  auto* min_version_option =
      app.add_option("--tls-min-version", tls.min_version,
                     "TLS: the oldest protocol version accepted (TLS 1.0 and 1.1 never are)")
          ->check(quiet(CLI::IsMember({"1.2", "1.3"})))
          ->capture_default_str()
          ->type_name("1.2|1.3");
  app.add_option("--tls-client-ca", tls.client_ca,
                 "TLS: PEM CA certificates that client certificates are verified against")
      ->check(quiet(CLI::ExistingFile))
      ->type_name("FILE");
  std::map<std::string, tls::Options::ClientVerify> verify_modes{
      {"none", tls::Options::ClientVerify::none},
      {"optional", tls::Options::ClientVerify::optional},
      {"required", tls::Options::ClientVerify::required}};
  auto* verify_option =
      app.add_option("--tls-client-verify", tls.client_verify,
                     "TLS: client certificates. none: not asked for; optional: asked for, and the "
                     "app sees whether it verified (SSL_CLIENT_VERIFY); required: a client without "
                     "a valid one is refused in the handshake")
          ->transform(one_of(verify_modes))
          ->default_str("none")
          ->type_name("none|optional|required");
  auto* handshake_option =
      add_seconds(app, "--tls-handshake-timeout", config.tls.handshake_timeout,
                  "TLS: a client must finish its handshake within this time, or it is closed");

  app.add_option("--health-path", config.health_path,
                 "Answer GET/HEAD on this exact path with 200 'ok', without Python (default: "
                 "off)")
      ->type_name("PATH")
      ->check([](const std::string& path) -> std::string {
        return path.starts_with('/') ? "" : "must start with '/'";
      });
  app.add_flag("--check-config", config.check_config,
               "Check the configuration (flags, --config file, apps) without starting: print "
               "the route table and exit 0, or the errors and exit 2 (also: junction "
               "check-config FILE)");
  app.add_flag("--diagnostics", config.diagnostics,
               "Testing aid: the health path also echoes a request body (?echo) and delays "
               "its answer (?sleep=S, at most 60). Not for production.");

  detail::EdgeCommandLine edge;
  detail::add_edge_options(app, config, edge);
  std::string config_path = config_file_path(argc, argv);
  std::vector<FileListener> file_listeners;  // [[listen]]
  app.set_config("--config", config_path,
                 "Read flags from this TOML file: each key is a flag without its -- "
                 "(workers = 4, bind = [\"0.0.0.0:8000\"], no_access_log = true); the "
                 "command line and JUNCTION_* variables win over it")
      ->type_name("FILE");
  read_flags_from_environment(app);
  std::shared_ptr<ConfigFileSource> file_source;
  if (!config_path.empty()) {
    std::vector<std::string> errors;
    auto file = read_config_file(config_path, flag_shapes(app), errors);
    if (!file) {
      std::string message;
      for (const auto& error : errors) message += "junction: " + error + "\n";
      throw CommandLineExit{2, message};
    }
    config.config_file = config_path;
    config.file_apps = file->apps;
    config.file_routes = file->routes;
    file_listeners = file->listeners;
    file_source = std::make_shared<ConfigFileSource>(std::move(*file));
    app.config_formatter(file_source);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    throw CommandLineExit{0, app.help()};
  } catch (const CLI::CallForVersion&) {
    throw CommandLineExit{0, version + "\n"};
  } catch (const CLI::ParseError& e) {
    std::string located = file_source ? file_source->locate(e.what(), argc, argv) : "";
    if (!located.empty()) throw CommandLineExit{2, "junction: " + located + "\n"};
    throw CommandLineExit{2, std::string("junction: ") + e.what() + " (see junction --help)\n"};
  }

  if (config.diagnostics && config.health_path.empty()) {
    throw CommandLineExit{2, "junction: --diagnostics needs --health-path\n"};
  }
  if (tls_certs.size() != tls_keys.size())
    throw CommandLineExit{2, fmt::format("junction: every --tls-cert needs its --tls-key (got {} "
                                         "certificate(s), {} key(s))\n",
                                         tls_certs.size(), tls_keys.size())};
  for (std::size_t i = 0; i < tls_certs.size(); ++i)
    tls.certificates.push_back({tls_certs[i], tls_keys[i]});
  bool tls_options_set = !tls.key_password_file.empty() || !tls.client_ca.empty() ||
                         verify_option->count() > 0 || min_version_option->count() > 0 ||
                         handshake_option->count() > 0;
  if (!tls.enabled() && tls_options_set)
    throw CommandLineExit{2, "junction: the --tls-* options need --tls-cert and --tls-key\n"};
  if (tls.client_verify != tls::Options::ClientVerify::none && tls.client_ca.empty())
    throw CommandLineExit{2, "junction: --tls-client-verify needs --tls-client-ca\n"};
  if (workers == "auto") {
    cpu_set_t usable;
    CPU_ZERO(&usable);
    int count = ::sched_getaffinity(0, sizeof usable, &usable) == 0 ? CPU_COUNT(&usable) : 0;
    config.workers = count > 0 ? static_cast<unsigned>(count) : std::max(hardware, 1u);
  } else {
    std::from_chars(workers.data(), workers.data() + workers.size(), config.workers);
  }
  // Each worker runs its own I/O threads: N workers with one per core each would put N threads
  // on every core, and they would take turns with each other (and with the Python threads)
  // instead of running. The cores are shared out, at least one each.
  if (io_threads_option->count() == 0 && config.workers > 1)
    config.io_threads = std::max(1u, config.io_threads / config.workers);
  if (config.preload && config.reload)
    throw CommandLineExit{2,
                          "junction: --reload imports the apps afresh in each new worker; it "
                          "cannot be combined with --preload\n"};
  if (!config.reload_dirs.empty() && !config.reload)
    throw CommandLineExit{2, "junction: --reload-dir needs --reload\n"};
  if (config.health_check_app && config.health_path.empty())
    throw CommandLineExit{2, "junction: --health-check-app needs --health-path\n"};
  if (config.max_requests_jitter > 0 && config.max_requests == 0)
    throw CommandLineExit{2, "junction: --max-requests-jitter needs --max-requests\n"};
  // --bind on the command line (or JUNCTION_BIND) replaces the file's listeners, as any flag
  // does; the file's `bind` and [[listen]] tables add up.
  if (bind_given_outside_file(argc, argv)) file_listeners.clear();
  if (binds.empty() && file_listeners.empty()) binds.push_back("127.0.0.1:8000");
  for (const auto& text : binds) {
    std::string error;
    auto bind = parse_bind_address(text, error);
    if (!bind) throw CommandLineExit{2, "junction: --bind: " + error + "\n"};
    config.binds.push_back(std::move(*bind));
  }
  for (const auto& listener : file_listeners) {
    std::string error;
    auto bind = parse_bind_address(listener.bind, error);
    if (!bind) throw CommandLineExit{2, "junction: [[listen]] bind: " + error + "\n"};
    if (listener.tls)
      bind->security = *listener.tls ? BindAddress::Security::tls : BindAddress::Security::plain;
    bind->http = listener.http;
    bind->proxy_protocol = listener.proxy_protocol;
    config.binds.push_back(std::move(*bind));
  }
  if (!admin_bind.empty()) {
    std::string error;
    auto bind = parse_bind_address(admin_bind, error);
    if (!bind) throw CommandLineExit{2, "junction: --admin-bind: " + error + "\n"};
    if (bind->security == BindAddress::Security::tls)
      throw CommandLineExit{2, "junction: --admin-bind speaks plain HTTP; give HOST:PORT\n"};
    for (const auto& app_bind : config.binds)
      if (bind->kind == app_bind.kind && bind->port != 0 && bind->host == app_bind.host &&
          bind->port == app_bind.port && bind->path == app_bind.path)
        throw CommandLineExit{
            2, "junction: --admin-bind " + admin_bind +
                   " is also a --bind address: the admin listener needs one of its own\n"};
    bind->security = BindAddress::Security::plain;
    config.admin_bind = std::move(*bind);
  }
  detail::finish_edge_options(config, edge);
  // [apps.NAME] pythonpath: one interpreter serves every app, so each app's directories join
  // the import path of all (after --pythonpath's).
  for (const auto& file_app : config.file_apps)
    config.python.pythonpath.insert(config.python.pythonpath.end(), file_app.pythonpath.begin(),
                                    file_app.pythonpath.end());
  return config;
}

}  // namespace junction::gateway
