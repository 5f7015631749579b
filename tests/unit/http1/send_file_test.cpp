// Exchange::async_send_file on HTTP/1.1: refused (errc::unsupported) on a stream without a
// socket, and zero-copy over a real TCP connection on 127.0.0.1, where a raw client checks the
// bytes of each framing, HEAD, offsets, files shorter than promised, and clients that stall
// or leave.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gateway/errors.hpp"
#include "support/connection_harness.hpp"
#include "support/wire.hpp"

namespace junction::http1 {
namespace {

using namespace junction::gateway;

using namespace std::chrono_literals;
using test::describe;
using test::without_dates;

using Socket = asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type>;
using TcpConnection = Connection<Socket>;

static_assert(TcpConnection::kCanSendFile);
static_assert(!Connection<test::MemoryStream>::kCanSendFile);

// Bytes that differ from their neighbours, so an offset or a reordering shows.
std::string pattern(std::size_t size) {
  std::string bytes(size, '\0');
  std::uint32_t x = 12345;
  for (auto& c : bytes) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>(x >> 16);
  }
  return bytes;
}

// An unlinked temporary file holding `content`, open for reading.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/junction-sendfile-XXXXXX";
    fd_ = ::mkstemp(name);
    if (fd_ < 0) throw std::runtime_error("mkstemp failed");
    ::unlink(name);
    for (std::size_t at = 0; at < content.size();) {
      auto n = ::write(fd_, content.data() + at, content.size() - at);
      if (n <= 0) throw std::runtime_error("write failed");
      at += static_cast<std::size_t>(n);
    }
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() { ::close(fd_); }
  int fd() const noexcept { return fd_; }

 private:
  int fd_ = -1;
};

// One step of a scripted response body.
struct Step {
  enum class Kind { write, file, finish };
  Kind kind = Kind::finish;
  std::string data;  // write
  std::uint64_t offset = 0;
  std::uint64_t count = 0;
  bool last = false;
};
Step write_step(std::string data, bool last = false) {
  return {Step::Kind::write, std::move(data), 0, 0, last};
}
Step file_step(std::uint64_t offset, std::uint64_t count, bool last = false) {
  return {Step::Kind::file, {}, offset, count, last};
}
Step finish_step() {
  return {};
}

// Answers every request with `head` and the steps, each after the previous one's handler (or
// all at once when `wait` is false), and aborts on the first error, as a bridge would. Records
// every handler's outcome; they run on the I/O thread, the test reads them from its own.
class ScriptApp final : public App {
 public:
  ScriptApp(int fd, ResponseHead head, std::vector<Step> steps, bool wait = true)
      : fd_(fd), head_(std::move(head)), steps_(std::move(steps)), wait_(wait) {}

  void handle(std::shared_ptr<Exchange> exchange) override {
    exchange->start(head_);
    if (wait_) return next(std::move(exchange), 0);
    for (const auto& step : steps_)
      issue(*exchange, step, [this, exchange](error_code ec) { record(ec); });
  }

  // Waits until `n` handlers have run; returns their outcomes.
  std::vector<error_code> results(std::size_t n, std::chrono::milliseconds limit = 5s) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, limit, [&] { return results_.size() >= n; });
    return results_;
  }
  std::size_t completed() {
    std::lock_guard lock(mutex_);
    return results_.size();
  }

 private:
  void next(std::shared_ptr<Exchange> exchange, std::size_t i) {
    if (i == steps_.size()) return;
    auto& e = *exchange;
    issue(e, steps_[i], [this, exchange = std::move(exchange), i](error_code ec) mutable {
      record(ec);
      if (ec) return exchange->abort();
      next(std::move(exchange), i + 1);
    });
  }

  void issue(Exchange& exchange, const Step& step, Exchange::Handler handler) {
    switch (step.kind) {
      case Step::Kind::write:
        return exchange.async_write(step.data, step.last, std::move(handler));
      case Step::Kind::file:
        return exchange.async_send_file(fd_, step.offset, step.count, step.last,
                                        std::move(handler));
      case Step::Kind::finish:
        return exchange.async_finish({}, std::move(handler));
    }
  }

  void record(error_code ec) {
    std::lock_guard lock(mutex_);
    results_.push_back(ec);
    changed_.notify_all();
  }

  int fd_;
  ResponseHead head_;
  std::vector<Step> steps_;
  bool wait_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<error_code> results_;
};

const Headers kType{{"Content-Type", "application/octet-stream"}};

// A 200 response of type application/octet-stream (plus `fields`) whose body is `steps`.
std::shared_ptr<ScriptApp> file_app(int fd, std::vector<Step> steps, Headers fields = {},
                                    bool wait = true) {
  fields.insert(fields.begin(), kType.begin(), kType.end());
  return std::make_shared<ScriptApp>(fd, ResponseHead{200, std::move(fields)}, std::move(steps),
                                     wait);
}

// The head a ScriptApp's response carries, its Date blanked as by without_dates().
std::string head_with(const std::string& framing) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nDate: (date)\r\n"
         "Server: junction\r\n" +
         framing + "\r\n";
}
std::string length_head(std::uint64_t length) {
  return head_with("Content-Length: " + std::to_string(length) + "\r\n");
}
const std::string kChunkedHead = head_with("Transfer-Encoding: chunked\r\n");

std::string chunk(const std::string& data) {
  if (data.empty()) return {};
  return fmt::format("{:x}\r\n", data.size()) + data + "\r\n";
}

// One Http1Connection on the accepted end of a TCP connection over loopback, run by an I/O
// thread as the server runs it; the test holds the client end as a raw blocking socket.
class TcpFixture {
 public:
  // As in main(): sendfile(2) to a reset peer raises SIGPIPE (it has no MSG_NOSIGNAL).
  TcpFixture() { std::signal(SIGPIPE, SIG_IGN); }
  TcpFixture(const TcpFixture&) = delete;
  TcpFixture& operator=(const TcpFixture&) = delete;

  // Closes the client and stops the connection (terminate, as at server shutdown).
  ~TcpFixture() {
    close_client();
    if (connection_) asio::post(io_, [c = connection_] { c->terminate(); });
    if (thread_.joinable()) thread_.join();
  }

  // Serves `app` at /f; small socket buffers make a large file fill the socket at once.
  void serve(std::shared_ptr<App> app, bool small_buffers = true) {
    router.mount("/f", std::move(app));
    if (small_buffers) return start(16 * 1024, 16 * 1024);
    start();
  }

  // Small buffers (bytes; 0 keeps the default) make a large file fill the socket.
  void start(int client_receive_buffer = 0, int server_send_buffer = 0) {
    asio::ip::tcp::acceptor acceptor(io_, {asio::ip::make_address("127.0.0.1"), 0});
    client_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(client_ >= 0);
    if (client_receive_buffer > 0)
      ::setsockopt(client_, SOL_SOCKET, SO_RCVBUF, &client_receive_buffer,
                   sizeof client_receive_buffer);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(acceptor.local_endpoint().port());
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(client_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    Socket socket(io_.get_executor());
    acceptor.accept(socket);
    socket.set_option(asio::ip::tcp::no_delay(true));
    if (server_send_buffer > 0)
      socket.set_option(asio::socket_base::send_buffer_size(server_send_buffer));
    context_.emplace(ConnectionContext{limits, timeouts, router, nullptr});
    connection_ = std::make_shared<TcpConnection>(std::move(socket), *context_,
                                                  Address{"127.0.0.1", 1}, Address{"127.0.0.1", 2});
    asio::co_spawn(io_, connection_->async_run(), [this](std::exception_ptr e, bool) {
      failure_ = e != nullptr;
      finished_ = true;
    });
    thread_ = std::thread([this] { io_.run(); });
  }

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      auto n = ::send(client_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      REQUIRE(n > 0);
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // Reads until `done` holds for what was read, the server closes, or `limit` passes. At most
  // `max_read` bytes per read, `pause` between reads (a slow client).
  std::string read_until(const std::function<bool(const std::string&)>& done,
                         std::chrono::milliseconds limit = 5s, std::size_t max_read = 1 << 16,
                         std::chrono::milliseconds pause = 0ms) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    std::string received;
    std::vector<char> buffer(max_read);
    while (!done(received)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) break;
      pollfd p{client_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      auto n = ::recv(client_, buffer.data(), buffer.size(), 0);
      if (n <= 0) {
        eof_ = true;
        break;
      }
      received.append(buffer.data(), static_cast<std::size_t>(n));
      if (pause > 0ms) std::this_thread::sleep_for(pause);
    }
    return received;
  }

  // Reads `n` whole responses (the ones listed in `heads` answer HEAD).
  std::string read_responses(std::size_t n, const std::vector<std::size_t>& heads = {},
                             std::size_t max_read = 1 << 16,
                             std::chrono::milliseconds pause = 0ms) {
    return read_until(
        [&](const std::string& bytes) {
          auto parsed = test::parse_responses(bytes, heads);
          return parsed.error.empty() && parsed.responses.size() >= n;
        },
        10s, max_read, pause);
  }
  // Reads until the server closes the connection.
  std::string read_to_close() {
    return read_until([](const std::string&) { return false; });
  }

  void close_client() {
    if (client_ >= 0) ::close(client_);
    client_ = -1;
  }

  // Waits (bounded) until the connection coroutine has returned.
  bool wait_finished(std::chrono::milliseconds limit = 5s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!finished_ && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(5ms);
    return finished_;
  }

  bool eof() const noexcept { return eof_; }
  bool failure() const noexcept { return failure_; }

  Limits limits;
  Timeouts timeouts;
  Router router;

 private:
  asio::io_context io_;
  std::optional<ConnectionContext> context_;
  std::shared_ptr<TcpConnection> connection_;
  std::thread thread_;
  int client_ = -1;
  bool eof_ = false;
  std::atomic<bool> finished_{false};
  std::atomic<bool> failure_{false};
};

const std::string kGetFile = "GET /f HTTP/1.1\r\nHost: a\r\n\r\n";
const std::string kHead = "HEAD /f HTTP/1.1\r\nHost: a\r\n\r\n";
constexpr std::size_t kBig = (1 << 20) + 4099;  // past any socket buffer: sendfile meets EAGAIN

// ---------------------------------------------------------------------------------------------
// Without a socket

// Tries the file first and, refused, writes the same bytes (as the bridges do).
class FallbackApp final : public App {
 public:
  void handle(std::shared_ptr<Exchange> exchange) override {
    exchange->start({200, kType});
    auto& e = *exchange;
    e.async_send_file(-1, 0, 5, true, [this, exchange](error_code ec) {
      refused = ec;
      exchange->async_write("hello", true, [this](error_code ec2) { written = ec2; });
    });
  }
  std::optional<error_code> refused;
  std::optional<error_code> written;
};

TEST_CASE(
    "Http1Connection send_file: an in-memory stream refuses it, and the response stays usable",
    "[http1_send_file]") {
  test::ConnectionHarness h;
  auto app = std::make_shared<FallbackApp>();
  h.router.mount("/f", app);
  h.start();
  h.peer->send(kGetFile);
  REQUIRE(h.run_until_responses(1));
  REQUIRE(app->refused == errc::unsupported);
  REQUIRE(h.run_until([&] { return app->written.has_value(); }));
  CHECK(*app->written == error_code{});
  // Nothing went out for the refused file: the head carries the fallback's own length.
  CHECK(without_dates(h.peer->output()) == length_head(5) + "hello");
  CHECK_FALSE(h.finished());
}

// ---------------------------------------------------------------------------------------------
// Over TCP

TEST_CASE("Http1Connection send_file: a whole file as the last piece gets Content-Length",
          "[http1_send_file]") {
  auto size = GENERATE(std::size_t{0}, std::size_t{1}, kBig);
  INFO("size " << size);
  auto content = pattern(size);
  TempFile file(content);
  auto app = file_app(file.fd(), {file_step(0, size, true)});
  TcpFixture t;
  t.serve(app);
  auto expected = length_head(size) + content;
  for (std::size_t round = 0; round < 2; ++round) {  // keep-alive: nothing stray after the first
    t.send(kGetFile);
    if (size == kBig) {
      // The client reads nothing yet: the socket fills, and the handler waits for the kernel
      // to take the whole file.
      std::this_thread::sleep_for(200ms);
      CHECK(app->completed() == round);
    }
    auto received = without_dates(t.read_responses(1));
    REQUIRE(received.size() == expected.size());
    REQUIRE(received == expected);
    auto results = app->results(round + 1);
    REQUIRE(results.size() == round + 1);
    CHECK(results.back() == error_code{});
  }
  CHECK_FALSE(t.eof());
}

TEST_CASE("Http1Connection send_file: the app's own Content-Length frames a piece that is not last",
          "[http1_send_file]") {
  auto size = GENERATE(std::size_t{1}, kBig);
  auto content = pattern(size);
  TempFile file(content);
  auto app = file_app(file.fd(), {file_step(0, size), finish_step()},
                      {{"Content-Length", std::to_string(size)}});
  TcpFixture t;
  t.serve(app);
  t.send(kGetFile);
  CHECK(without_dates(t.read_responses(1)) == length_head(size) + content);
  CHECK(app->results(2) == std::vector<error_code>(2));
}

TEST_CASE("Http1Connection send_file: chunked framing around the file, in order",
          "[http1_send_file]") {
  auto size = GENERATE(std::size_t{0}, std::size_t{1}, kBig);
  auto wait = GENERATE(true, false);  // false: every call at once, none waits for its handler
  INFO("size " << size << (wait ? "" : ", not waiting"));
  auto content = pattern(size);
  TempFile file(content);
  auto app = file_app(
      file.fd(),
      {write_step("<"), file_step(0, size), write_step(">"), file_step(0, size), finish_step()}, {},
      wait);
  TcpFixture t;
  t.serve(app);
  t.send(kGetFile + kGetFile);  // pipelined: the second response follows the first's last byte
  auto received = without_dates(t.read_responses(2));
  auto one = kChunkedHead + chunk("<") + chunk(content) + chunk(">") + chunk(content) + "0\r\n\r\n";
  REQUIRE(received.size() == 2 * one.size());
  CHECK(received == one + one);
  CHECK(app->results(10) == std::vector<error_code>(10));
}

TEST_CASE("Http1Connection send_file: HEAD gets the length and no bytes", "[http1_send_file]") {
  auto content = pattern(kBig);
  TempFile file(content);
  auto app = file_app(file.fd(), {file_step(0, kBig, true)});
  TcpFixture t;
  t.serve(app, false);
  t.send(kHead + kGetFile);
  auto received = t.read_responses(2, {0});
  CHECK(without_dates(received) == length_head(kBig) + length_head(kBig) + content);
  CHECK(app->results(2) == std::vector<error_code>(2));
}

TEST_CASE("Http1Connection send_file: a piece from the middle of the file", "[http1_send_file]") {
  auto content = pattern(kBig);
  TempFile file(content);
  std::shared_ptr<ScriptApp> app;
  std::string expected;
  std::size_t handlers = 1;
  SECTION("Content-Length") {
    app = file_app(file.fd(), {file_step(1000, 70000, true)});
    expected = length_head(70000) + content.substr(1000, 70000);
  }
  SECTION("chunked, up to the end of the file") {
    app = file_app(file.fd(), {file_step(kBig - 10, 10), file_step(3, 5), finish_step()});
    expected =
        kChunkedHead + chunk(content.substr(kBig - 10)) + chunk(content.substr(3, 5)) + "0\r\n\r\n";
    handlers = 3;
  }
  TcpFixture t;
  t.serve(app, false);
  t.send(kGetFile);
  CHECK(without_dates(t.read_responses(1)) == expected);
  CHECK(app->results(handlers) == std::vector<error_code>(handlers));
}

TEST_CASE("Http1Connection send_file: a file shorter than its count cuts the response",
          "[http1_send_file]") {
  auto size = GENERATE(std::size_t{10}, kBig);
  INFO("size " << size);
  auto content = pattern(size);
  TempFile file(content);
  std::shared_ptr<ScriptApp> app;
  std::string expected;
  std::size_t handlers = 1;  // that run: the script stops at the failed piece
  SECTION("Content-Length from a last piece") {
    app = file_app(file.fd(), {file_step(0, size + 100, true)});
    expected = length_head(size + 100) + content;
  }
  SECTION("chunked") {
    app = file_app(file.fd(),
                   {write_step("<"), file_step(0, size + 100), write_step(">"), finish_step()});
    expected = kChunkedHead + chunk("<") + fmt::format("{:x}\r\n", size + 100) + content;
    handlers = 2;
  }
  SECTION("an offset past the end") {
    app = file_app(file.fd(), {file_step(size + 5, 10, true)});
    expected = length_head(10);
  }
  TcpFixture t;
  t.serve(app);
  t.send(kGetFile + kGetFile);  // the second request is never answered: the connection is cut
  auto received = without_dates(t.read_to_close());
  CHECK(t.eof());
  REQUIRE(received.size() == expected.size());
  CHECK(received == expected);
  auto results = app->results(handlers);
  REQUIRE(results.size() == handlers);
  CHECK(results.back() == errc::length_mismatch);
  CHECK(t.wait_finished());
  CHECK_FALSE(t.failure());
}

TEST_CASE("Http1Connection send_file: the app's mistakes", "[http1_send_file]") {
  auto content = pattern(100);
  TempFile file(content);
  std::shared_ptr<ScriptApp> app;
  std::string expected;
  boost::system::error_condition expected_error;
  SECTION("more than the declared Content-Length: only that much is sent") {
    app = file_app(file.fd(), {file_step(0, 100, true)}, {{"Content-Length", "10"}});
    expected = length_head(10) + content.substr(0, 10);
    expected_error = make_error_code(errc::length_mismatch).default_error_condition();
  }
  SECTION("a descriptor that is not open: the response is cut") {
    app = file_app(-1, {file_step(0, 10, true)});
    expected = length_head(10);
    expected_error = boost::system::errc::bad_file_descriptor;
  }
  TcpFixture t;
  t.serve(app, false);
  t.send(kGetFile);
  // The app hears of its mistake and aborts, which closes the connection.
  CHECK(without_dates(t.read_to_close()) == expected);
  auto results = app->results(1);
  REQUIRE(results.size() == 1);
  CHECK(results[0] == expected_error);
}

TEST_CASE("Http1Connection send_file: clients that leave, stall, or read slowly",
          "[http1_send_file]") {
  auto content = pattern(kBig);
  TempFile file(content);
  auto app = file_app(file.fd(), {file_step(0, content.size(), true)});
  TcpFixture t;
  t.timeouts.send = seconds_d{0.3};
  t.serve(app);
  t.send(kGetFile);
  SECTION("a client that leaves mid-file fails the handler") {
    auto received = t.read_until([](const std::string& bytes) { return bytes.size() > 100000; });
    REQUIRE(received.size() > 100000);
    t.close_client();  // with unread bytes: a reset
    CHECK(app->results(1) == std::vector<error_code>{errc::client_gone});
  }
  SECTION("the send timeout cuts a client that takes nothing") {
    CHECK(app->results(1, 3s) == std::vector<error_code>{errc::client_gone});
  }
  SECTION("a slow client that keeps taking bytes is not cut") {
    // About 1 s in all, well past the send timeout, but never 0.3 s without progress.
    auto started = std::chrono::steady_clock::now();
    auto received = t.read_responses(1, {}, 16 * 1024, 15ms);
    CHECK(std::chrono::steady_clock::now() - started > 300ms);
    CHECK(without_dates(received) == length_head(kBig) + content);
    CHECK(app->results(1) == std::vector<error_code>(1));
    CHECK_FALSE(t.eof());
    t.close_client();
  }
  CHECK(t.wait_finished());
  CHECK_FALSE(t.failure());
}

}  // namespace
}  // namespace junction::http1
