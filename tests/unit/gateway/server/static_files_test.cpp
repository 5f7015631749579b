// The static file server (gateway/server/static_files.hpp, static_rules.hpp): its pure rules
// on their own, then StaticFiles answering requests on an in-memory Exchange over a temporary
// directory (every status, the headers, traversal attempts, precompressed siblings, both ways
// of sending the body), and once through a real HTTP/1.1 connection for the framing.
#include "gateway/server/static_files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>

#include "gateway/errors.hpp"
#include "gateway/server/static_rules.hpp"
#include "support/connection_harness.hpp"

namespace junction::test {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace statics = gateway::statics;
using gateway::Headers;
using gateway::RequestHead;
using gateway::StaticFiles;
using gateway::StaticMount;
using Kind = statics::RangeAnswer::Kind;

// --- The rules -------------------------------------------------------------------------------

TEST_CASE("static rules: request paths become plain relative names or are refused", "[static]") {
  auto ok = [](std::string_view path, std::string_view prefix = "/s") {
    auto r = statics::relative_path(path, prefix);
    return r ? r->path + (r->directory ? "|dir" : "") : std::string("REFUSED");
  };
  CHECK(ok("/s/a.txt") == "a.txt");
  CHECK(ok("/s/css/site.css") == "css/site.css");
  CHECK(ok("/s") == "");
  CHECK(ok("/s/") == "|dir");
  CHECK(ok("/s/sub/") == "sub|dir");
  CHECK(ok("/s/%68ello%20world.txt") == "hello world.txt");
  CHECK(ok("/s/a%2etxt") == "a.txt");
  CHECK(ok("/s/.well-known/x") == ".well-known/x");
  CHECK(ok("/a.txt", "/") == "a.txt");
  CHECK(ok("/", "/") == "|dir");
  for (auto bad : {"/s/../x",     "/s/%2e%2e/x",   "/s/%2E%2e/x",
                   "/s/..%2fx",   "/s/%2e%2e%2fx", "/s/a/%2e%2e/%2e%2e/x",
                   "/s/x%00.txt", "/s/..\\x",      "/s/%5c..%5cx",
                   "/s//x",       "/s/./x",        "/s/%2e/x",
                   "/s/a/.",      "/s/..",         "/s/a//",
                   "/s/a%2fb",    "/s/a%",         "/s/a%4",
                   "/s/a%zz",     "/s/%0d%0a",     "/s/a%7f",
                   "/sx/a",       "/t/a",          "s/a"})
    CHECK(ok(bad) == "REFUSED");
  CHECK(ok("//x", "/") == "REFUSED");
  CHECK(ok("*", "/") == "REFUSED");
}

TEST_CASE("static rules: media types from the extension", "[static]") {
  CHECK(statics::content_type("index.html") == "text/html; charset=utf-8");
  CHECK(statics::content_type("a/b/site.CSS") == "text/css; charset=utf-8");
  CHECK(statics::content_type("app.mjs") == "text/javascript; charset=utf-8");
  CHECK(statics::content_type("app.js") == "text/javascript; charset=utf-8");
  CHECK(statics::content_type("data.json") == "application/json");
  CHECK(statics::content_type("logo.svg") == "image/svg+xml");
  CHECK(statics::content_type("photo.JPEG") == "image/jpeg");
  CHECK(statics::content_type("font.woff2") == "font/woff2");
  CHECK(statics::content_type("m.wasm") == "application/wasm");
  CHECK(statics::content_type("notes.md") == "text/markdown; charset=utf-8");
  CHECK(statics::content_type("a.tar.gz") == "application/gzip");
  CHECK(statics::content_type("README") == "application/octet-stream");
  CHECK(statics::content_type("dir.d/README") == "application/octet-stream");
  CHECK(statics::content_type("x.unknownext") == "application/octet-stream");
  CHECK(statics::content_type("x.") == "application/octet-stream");
}

TEST_CASE("static rules: HTTP dates in all three forms", "[static]") {
  constexpr std::time_t kTime = 784111777;  // RFC 9110 §5.6.7's example
  CHECK(statics::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == kTime);
  CHECK(statics::parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == kTime);
  CHECK(statics::parse_http_date("Sun Nov  6 08:49:37 1994") == kTime);
  CHECK(statics::format_http_date(kTime) == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(statics::parse_http_date(statics::format_http_date(1700000000)) == 1700000000);
  for (auto bad : {"", "yesterday", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 6 Nov 1994 08:49:37 GMT",
                   "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
                   "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT"})
    CHECK_FALSE(statics::parse_http_date(bad));
}

TEST_CASE("static rules: entity tag lists, weak and strong", "[static]") {
  std::string tag = "\"1a-2b\"";
  CHECK(statics::etag_list_matches("\"1a-2b\"", tag, true));
  CHECK(statics::etag_list_matches("W/\"1a-2b\"", tag, true));
  CHECK_FALSE(statics::etag_list_matches("W/\"1a-2b\"", tag, false));
  CHECK(statics::etag_list_matches("\"x\", \"1a-2b\"", tag, false));
  CHECK(statics::etag_list_matches("\"a,b\" ,\t\"1a-2b\"", tag, true));
  CHECK(statics::etag_list_matches(" * ", tag, false));
  CHECK_FALSE(statics::etag_list_matches("\"1a-2c\"", tag, true));
  CHECK_FALSE(statics::etag_list_matches("1a-2b", tag, true));
  CHECK_FALSE(statics::etag_list_matches("\"1a-2b", tag, true));
  CHECK_FALSE(statics::etag_list_matches("\"x\" junk \"1a-2b\"", tag, true));
  CHECK(statics::make_etag(0x1a, 0x2b) == tag);
  CHECK(statics::make_etag(0x1a, 0x2b, "br") == "\"1a-2b-br\"");
}

TEST_CASE("static rules: byte ranges", "[static]") {
  auto range = [](std::string_view value, std::uint64_t size = 100) {
    auto r = statics::evaluate_range(value, size);
    switch (r.kind) {
      case Kind::whole:
        return std::string("whole");
      case Kind::unsatisfiable:
        return std::string("416");
      case Kind::partial:
        break;
    }
    return std::to_string(r.first) + "-" + std::to_string(r.last);
  };
  CHECK(range("bytes=0-9") == "0-9");
  CHECK(range("bytes=90-") == "90-99");
  CHECK(range("bytes=-10") == "90-99");
  CHECK(range("bytes=-1000") == "0-99");
  CHECK(range("bytes=50-1000") == "50-99");
  CHECK(range("Bytes = 5-5") == "5-5");
  CHECK(range("bytes=99999999999999999999999-") == "416");
  CHECK(range("bytes=100-") == "416");
  CHECK(range("bytes=100-200") == "416");
  CHECK(range("bytes=-0") == "416");
  CHECK(range("bytes=0-1,5-6") == "whole");  // several: the whole file
  CHECK(range("bytes=5-1") == "whole");      // invalid: ignored
  CHECK(range("bytes=a-b") == "whole");
  CHECK(range("bytes=0 - 1") == "whole");
  CHECK(range("bytes=") == "whole");
  CHECK(range("items=0-1") == "whole");
  CHECK(range("0-1") == "whole");
  CHECK(range("bytes=0-", 0) == "whole");  // an empty file has no ranges to give
}

TEST_CASE("static rules: Accept-Encoding qualities", "[static]") {
  CHECK(statics::coding_quality("gzip, deflate, br", "br") == 1);
  CHECK(statics::coding_quality("gzip;q=0.5, br;q=0.8", "gzip") == Approx(0.5));
  CHECK(statics::coding_quality("br;q=0", "br") == 0);
  CHECK(statics::coding_quality("BR; Q=0.25", "br") == Approx(0.25));
  CHECK(statics::coding_quality("x-gzip", "gzip") == 1);
  CHECK(statics::coding_quality("*", "br") == 1);
  CHECK(statics::coding_quality("*;q=0.1, br;q=0", "br") == 0);
  CHECK(statics::coding_quality("*;q=0.1", "gzip") == Approx(0.1));
  CHECK(statics::coding_quality("identity", "gzip") == 0);
  CHECK(statics::coding_quality("", "gzip") == 0);
  CHECK(statics::coding_quality("br;q=2", "br") == 0);  // not a qvalue
}

// --- An in-memory Exchange ---------------------------------------------------------------------

// Records what the app answers. async_send_file either refuses (errc::unsupported, as TLS and
// HTTP/2 do) or copies the bytes out of the descriptor, as sendfile(2) would send them.
class FakeExchange final : public gateway::Exchange {
 public:
  FakeExchange(asio::io_context& io, RequestHead head, bool can_send_file)
      : io_(io), head_(std::move(head)), can_send_file_(can_send_file) {}

  const RequestHead& request() const noexcept override { return head_; }
  asio::any_io_executor executor() const override { return io_.get_executor(); }
  void async_read_body(std::span<char>, ReadHandler handler) override {
    asio::post(io_, [h = std::move(handler)] { h(gateway::errc::end_of_body, 0); });
  }
  void start(gateway::ResponseHead head) override {
    ++starts;
    response = std::move(head);
  }
  void async_write(gateway::BodyPiece chunk, bool last, Handler handler) override {
    if (in_flight > 0) ++overlapping;  // a write before the previous one was accepted
    ++writes;
    largest_write = std::max(largest_write, chunk.size());
    if (gone) return complete(std::move(handler), gateway::errc::client_gone);
    body += chunk.view();
    ended = ended || last;
    if (gone_after_writes && writes >= gone_after_writes) gone = true;
    complete(std::move(handler), {});
  }
  void async_send_file(int fd, std::uint64_t offset, std::uint64_t count, bool last,
                       Handler handler) override {
    if (!can_send_file_) return complete(std::move(handler), gateway::errc::unsupported);
    ++send_files;
    std::string bytes(count, '\0');
    auto n = ::pread(fd, bytes.data(), count, static_cast<off_t>(offset));
    bytes.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    body += bytes;
    ended = ended || last;
    complete(std::move(handler), {});
  }
  void async_finish(Headers, Handler handler) override {
    ++finishes;
    ended = true;
    complete(std::move(handler), {});
  }
  void abort() override { aborted = true; }
  void on_client_gone(std::function<void()>) override {}

  std::optional<std::string> field(std::string_view name) const {
    return statics::field_value(response.headers, name);
  }

  gateway::ResponseHead response;
  std::string body;
  int starts = 0, writes = 0, send_files = 0, finishes = 0, overlapping = 0;
  std::size_t largest_write = 0;
  bool ended = false, aborted = false, gone = false;
  int gone_after_writes = 0;  // the client leaves once this many writes went out (0: never)

 private:
  void complete(Handler handler, gateway::error_code ec) {
    if (!handler) return;
    ++in_flight;
    asio::post(io_, [this, h = std::move(handler), ec] {
      --in_flight;
      h(ec);
    });
  }

  asio::io_context& io_;
  RequestHead head_;
  bool can_send_file_;
  int in_flight = 0;
};

int open_descriptors() {
  int n = 0;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (::readdir(dir)) ++n;
    ::closedir(dir);
  }
  return n;
}

void write_file(const fs::path& path, std::string_view content) {
  std::ofstream(path, std::ios::binary) << content;
}

std::string random_bytes(std::size_t n) {
  std::mt19937 gen(42);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(gen());
  return s;
}

// A directory tree with something to serve and something to steal, removed at the end:
//   TMP/secret.txt            outside the root
//   TMP/root/hello.txt        "hello world\n"
//   TMP/root/sub/page.html, sub/index.html, dir/a.txt (no index), empty.txt, fifo
//   TMP/root/app.js (+ .br, .gz), plain.css (no siblings), odd.txt (+ odd.txt.br a directory)
//   symlinks: link_in -> hello.txt, link_abs_in -> TMP/root/hello.txt, link_out -> /etc,
//             link_passwd -> /etc/passwd, link_up -> .., link_secret -> ../secret.txt,
//             leak.txt.gz -> ../secret.txt (a sibling outside the root)
class Tree {
 public:
  Tree() {
    char pattern[] = "/tmp/junction-static-XXXXXX";
    if (!::mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
    base = pattern;
    root = base / "root";
    fs::create_directories(root / "sub");
    fs::create_directories(root / "dir");
    fs::create_directories(root / "odd.txt.br");
    write_file(base / "secret.txt", "secret\n");
    write_file(root / "hello.txt", "hello world\n");
    write_file(root / "index.html", "<h1>home</h1>\n");
    write_file(root / "sub/page.html", "<p>page</p>\n");
    write_file(root / "sub/index.html", "<p>sub index</p>\n");
    write_file(root / "dir/a.txt", "a\n");
    write_file(root / "empty.txt", "");
    write_file(root / "app.js", "console.log('identity identity identity');\n");
    write_file(root / "app.js.br", "BROTLI-BYTES");
    write_file(root / "app.js.gz", "GZIP-BYTES!");
    write_file(root / "plain.css", "body{}\n");
    write_file(root / "odd.txt", "odd\n");
    write_file(root / "leak.txt", "leak\n");
    ::mkfifo((root / "fifo").c_str(), 0644);
    fs::create_symlink("hello.txt", root / "link_in");
    fs::create_symlink(root / "hello.txt", root / "link_abs_in");
    fs::create_symlink("/etc", root / "link_out");
    fs::create_symlink("/etc/passwd", root / "link_passwd");
    fs::create_symlink("..", root / "link_up");
    fs::create_symlink("../secret.txt", root / "link_secret");
    fs::create_symlink("../secret.txt", root / "leak.txt.gz");
  }
  ~Tree() {
    std::error_code ec;
    fs::remove_all(base, ec);
  }

  fs::path base, root;
};

struct Server {
  explicit Server(const Tree& tree, std::string prefix = "/s", std::string index = {},
                  std::optional<std::uint64_t> max_age = {})
      : app(StaticMount{std::move(prefix), tree.root.string()}, std::move(index), max_age) {}

  // Runs one request to its end; `can_send_file` picks the transport.
  std::shared_ptr<FakeExchange> get(std::string path, Headers headers = {},
                                    std::string method = "GET", bool can_send_file = false,
                                    int gone_after_writes = 0) {
    RequestHead head;
    head.method = std::move(method);
    auto query = path.find('?');
    if (query != std::string::npos) {
      head.query = path.substr(query + 1);
      path.resize(query);
    }
    head.target = head.path = path;
    head.headers = std::move(headers);
    asio::io_context io;
    auto exchange = std::make_shared<FakeExchange>(io, std::move(head), can_send_file);
    exchange->gone_after_writes = gone_after_writes;
    app.handle(exchange);
    io.run();
    return exchange;
  }
  int status(std::string path, Headers headers = {}) {
    return get(std::move(path), std::move(headers))->response.status;
  }

  StaticFiles app;
};

// --- Answers -----------------------------------------------------------------------------------

TEST_CASE("StaticFiles: a file, with its type, length and validators", "[static]") {
  Tree tree;
  Server server(tree);
  auto e = server.get("/s/hello.txt?v=3");
  CHECK(e->response.status == 200);
  CHECK(e->body == "hello world\n");
  CHECK(e->ended);
  CHECK(e->field("Content-Type") == "text/plain; charset=utf-8");
  CHECK(e->field("Content-Length") == "12");
  CHECK(e->field("Accept-Ranges") == "bytes");
  struct stat st {};
  REQUIRE(::stat((tree.root / "hello.txt").c_str(), &st) == 0);
  auto ns = std::int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  CHECK(e->field("ETag") == statics::make_etag(12, ns));
  CHECK(e->field("Last-Modified") == statics::format_http_date(st.st_mtim.tv_sec));
  CHECK_FALSE(e->field("Cache-Control"));
  CHECK_FALSE(e->field("Vary"));
  CHECK_FALSE(e->field("Content-Encoding"));
  CHECK(e->writes == 1);  // a small file leaves in one write with its head
}

TEST_CASE("StaticFiles: HEAD tells the length and sends nothing", "[static]") {
  Tree tree;
  Server server(tree);
  auto e = server.get("/s/hello.txt", {{"Range", "bytes=0-1"}}, "HEAD");
  CHECK(e->response.status == 200);  // RFC 9110 §14.2: ranges are for GET only
  CHECK(e->field("Content-Length") == "12");
  CHECK(e->body.empty());
  CHECK(e->finishes == 1);
  CHECK(e->writes == 0);
}

TEST_CASE("StaticFiles: methods other than GET and HEAD get 405 with Allow", "[static]") {
  Tree tree;
  Server server(tree);
  for (auto method : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"}) {
    auto e = server.get("/s/hello.txt", {}, method);
    CHECK(e->response.status == 405);
    CHECK(e->field("Allow") == "GET, HEAD");
  }
}

TEST_CASE("StaticFiles: If-None-Match and If-Modified-Since give 304", "[static]") {
  Tree tree;
  Server server(tree, "/s", {}, 600);
  auto first = server.get("/s/hello.txt");
  auto etag = *first->field("ETag");
  auto modified = *first->field("Last-Modified");
  auto e = server.get("/s/hello.txt", {{"If-None-Match", etag}});
  CHECK(e->response.status == 304);
  CHECK(e->body.empty());
  CHECK(e->field("ETag") == etag);
  CHECK(e->field("Last-Modified") == modified);
  CHECK(e->field("Cache-Control") == "public, max-age=600");
  CHECK_FALSE(e->field("Content-Length"));
  CHECK(e->ended);
  CHECK(server.status("/s/hello.txt", {{"If-None-Match", "\"nope\", W/" + etag}}) == 304);
  CHECK(server.status("/s/hello.txt", {{"If-None-Match", "\"a\""}, {"If-None-Match", etag}}) ==
        304);
  CHECK(server.status("/s/hello.txt", {{"If-None-Match", "*"}}) == 304);
  CHECK(server.status("/s/hello.txt", {{"If-None-Match", "\"other\""}}) == 200);
  CHECK(server.status("/s/hello.txt", {{"If-Modified-Since", modified}}) == 304);
  CHECK(server.status("/s/hello.txt", {{"If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"}}) ==
        200);
  CHECK(server.status("/s/hello.txt", {{"If-Modified-Since", "not a date"}}) == 200);
  // §13.1.3: If-None-Match present, If-Modified-Since is not looked at.
  CHECK(server.status("/s/hello.txt", {{"If-None-Match", "\"other\""},
                                       {"If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT"}}) ==
        200);
  CHECK(server.get("/s/hello.txt")->field("Cache-Control") == "public, max-age=600");
}

TEST_CASE("StaticFiles: If-Match and If-Unmodified-Since give 412", "[static]") {
  Tree tree;
  Server server(tree);
  auto etag = *server.get("/s/hello.txt")->field("ETag");
  CHECK(server.status("/s/hello.txt", {{"If-Match", "\"other\""}}) == 412);
  CHECK(server.status("/s/hello.txt", {{"If-Match", etag}}) == 200);
  CHECK(server.status("/s/hello.txt", {{"If-Match", "W/" + etag}}) == 412);  // strong only
  CHECK(server.status("/s/hello.txt", {{"If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"}}) ==
        412);
  CHECK(server.status("/s/hello.txt", {{"If-Unmodified-Since", "Fri, 01 Jan 2100 00:00:00 GMT"}}) ==
        200);
}

TEST_CASE("StaticFiles: one range gives 206, an unsatisfiable one 416", "[static]") {
  Tree tree;
  Server server(tree);
  auto e = server.get("/s/hello.txt", {{"Range", "bytes=0-4"}});
  CHECK(e->response.status == 206);
  CHECK(e->body == "hello");
  CHECK(e->field("Content-Range") == "bytes 0-4/12");
  CHECK(e->field("Content-Length") == "5");
  e = server.get("/s/hello.txt", {{"Range", "bytes=6-"}});
  CHECK(e->body == "world\n");
  CHECK(e->field("Content-Range") == "bytes 6-11/12");
  e = server.get("/s/hello.txt", {{"Range", "bytes=-3"}});
  CHECK(e->body == "ld\n");
  e = server.get("/s/hello.txt", {{"Range", "bytes=12-"}});
  CHECK(e->response.status == 416);
  CHECK(e->field("Content-Range") == "bytes */12");
  e = server.get("/s/hello.txt", {{"Range", "bytes=0-1, 3-4"}});
  CHECK(e->response.status == 200);
  CHECK(e->body == "hello world\n");
  CHECK(server.status("/s/hello.txt", {{"Range", "bytes=0-1"}, {"Range", "bytes=3-4"}}) == 200);
  CHECK(server.status("/s/empty.txt", {{"Range", "bytes=0-"}}) == 200);
}

TEST_CASE("StaticFiles: If-Range lets the range through only for the current file", "[static]") {
  Tree tree;
  Server server(tree);
  auto first = server.get("/s/hello.txt");
  auto etag = *first->field("ETag");
  auto modified = *first->field("Last-Modified");
  Headers range{{"Range", "bytes=0-4"}};
  auto with = [&](std::string if_range) {
    Headers h = range;
    h.emplace_back("If-Range", std::move(if_range));
    return server.status("/s/hello.txt", h);
  };
  CHECK(with(etag) == 206);
  CHECK(with(modified) == 206);
  CHECK(with("\"stale\"") == 200);
  CHECK(with("W/" + etag) == 200);  // §13.1.5: weak tags never match
  CHECK(with("Sun, 06 Nov 1994 08:49:37 GMT") == 200);
  CHECK(with("garbage") == 200);
  // An If-Range that fails also spares an unsatisfiable range its 416.
  CHECK(server.status("/s/hello.txt", {{"Range", "bytes=99-"}, {"If-Range", "\"stale\""}}) == 200);
}

TEST_CASE("StaticFiles: an empty file", "[static]") {
  Tree tree;
  Server server(tree);
  auto e = server.get("/s/empty.txt");
  CHECK(e->response.status == 200);
  CHECK(e->field("Content-Length") == "0");
  CHECK(e->body.empty());
  CHECK(e->ended);
}

TEST_CASE("StaticFiles: precompressed siblings by Accept-Encoding", "[static]") {
  Tree tree;
  Server server(tree);
  auto e = server.get("/s/app.js", {{"Accept-Encoding", "gzip, deflate, br"}});
  CHECK(e->response.status == 200);
  CHECK(e->body == "BROTLI-BYTES");
  CHECK(e->field("Content-Encoding") == "br");
  CHECK(e->field("Content-Type") == "text/javascript; charset=utf-8");
  CHECK(e->field("Content-Length") == "12");
  CHECK(e->field("Vary") == "Accept-Encoding");
  auto br_tag = *e->field("ETag");
  CHECK(br_tag.ends_with("-br\""));

  e = server.get("/s/app.js", {{"Accept-Encoding", "gzip"}});
  CHECK(e->body == "GZIP-BYTES!");
  CHECK(e->field("Content-Encoding") == "gzip");
  CHECK(e->field("Vary") == "Accept-Encoding");
  CHECK(server.get("/s/app.js", {{"Accept-Encoding", "br;q=0.5, gzip"}})->body == "GZIP-BYTES!");
  CHECK(server.get("/s/app.js", {{"Accept-Encoding", "br, gzip;q=0.9"}})->body == "BROTLI-BYTES");

  for (Headers plain : {Headers{}, Headers{{"Accept-Encoding", "identity"}},
                        Headers{{"Accept-Encoding", "gzip;q=0, br;q=0"}}}) {
    e = server.get("/s/app.js", plain);
    CHECK(e->body.starts_with("console.log"));
    CHECK_FALSE(e->field("Content-Encoding"));
    // A sibling exists: caches must keep apart what Accept-Encoding chose. Without the field
    // nothing is looked for, and the plain file, good for every client, says no Vary.
    if (plain.empty())
      CHECK_FALSE(e->field("Vary"));
    else
      CHECK(e->field("Vary") == "Accept-Encoding");
    CHECK(*e->field("ETag") != br_tag);
  }
  // A range, and a conditional request, apply to the representation chosen.
  e = server.get("/s/app.js", {{"Accept-Encoding", "br"}, {"Range", "bytes=0-5"}});
  CHECK(e->response.status == 206);
  CHECK(e->body == "BROTLI");
  CHECK(e->field("Content-Range") == "bytes 0-5/12");
  e = server.get("/s/app.js", {{"Accept-Encoding", "br"}, {"If-None-Match", br_tag}});
  CHECK(e->response.status == 304);
  CHECK(e->field("Vary") == "Accept-Encoding");
  CHECK(server.status("/s/app.js", {{"Accept-Encoding", "gzip"}, {"If-None-Match", br_tag}}) ==
        200);

  // No sibling: no Vary; a sibling that is a directory, or a link out of the root, is none.
  e = server.get("/s/plain.css", {{"Accept-Encoding", "br, gzip"}});
  CHECK_FALSE(e->field("Vary"));
  CHECK_FALSE(e->field("Content-Encoding"));
  e = server.get("/s/odd.txt", {{"Accept-Encoding", "br"}});
  CHECK(e->body == "odd\n");
  CHECK_FALSE(e->field("Vary"));
  e = server.get("/s/leak.txt", {{"Accept-Encoding", "gzip"}});
  CHECK(e->body == "leak\n");
  CHECK_FALSE(e->field("Content-Encoding"));
}

TEST_CASE("StaticFiles: directories and the index file", "[static]") {
  Tree tree;
  SECTION("without an index, directories are 404") {
    Server server(tree);
    for (auto path : {"/s", "/s/", "/s/sub", "/s/sub/", "/s/dir/"})
      CHECK(server.status(path) == 404);
  }
  SECTION("with an index, DIR/ serves DIR/index and DIR redirects to DIR/") {
    Server server(tree, "/s", "index.html");
    auto e = server.get("/s/sub/");
    CHECK(e->response.status == 200);
    CHECK(e->body == "<p>sub index</p>\n");
    CHECK(e->field("Content-Type") == "text/html; charset=utf-8");
    CHECK(server.get("/s/")->body == "<h1>home</h1>\n");
    e = server.get("/s/sub?x=1");
    CHECK(e->response.status == 301);
    CHECK(e->field("Location") == "/s/sub/?x=1");
    CHECK(server.get("/s")->field("Location") == "/s/");
    CHECK(server.status("/s/dir/") == 404);  // no index.html in it
    CHECK(server.status("/s/hello.txt/") == 404);
  }
  SECTION("mounted at the root") {
    Server server(tree, "/", "index.html");
    CHECK(server.get("/")->body == "<h1>home</h1>\n");
    CHECK(server.get("/hello.txt")->body == "hello world\n");
    CHECK(server.status("/../secret.txt") == 404);
  }
}

// Each vector is sent as the raw, still-encoded path; nothing outside the root may come back.
TEST_CASE("StaticFiles: traversal attempts and odd names", "[static]") {
  Tree tree;
  Server server(tree, "/s", "index.html");
  struct Vector {
    const char* path;
    int status;
  };
  const Vector vectors[] = {
      {"/s/../secret.txt", 404},
      {"/s/%2e%2e/secret.txt", 404},
      {"/s/%2E%2E/secret.txt", 404},
      {"/s/..%2fsecret.txt", 404},
      {"/s/%2e%2e%2fsecret.txt", 404},
      {"/s/sub/%2e%2e/%2e%2e/secret.txt", 404},
      {"/s/sub/../../secret.txt", 404},
      {"/s/hello.txt%00.html", 404},
      {"/s/..\\secret.txt", 404},
      {"/s/%5c..%5csecret.txt", 404},
      {"/s/..%5csecret.txt", 404},
      {"/s/link_out/passwd", 404},
      {"/s/link_passwd", 404},
      {"/s/link_up/secret.txt", 404},
      {"/s/link_secret", 404},
      {"/s/link_in", 200},
      {"/s/link_abs_in", 200},
      {"/s//etc/passwd", 404},
      {"/s/./hello.txt", 404},
      {"/s/%2e/hello.txt", 404},
      {"/s/sub/./page.html", 404},
      {"/s/sub//page.html", 404},
      {"/s/sub%2fpage.html", 404},
      {"/s/hello.txt%2f", 404},
      {"/s/hello.txt%", 404},
      {"/s/hello.txt%zz", 404},
      {"/s/..", 404},
      {"/s/%2e%2e", 404},
      {"/s/%0d%0aSet-Cookie:x", 404},
      {"/s/fifo", 404},
      {"/s/missing.txt", 404},
      {"/s/dir", 301},  // a directory: to "/s/dir/", which has no index
      {"/s/hello%2etxt", 200},
      {"/s/%68ello.txt", 200},
      {"/s/sub/page.html", 200},
      {"/sx/hello.txt", 404},
  };
  for (const auto& v : vectors) {
    INFO(v.path);
    auto e = server.get(v.path);
    CHECK(e->response.status == v.status);
    CHECK(e->body.find("secret") == std::string::npos);
    CHECK(e->body.find("root:") == std::string::npos);
    if (v.status == 200) CHECK_FALSE(e->body.empty());
  }
}

TEST_CASE("StaticFiles: the realpath way judges links as openat2 does", "[static]") {
  Tree tree;
  int root_fd = ::open(tree.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(root_fd >= 0);
  for (bool realpath_only : {false, true}) {
    INFO("realpath_only " << realpath_only);
    auto open = [&](const std::string& relative) {
      int fd = statics::open_beneath(root_fd, tree.root.string(), relative, realpath_only);
      if (fd >= 0) ::close(fd);
      return fd >= 0 ? 0 : -fd;
    };
    CHECK(open("hello.txt") == 0);
    CHECK(open("") == 0);
    CHECK(open("sub/page.html") == 0);
    CHECK(open("link_in") == 0);
    CHECK(open("link_abs_in") == 0);
    CHECK(open("missing") == ENOENT);
    CHECK(open("link_out/passwd") != 0);
    CHECK(open("link_passwd") != 0);
    CHECK(open("link_up/secret.txt") != 0);
    CHECK(open("link_secret") != 0);
    CHECK(open("hello.txt/x") == ENOTDIR);
  }
  ::close(root_fd);
}

TEST_CASE("StaticFiles: refuses a directory it cannot serve at start-up", "[static]") {
  Tree tree;
  auto make = [&](std::string directory, std::string index = {}) {
    StaticFiles app(StaticMount{"/s", std::move(directory)}, std::move(index), std::nullopt);
  };
  CHECK_THROWS_WITH(make((tree.base / "nope").string()),
                    Catch::Contains("--static /s=") && Catch::Contains("No such file"));
  CHECK_THROWS_WITH(make((tree.root / "hello.txt").string()), Catch::Contains("not a directory"));
  CHECK_THROWS_WITH(make(""), Catch::Contains("no directory"));
  CHECK_THROWS_WITH(make(tree.root.string(), "../index.html"), Catch::Contains("--static-index"));
  CHECK_THROWS_WITH(make(tree.root.string(), ".."), Catch::Contains("--static-index"));
  CHECK_NOTHROW(make(tree.root.string() + "/", "index.html"));
  StaticFiles app(StaticMount{"/s", (tree.root / "sub" / "..").string()}, "", std::nullopt);
  CHECK(app.root() == fs::canonical(tree.root).string());
}

// --- The body --------------------------------------------------------------------------------

TEST_CASE("StaticFiles: a large file in bounded pieces, one write at a time", "[static]") {
  Tree tree;
  auto content = random_bytes(3 * StaticFiles::kChunkSize + 12345);
  write_file(tree.root / "big.bin", content);
  Server server(tree);
  auto before = open_descriptors();
  SECTION("TLS and HTTP/2: sendfile refused, pread pieces") {
    auto e = server.get("/s/big.bin");
    CHECK(e->response.status == 200);
    CHECK(e->field("Content-Type") == "application/octet-stream");
    CHECK(e->field("Content-Length") == std::to_string(content.size()));
    CHECK(e->body == content);
    CHECK(e->ended);
    CHECK(e->send_files == 0);
    CHECK(e->writes == 4);
    CHECK(e->largest_write == StaticFiles::kChunkSize);
    CHECK(e->overlapping == 0);
  }
  SECTION("plain HTTP/1.1: one sendfile") {
    auto e = server.get("/s/big.bin", {}, "GET", true);
    CHECK(e->body == content);
    CHECK(e->send_files == 1);
    CHECK(e->writes == 0);
    CHECK(e->ended);
  }
  SECTION("a range from the middle, both ways") {
    for (bool can_send_file : {false, true}) {
      auto e = server.get("/s/big.bin", {{"Range", "bytes=100000-700000"}}, "GET", can_send_file);
      CHECK(e->response.status == 206);
      CHECK(e->body == content.substr(100000, 600001));
    }
  }
  SECTION("a client that goes away stops the pieces") {
    auto e = server.get("/s/big.bin", {}, "GET", false, 1);
    CHECK(e->writes == 2);  // the one that found the client gone, then nothing
    CHECK(e->body.size() == StaticFiles::kChunkSize);
    CHECK_FALSE(e->aborted);
  }
  SECTION("a small file is read at once even where sendfile works") {
    auto e = server.get("/s/hello.txt", {}, "GET", true);
    CHECK(e->send_files == 0);
    CHECK(e->writes == 1);
    CHECK(e->body == "hello world\n");
  }
  CHECK(open_descriptors() == before);  // every file closed once its response is done
}

TEST_CASE("StaticFiles: over a real HTTP/1.1 connection the body is framed by length", "[static]") {
  Tree tree;
  auto content = random_bytes(StaticFiles::kChunkSize + 1000);
  write_file(tree.root / "big.bin", content);
  ConnectionHarness h;
  h.router.mount_static(
      "/s", std::make_shared<StaticFiles>(StaticMount{"/s", tree.root.string()}, "", std::nullopt));
  h.start();
  h.head_responses = {1};
  h.peer->send(
      "GET /s/big.bin HTTP/1.1\r\nHost: t\r\n\r\n"
      "HEAD /s/hello.txt HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET /s/hello.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=0-4\r\n\r\n"
      "GET /s/missing HTTP/1.1\r\nHost: t\r\n\r\n");
  REQUIRE(h.run_until_responses(4));
  auto parsed = h.responses();
  REQUIRE(parsed.responses.size() == 4);
  const auto& big = parsed.responses[0];
  CHECK(big.status == 200);
  CHECK_FALSE(big.chunked);
  CHECK(big.field("Content-Length") == std::to_string(content.size()));
  CHECK(big.body == content);
  CHECK(parsed.responses[1].status == 200);
  CHECK(parsed.responses[1].field("Content-Length") == "12");
  CHECK(parsed.responses[1].body.empty());
  CHECK(parsed.responses[2].status == 206);
  CHECK(parsed.responses[2].body == "hello");
  CHECK(parsed.responses[3].status == 404);
}

}  // namespace
}  // namespace junction::test
