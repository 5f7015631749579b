// WebSocket (RFC 6455) over HTTP/1.1 Upgrade: an Http1Connection on a real TCP socket on
// 127.0.0.1 serves a C++ app that accepts and echoes, and a Beast client (or a raw socket,
// for bytes Beast would not send) talks to it. Every scenario runs in a child process under
// hang_guard: it returns whether it went as expected and prints what did not.
#include "gateway/websocket.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "gateway/errors.hpp"
#include "gateway/exchange.hpp"
#include "support/connection_harness.hpp"
#include "support/hang_guard.hpp"
#include "support/tcp_server.hpp"
#include "support/wire.hpp"

namespace junction::http1 {
namespace {

using namespace junction::gateway;

using namespace std::chrono_literals;
namespace beast = boost::beast;
namespace ws = boost::beast::websocket;
using tcp = asio::ip::tcp;

// --- Scenario plumbing --------------------------------------------------------------------------

// Collects failures inside a child process, where Catch cannot report them.
struct Expect {
  bool ok = true;
  void operator()(bool condition, const char* what, int line) {
    if (condition) return;
    ok = false;
    std::fprintf(stderr, "websocket_test.cpp:%d: expectation failed: %s\n", line, what);
  }
};
#define EXPECT(condition) expect((condition), #condition, __LINE__)

// Runs `scenario` under hang_guard; an exception (a Beast client call that failed) is a failure.
bool guarded(const std::function<bool()>& scenario, std::chrono::milliseconds limit = 10s) {
  auto outcome = test::run_guarded(
      [&] {
        std::signal(SIGPIPE, SIG_IGN);
        try {
          return scenario();
        } catch (const std::exception& e) {
          std::fprintf(stderr, "websocket_test.cpp: scenario threw: %s\n", e.what());
          return false;
        }
      },
      limit);
  INFO("scenario " << test::to_string(outcome));
  return outcome == test::Outcome::passed;
}

// --- The server's app ---------------------------------------------------------------------------

// How the app's WebSocket ended, as it saw it; filled on the I/O thread, read by the test's.
struct Ending {
  std::mutex mutex;
  std::condition_variable changed;
  bool ended = false;
  std::uint16_t code = 0;
  std::string reason;
  error_code accept_error;
  bool accept_failed = false;

  void end(std::uint16_t c, std::string r) {
    std::lock_guard lock(mutex);
    ended = true;
    code = c;
    reason = std::move(r);
    changed.notify_all();
  }
  void fail_accept(error_code ec) {
    std::lock_guard lock(mutex);
    accept_failed = true;
    accept_error = ec;
    changed.notify_all();
  }
  // Waits (bounded) for the end; false if it did not come.
  bool wait() {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 5s, [this] { return ended || accept_failed; }) && ended;
  }
};

// Accepts with `accept` and echoes every message. A text message "close:REASON" makes it close
// with 4001 and REASON instead; it then receives until the end, which it records.
class EchoApp final : public App {
 public:
  explicit EchoApp(WebSocketAccept accept = {}, bool refuse = false)
      : accept_(std::move(accept)), refuse_(refuse) {}

  void handle(std::shared_ptr<Exchange> exchange) override {
    if (refuse_ || !exchange->request().websocket) {
      exchange->start({403, {{"Content-Type", "text/plain"}}});
      exchange->async_write("no WebSocket here", true, nullptr);
      return;
    }
    exchange->async_accept_websocket(
        accept_, [this, exchange](error_code ec, std::shared_ptr<WebSocket> socket) {
          // The exchange is done once accepted: nothing may be written on it.
          exchange->start({200, {}});
          exchange->async_write("late", true, [this](error_code write_ec) {
            late_write_refused = write_ec == errc::response_state || write_ec == errc::client_gone;
          });
          if (ec) return ending.fail_accept(ec);
          receive(std::move(socket));
        });
  }

  Ending ending;
  std::atomic<bool> late_write_refused{false};

 private:
  void receive(std::shared_ptr<WebSocket> socket) {
    auto& s = *socket;
    s.async_receive([this, socket](error_code ec, WebSocketMessage message) {
      if (ec) {
        if (ec == errc::websocket_closed) ending.end(socket->close_code(), socket->close_reason());
        return;
      }
      if (message.text && message.data.starts_with("close:")) {
        socket->async_close(4001, message.data.substr(6), nullptr);
        return receive(socket);
      }
      auto& w = *socket;
      w.async_send(std::move(message), [this, socket](error_code send_ec) {
        if (!send_ec) receive(socket);
      });
    });
  }

  WebSocketAccept accept_;
  bool refuse_;
};

// --- Clients ------------------------------------------------------------------------------------

// A Beast client: connects, shakes hands (offering two subprotocols), and talks.
struct WebSocketClient {
  asio::io_context io;
  ws::stream<tcp::socket> socket{io};
  ws::response_type response;

  explicit WebSocketClient(std::uint16_t port, const std::string& target = "/ws") {
    socket.next_layer().connect({asio::ip::make_address("127.0.0.1"), port});
    socket.set_option(ws::stream_base::decorator([](ws::request_type& request) {
      request.set(beast::http::field::sec_websocket_protocol, "chat, superchat");
    }));
    socket.handshake(response, "127.0.0.1", target);
  }

  void send(const std::string& data, bool text) {
    socket.text(text);
    socket.write(asio::buffer(data));
  }

  // The next message, and whether it was text.
  std::pair<std::string, bool> read() {
    beast::flat_buffer buffer;
    socket.read(buffer);
    return {beast::buffers_to_string(buffer.data()), socket.got_text()};
  }

  // Reads until the read fails (the close handshake, or the end of the connection).
  error_code read_to_end() {
    beast::flat_buffer buffer;
    error_code ec;
    while (!ec) socket.read(buffer, ec);
    return ec;
  }
};

// A raw TCP client, for requests and frames Beast would not send.
struct RawClient {
  asio::io_context io;
  tcp::socket socket{io};

  explicit RawClient(std::uint16_t port) {
    socket.connect({asio::ip::make_address("127.0.0.1"), port});
  }
  void send(const std::string& bytes) { asio::write(socket, asio::buffer(bytes)); }
  // Everything until the server closes (or resets).
  std::string read_to_close() {
    std::string received;
    error_code ec;
    asio::read(socket, asio::dynamic_buffer(received), ec);
    return received;
  }
  // Reads until `done` holds for what was read, or the connection ends.
  std::string read_until(const std::function<bool(const std::string&)>& done) {
    std::string received;
    char buffer[4096];
    while (!done(received)) {
      error_code ec;
      auto n = socket.read_some(asio::buffer(buffer), ec);
      if (ec) break;
      received.append(buffer, n);
    }
    return received;
  }
};

std::string handshake_request(const std::string& version = "13",
                              const std::string& target = "/ws") {
  return "GET " + target +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: " +
         version + "\r\n\r\n";
}

// A client's frame (RFC 6455 §5.2): FIN, `opcode`, masked with a fixed key; short payloads.
std::string masked_frame(std::uint8_t opcode, const std::string& payload) {
  const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
  std::string frame;
  frame += static_cast<char>(0x80 | opcode);
  frame += static_cast<char>(0x80 | payload.size());
  frame.append(reinterpret_cast<const char*>(key), 4);
  for (std::size_t i = 0; i < payload.size(); ++i)
    frame += static_cast<char>(payload[i] ^ key[i % 4]);
  return frame;
}

// A server serving `app` at /ws.
void serve(test::TcpServer& server, std::shared_ptr<App> app) {
  server.router.mount("/ws", std::move(app));
  server.start();
}

// --- The opening handshake ----------------------------------------------------------------------

TEST_CASE("WebSocket: the 101 carries the app's subprotocol and extra field", "[websocket]") {
  CHECK(guarded([] {
    Expect expect;
    test::TcpServer server;
    auto app = std::make_shared<EchoApp>(WebSocketAccept{"chat", {{"X-Extra", "yes"}}});
    serve(server, app);
    WebSocketClient client(server.port());
    EXPECT(client.response.result_int() == 101);
    EXPECT(client.response[beast::http::field::sec_websocket_protocol] == "chat");
    EXPECT(client.response["X-Extra"] == "yes");
    EXPECT(client.response[beast::http::field::server] == "junction");
    EXPECT(client.response.count(beast::http::field::sec_websocket_protocol) == 1);
    client.send("hi", true);
    EXPECT(client.read().first == "hi");
    // Once accepted, the exchange takes no response.
    EXPECT(app->late_write_refused);
    client.socket.close(ws::close_code::normal);
    return expect.ok;
  }));
}

TEST_CASE("WebSocket: an app that refuses answers plain HTTP, then the connection closes",
          "[websocket]") {
  CHECK(guarded([] {
    Expect expect;
    test::TcpServer server;
    serve(server, std::make_shared<EchoApp>(WebSocketAccept{}, true));
    RawClient client(server.port());
    // A frame right behind the request is not taken for a second request.
    client.send(handshake_request() + masked_frame(0x1, "GET / HTTP/1.1"));
    auto parsed = test::parse_responses(client.read_to_close());
    EXPECT(parsed.error.empty());
    EXPECT(parsed.responses.size() == 1);
    if (parsed.responses.size() != 1) return false;
    EXPECT(parsed.responses[0].status == 403);
    EXPECT(parsed.responses[0].body == "no WebSocket here");
    EXPECT(parsed.responses[0].closes());
    EXPECT(server.wait_finished(1));
    return expect.ok;
  }));
}

TEST_CASE("WebSocket: version 12 is answered 426 with Sec-WebSocket-Version: 13", "[websocket]") {
  CHECK(guarded([] {
    Expect expect;
    test::TcpServer server;
    serve(server, std::make_shared<EchoApp>());
    RawClient client(server.port());
    client.send(handshake_request("12"));
    auto parsed = test::parse_responses(client.read_to_close());
    EXPECT(parsed.error.empty());
    if (parsed.responses.size() != 1) return false;
    const auto& response = parsed.responses[0];
    EXPECT(response.status == 426);
    EXPECT(response.status_line == "HTTP/1.1 426 Upgrade Required");
    EXPECT(response.field("Sec-WebSocket-Version") == "13");
    EXPECT(response.field("Upgrade") == "websocket");
    EXPECT(response.closes());
    return expect.ok;
  }));
}

TEST_CASE("WebSocket: a handshake without a key is answered 400", "[websocket]") {
  CHECK(guarded([] {
    Expect expect;
    test::TcpServer server;
    serve(server, std::make_shared<EchoApp>());
    RawClient client(server.port());
    client.send(
        "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n");
    auto parsed = test::parse_responses(client.read_to_close());
    EXPECT(parsed.responses.size() == 1 && parsed.responses[0].status == 400);
    return expect.ok;
  }));
}

TEST_CASE("WebSocket: frames sent right behind the handshake request are not lost", "[websocket]") {
  CHECK(guarded([] {
    Expect expect;
    test::TcpServer server;
    serve(server, std::make_shared<EchoApp>());
    RawClient client(server.port());
    // One write: the request and two text frames, all read by the connection before the app
    // accepts.
    client.send(handshake_request() + masked_frame(0x1, "first") + masked_frame(0x1, "second"));
    std::string head_end = "\r\n\r\n";
    // The server's frames are unmasked: 0x81, the length, the payload.
    std::string frames =
        std::string("\x81\x05", 2) + "first" + std::string("\x81\x06", 2) + "second";
    auto received = client.read_until([&](const std::string& bytes) {
      auto end = bytes.find(head_end);
      return end != std::string::npos && bytes.size() >= end + head_end.size() + frames.size();
    });
    auto end = received.find(head_end);
    EXPECT(received.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    EXPECT(end != std::string::npos);
    if (end == std::string::npos) return false;
    EXPECT(received.substr(end + head_end.size()) == frames);
    client.send(masked_frame(0x8, std::string("\x03\xe8", 2)));  // close 1000
    return expect.ok;
  }));
}

// --- Messages -----------------------------------------------------------------------------------

TEST_CASE("WebSocket: text and binary messages echo with their type; 200 KB whole", "[websocket]") {
  CHECK(guarded([] {
    Expect expect;
    test::TcpServer server;
    serve(server, std::make_shared<EchoApp>());
    WebSocketClient client(server.port());
    client.send("héllo", true);
    auto [text, is_text] = client.read();
    EXPECT(text == "héllo");
    EXPECT(is_text);
    std::string binary("\x00\x01\xff\xfe", 4);
    client.send(binary, false);
    auto [echo, echo_is_text] = client.read();
    EXPECT(echo == binary);
    EXPECT(!echo_is_text);
    std::string big(200 * 1024, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 251);
    client.send(big, false);
    EXPECT(client.read().first == big);
    client.socket.close(ws::close_code::normal);
    return expect.ok;
  }));
}

TEST_CASE("WebSocket: a ping is answered with a pong", "[websocket]") {
  CHECK(guarded([] {
    Expect expect;
    test::TcpServer server;
    serve(server, std::make_shared<EchoApp>());
    WebSocketClient client(server.port());
    std::string pong;
    client.socket.control_callback([&](ws::frame_type kind, beast::string_view payload) {
      if (kind == ws::frame_type::pong) pong = std::string(payload);
    });
    client.socket.ping("are you there");
    // The pong arrives ahead of the echo the next read waits for.
    client.send("after the ping", true);
    EXPECT(client.read().first == "after the ping");
    EXPECT(pong == "are you there");
    client.socket.close(ws::close_code::normal);
    return expect.ok;
  }));
}

TEST_CASE("WebSocket: a message past ws_max_message_size closes with 1009", "[websocket]") {
  CHECK(guarded([] {
    Expect expect;
    test::TcpServer server;
    server.limits.ws_max_message_size = 1000;
    auto app = std::make_shared<EchoApp>();
    serve(server, app);
    WebSocketClient client(server.port());
    client.send(std::string(1000, 'a'), false);  // at the limit: fine
    EXPECT(client.read().first.size() == 1000);
    client.send(std::string(1001, 'a'), false);
    EXPECT(client.read_to_end() == ws::error::closed);
    EXPECT(client.socket.reason().code == ws::close_code::too_big);
    EXPECT(app->ending.wait());
    EXPECT(app->ending.code == kCloseTooBig);
    EXPECT(server.wait_finished(1));
    return expect.ok;
  }));
}

TEST_CASE("WebSocket: the HTTP timeouts do not cut a quiet WebSocket", "[websocket]") {
  CHECK(guarded([] {
    Expect expect;
    test::TcpServer server;
    server.timeouts.keep_alive = server.timeouts.request_header = seconds_d{0.05};
    server.timeouts.request_body = server.timeouts.send = seconds_d{0.05};
    serve(server, std::make_shared<EchoApp>());
    WebSocketClient client(server.port());
    // Quiet for several times every HTTP timeout.
    std::this_thread::sleep_for(300ms);
    client.send("still here", true);
    EXPECT(client.read().first == "still here");
    client.socket.close(ws::close_code::normal);
    return expect.ok;
  }));
}

// --- Closing ------------------------------------------------------------------------------------

TEST_CASE("WebSocket: the server's close code and reason reach the client", "[websocket]") {
  CHECK(guarded([] {
    Expect expect;
    test::TcpServer server;
    auto app = std::make_shared<EchoApp>();
    serve(server, app);
    WebSocketClient client(server.port());
    client.send("close:server says bye", true);
    EXPECT(client.read_to_end() == ws::error::closed);
    EXPECT(client.socket.reason().code == 4001);
    EXPECT(client.socket.reason().reason == "server says bye");
    // The app's receive ends with the client's answer to its close.
    EXPECT(app->ending.wait());
    EXPECT(app->ending.code == 4001);
    EXPECT(server.wait_finished(1));
    return expect.ok;
  }));
}

TEST_CASE("WebSocket: the client's close code and reason reach the app", "[websocket]") {
  CHECK(guarded([] {
    Expect expect;
    test::TcpServer server;
    auto app = std::make_shared<EchoApp>();
    serve(server, app);
    WebSocketClient client(server.port());
    client.socket.close({static_cast<ws::close_code>(4002), "client says bye"});
    EXPECT(app->ending.wait());
    EXPECT(app->ending.code == 4002);
    EXPECT(app->ending.reason == "client says bye");
    EXPECT(server.wait_finished(1));
    return expect.ok;
  }));
}

TEST_CASE("WebSocket: a close frame without a code reads as 1005", "[websocket]") {
  CHECK(guarded([] {
    Expect expect;
    test::TcpServer server;
    auto app = std::make_shared<EchoApp>();
    serve(server, app);
    WebSocketClient client(server.port());
    client.socket.close(ws::close_reason{});
    EXPECT(app->ending.wait());
    EXPECT(app->ending.code == kCloseNoStatus);
    return expect.ok;
  }));
}

TEST_CASE("WebSocket: a client that drops the TCP connection ends it with 1006", "[websocket]") {
  CHECK(guarded([] {
    Expect expect;
    test::TcpServer server;
    auto app = std::make_shared<EchoApp>();
    serve(server, app);
    WebSocketClient client(server.port());
    client.send("one", true);
    EXPECT(client.read().first == "one");
    client.socket.next_layer().close();
    EXPECT(app->ending.wait());
    EXPECT(app->ending.code == kCloseAbnormal);
    EXPECT(server.wait_finished(1));
    return expect.ok;
  }));
}

TEST_CASE("WebSocket: server shutdown closes with 1001; terminate cuts", "[websocket]") {
  CHECK(guarded([] {
    Expect expect;
    test::TcpServer server;
    auto app = std::make_shared<EchoApp>();
    serve(server, app);
    WebSocketClient polite(server.port());
    WebSocketClient cut(server.port());
    polite.send("x", true);
    EXPECT(polite.read().first == "x");
    cut.send("y", true);
    EXPECT(cut.read().first == "y");
    // Both are upgraded now; shutdown asks them to go.
    server.for_each_connection([](test::TcpServer::Connection& c) { c.on_shutdown(); });
    EXPECT(polite.read_to_end() == ws::error::closed);
    EXPECT(polite.socket.reason().code == ws::close_code::going_away);
    EXPECT(server.wait_finished(1));
    server.for_each_connection([](test::TcpServer::Connection& c) { c.terminate(); });
    EXPECT(server.wait_finished(2));
    EXPECT(!server.failed());
    return expect.ok;
  }));
}

// --- Without a socket ---------------------------------------------------------------------------

// Accepts (or tries to) and records what the accept handler heard.
class AcceptRecorder final : public App {
 public:
  void handle(std::shared_ptr<Exchange> exchange) override {
    exchange->async_accept_websocket({},
                                     [this, exchange](error_code ec, std::shared_ptr<WebSocket> s) {
                                       result = ec;
                                       got_socket = s != nullptr;
                                       exchange->start({200, {}});
                                       exchange->async_write("plain", true, nullptr);
                                     });
  }
  std::optional<error_code> result;
  bool got_socket = false;
};

TEST_CASE("WebSocket: refused on a stream that cannot carry one, and for plain requests",
          "[websocket]") {
  test::ConnectionHarness harness;
  auto app = std::make_shared<AcceptRecorder>();
  harness.router.mount("/ws", app);
  harness.start();
  SECTION("a WebSocket handshake over the in-memory stream") {
    harness.peer->send(handshake_request());
  }
  SECTION("a plain request") {
    harness.peer->send("GET /ws HTTP/1.1\r\nHost: a\r\n\r\n");
  }
  REQUIRE(harness.run_until_responses(1));
  REQUIRE(app->result);
  CHECK(*app->result == errc::unsupported);
  CHECK_FALSE(app->got_socket);
  CHECK(harness.responses().responses[0].status == 200);
}

}  // namespace
}  // namespace junction::http1
