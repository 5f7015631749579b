// The access log: named formats and templates, escaping, the batching writer, exclusions and
// reopening the file.
#include "gateway/access_log.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace junction::gateway {
namespace {

using namespace std::chrono_literals;

RequestHead sample() {
  RequestHead head;
  head.method = "GET";
  head.target = "/shop/cart?item=7";
  head.path = "/shop/cart";
  head.query = "item=7";
  head.version = {1, 1};
  head.headers = {{"Host", "example.com"},
                  {"User-Agent", "curl/7.88.1"},
                  {"Referer", "https://example.com/"},
                  {"accept", "a"},
                  {"Accept", "b"}};
  head.client = {"203.0.113.7", 51234};
  return head;
}

// 2026-12-06T09:18:28.123Z
constexpr auto kTime =
    std::chrono::system_clock::time_point(std::chrono::milliseconds(1796548708123));

std::string line(std::string_view format_text, const RequestHead& head, int status = 200,
                 std::uint64_t bytes = 1234) {
  std::string error;
  auto format = AccessLogFormat::parse(format_text, error);
  INFO(error);
  REQUIRE(format);
  fmt::memory_buffer out;
  format->write({head, status, bytes, std::chrono::microseconds(1500), kTime}, out);
  return fmt::to_string(out);
}

TEST_CASE("access log: the default format is uvicorn's shape", "[access_log]") {
  auto head = sample();
  CHECK(line("default", head) ==
        "203.0.113.7:51234 - \"GET /shop/cart?item=7 HTTP/1.1\" 200 1234 1.500ms\n");
  head.client = {"2001:db8::5", 443};
  head.version = {2, 0};
  CHECK(
      line("default", head).starts_with("[2001:db8::5]:443 - \"GET /shop/cart?item=7 HTTP/2.0\""));
  head.client = {"", 0};
  CHECK(line("default", head).starts_with("unix - "));
  head.client = {"203.0.113.9", 0};  // a client a proxy named without its port
  CHECK(line("default", head).starts_with("203.0.113.9 - "));
}

TEST_CASE("access log: common and combined, as Apache writes them", "[access_log]") {
  auto head = sample();
  CHECK(line("common", head) ==
        "203.0.113.7 - - [06/Dec/2026:09:18:28 +0000] \"GET /shop/cart?item=7 HTTP/1.1\" 200 "
        "1234\n");
  CHECK(line("combined", head, 404, 0) ==
        "203.0.113.7 - - [06/Dec/2026:09:18:28 +0000] \"GET /shop/cart?item=7 HTTP/1.1\" 404 - "
        "\"https://example.com/\" \"curl/7.88.1\"\n");
  head.headers.clear();
  CHECK(line("combined", head).ends_with("200 1234 \"-\" \"-\"\n"));
}

TEST_CASE("access log: json, one object a line", "[access_log]") {
  auto head = sample();
  head.tls = std::make_shared<TlsInfo>(TlsInfo{"TLSv1.3"});
  head.headers.emplace_back("User-Agent", "bot \"x\"\\\x01\xe9");
  head.request_id = "0f5c2a9b";
  auto text = line("json", head, 503, 17);
  CHECK(text.starts_with(
      "{\"time\":\"2026-12-06T09:18:28.123Z\",\"client\":\"203.0.113.7:51234\","
      "\"method\":\"GET\",\"target\":\"/shop/cart?item=7\",\"path\":\"/shop/cart\","
      "\"query\":\"item=7\",\"protocol\":\"HTTP/1.1\",\"status\":503,\"bytes\":17,"
      "\"duration_ms\":1.500,\"referer\":\"https://example.com/\","));
  // Repeated fields joined; quotes, backslashes, controls and latin-1 bytes escaped.
  CHECK(text.find("\"user_agent\":\"curl/7.88.1, bot \\\"x\\\"\\\\\\u0001\\u00e9\"") !=
        std::string::npos);
  CHECK(text.find("\"tls_version\":\"TLSv1.3\",\"scheme\":\"https\",\"pid\":" +
                  std::to_string(::getpid()) + ",\"request_id\":\"0f5c2a9b\"}\n") !=
        std::string::npos);
  head.headers.clear();
  head.query.clear();
  head.tls = nullptr;
  auto bare = line("json", head);
  CHECK(bare.find("\"query\":null") != std::string::npos);
  CHECK(bare.find("\"referer\":null,\"user_agent\":null,\"tls_version\":null") !=
        std::string::npos);
}

TEST_CASE("access log: templates of atoms", "[access_log]") {
  auto head = sample();
  CHECK(line("{method} {path} q={query} {status} {bytes} {header:accept} {{literal}} {scheme}",
             head) == "GET /shop/cart q=item=7 200 1234 a, b {literal} http\n");
  CHECK(line("{time} {client_host} {tls_version} {bytes_clf}", head, 200, 0) ==
        "2026-12-06T09:18:28.123Z 203.0.113.7 - -\n");
  // Atoms side by side, literal text only, and text on both sides of the atoms.
  CHECK(line("{status}{bytes}{method}", head) == "2001234GET\n");
  CHECK(line("plain text, no atom", head) == "plain text, no atom\n");
  CHECK(line("", head) == "\n");
  CHECK(line("<{{{status}}}>", head) == "<{200}>\n");
  // The route that answered, by its /metrics labels; "-" when not known or empty.
  RouteLabel api{"main:app", "/api"}, none{"none", ""};
  fmt::memory_buffer out;
  std::string error;
  auto format = AccessLogFormat::parse("{app} {route}", error);
  REQUIRE(format);
  format->write({head, 200, 0, {}, kTime, &api}, out);
  format->write({head, 404, 0, {}, kTime, &none}, out);
  format->write({head, 200, 0, {}, kTime}, out);
  CHECK(fmt::to_string(out) == "main:app /api\nnone -\n- -\n");
  // A request cannot forge a second line or a field: quotes and controls are escaped.
  head.headers = {{"User-Agent", "a\"b\nc"}};
  CHECK(line("\"{header:user-agent}\"", head) == "\"a\\\"b\\x0ac\"\n");
}

TEST_CASE("access log: a bad template names what is wrong", "[access_log]") {
  std::string error;
  CHECK_FALSE(AccessLogFormat::parse("{method} {nope}", error));
  CHECK(error.starts_with("unknown atom {nope} (atoms: {time}"));
  CHECK_FALSE(AccessLogFormat::parse("{method", error));
  CHECK(error.find("'{' without its '}'") != std::string::npos);
  CHECK_FALSE(AccessLogFormat::parse("method}", error));
  CHECK(error.find("'}' without its '{'") != std::string::npos);
  CHECK_FALSE(AccessLogFormat::parse("{header:}", error));
  CHECK_FALSE(AccessLogFormat::parse("{header:a b}", error));
  CHECK(error.find("{header:User-Agent}") != std::string::npos);
}

// A temporary file the test reads back.
struct TempLog {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("access-log-test-" + std::to_string(::getpid()));
  ~TempLog() {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
    std::filesystem::remove(path.string() + ".1", ignored);
  }
  static std::vector<std::string> lines(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }
};

TEST_CASE("AccessLog: lines reach the file in batches, in order, all of them", "[access_log]") {
  TempLog temp;
  auto head = sample();
  {
    AccessLog log({"{status} {bytes}", temp.path.string(), {}});
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < 5000; ++i) log.write(head, 200 + t, std::uint64_t(i), 1ms);
      });
    for (auto& thread : threads) thread.join();
    // Not yet all written: a batch waits up to kBatchDelay, unless it is full.
    log.write(head, 299, 1, 1ms);
    log.flush();
    auto lines = TempLog::lines(temp.path);
    REQUIRE(lines.size() == 20001);
    CHECK(lines.back() == "299 1");
    // Each thread's lines in the order it wrote them.
    std::vector<int> next(4, 0);
    for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
      int status = 0, bytes = 0;
      REQUIRE(std::sscanf(lines[i].c_str(), "%d %d", &status, &bytes) == 2);
      CHECK(bytes == next[status - 200]++);
    }
  }
}

TEST_CASE("AccessLog: the writer hands a line over within its delay", "[access_log]") {
  TempLog temp;
  AccessLog log({"{method}", temp.path.string(), {}});
  log.write(sample(), 200, 0, 1ms);
  bool seen = false;
  for (int i = 0; i < 100 && !seen; ++i) {  // the delay is 100 ms; allow a slow machine 5 s
    std::this_thread::sleep_for(50ms);
    seen = TempLog::lines(temp.path) == std::vector<std::string>{"GET"};
  }
  CHECK(seen);
}

TEST_CASE("AccessLog: --access-log-exclude skips exact paths", "[access_log]") {
  TempLog temp;
  AccessLog log({"{path}", temp.path.string(), {"/healthz", "/metrics"}});
  auto head = sample();
  for (std::string path : {"/healthz", "/healthz/x", "/metrics", "/shop"}) {
    head.path = path;
    log.write(head, 200, 0, 1ms);
  }
  log.flush();
  CHECK(TempLog::lines(temp.path) == std::vector<std::string>{"/healthz/x", "/shop"});
}

TEST_CASE("AccessLog: reopen after a rotation moves on to the new file", "[access_log]") {
  TempLog temp;
  AccessLog log({"{status}", temp.path.string(), {}});
  log.write(sample(), 201, 0, 1ms);
  std::filesystem::rename(temp.path, temp.path.string() + ".1");  // what logrotate does
  log.write(sample(), 202, 0, 1ms);                               // before the signal
  std::string error;
  REQUIRE(log.reopen(error));
  log.write(sample(), 203, 0, 1ms);
  log.flush();
  CHECK(TempLog::lines(temp.path.string() + ".1") == std::vector<std::string>{"201", "202"});
  CHECK(TempLog::lines(temp.path) == std::vector<std::string>{"203"});
}

TEST_CASE("AccessLog: a file that cannot be opened, or a bad format, is one line", "[access_log]") {
  try {
    AccessLog log({"default", "/nonexistent-dir/access.log", {}});
    FAIL("no exception");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()) ==
          "cannot open the access log /nonexistent-dir/access.log: No such file or directory");
  }
  CHECK_THROWS_WITH(AccessLog({"{x}", "", {}}),
                    Catch::Matchers::StartsWith("--access-log-format: unknown atom {x}"));
}

}  // namespace
}  // namespace junction::gateway
