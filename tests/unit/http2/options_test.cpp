// The HTTP/2 flags: --http picks the protocols, --h2-* the settings we announce.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "gateway/server/config.hpp"

namespace junction::gateway {
namespace {

Config parse(std::vector<const char*> args) {
  args.insert(args.begin(), "junction");
  return parse_command_line(static_cast<int>(args.size()), args.data());
}

TEST_CASE("http2 options: defaults, each flag, and bad values") {
  auto defaults = parse({});
  CHECK(defaults.http_mode == HttpMode::automatic);
  CHECK(defaults.http2.max_concurrent_streams == 100);
  CHECK(defaults.http2.max_frame_size == 16384);
  CHECK_FALSE(defaults.http2.max_header_list_size.has_value());

  auto set = parse({"--http", "2", "--h2-max-concurrent-streams", "7", "--h2-initial-window-size",
                    "100000", "--h2-connection-window-size", "200000", "--h2-max-frame-size",
                    "32768", "--h2-max-header-list-size", "4096"});
  CHECK(set.http_mode == HttpMode::http2);
  CHECK(set.http2.max_concurrent_streams == 7);
  CHECK(set.http2.initial_window_size == 100000);
  CHECK(set.http2.connection_window_size == 200000);
  CHECK(set.http2.max_frame_size == 32768);
  CHECK(set.http2.max_header_list_size == 4096u);
  CHECK(parse({"--http", "1"}).http_mode == HttpMode::http1);

  auto exit_code = [](std::vector<const char*> args) {
    try {
      parse(std::move(args));
    } catch (const CommandLineExit& e) {
      return e.exit_code;
    }
    return -1;
  };
  CHECK(exit_code({"--http", "3"}) == 2);
  CHECK(exit_code({"--h2-max-frame-size", "100"}) == 2);
  CHECK(exit_code({"--h2-initial-window-size", "10"}) == 2);
  try {
    parse({"--help"});
  } catch (const CommandLineExit& e) {
    CHECK(e.message.find("--h2-max-header-list-size") != std::string::npos);
    CHECK(e.message.find("--http") != std::string::npos);
  }
}

}  // namespace
}  // namespace junction::gateway
