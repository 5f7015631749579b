// TlsStream and ServerContexts together: a server stream and a client stream (the same class
// in connect state) over a connected pair of Unix sockets, on one io_context.
#include "tls/stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "support/test_pki.hpp"
#include "tls/context.hpp"

namespace asio = boost::asio;
using junction::gateway::HttpMode;
using junction::tls::Alpn;
using junction::tls::error_code;
using junction::tls::Options;
using junction::tls::ServerContexts;
using junction::tls::SslPtr;
using junction::tls::TicketKeys;

namespace {

using Socket =
    asio::basic_stream_socket<asio::local::stream_protocol, asio::io_context::executor_type>;
using Stream = junction::tls::TlsStream<Socket>;
constexpr auto tuple = asio::as_tuple(asio::use_awaitable_t<asio::io_context::executor_type>{});

struct ClientOptions {
  std::string ca_file;
  std::string server_name;
  std::string alpn;  // wire format
  std::string cert_file, key_file;
  int max_version = 0;
};

// A client SSL object (its own context, freed with it by reference counting).
SslPtr client_ssl(const ClientOptions& options) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!options.ca_file.empty()) {
    SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  if (!options.cert_file.empty()) {
    SSL_CTX_use_certificate_file(ctx, options.cert_file.c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_use_PrivateKey_file(ctx, options.key_file.c_str(), SSL_FILETYPE_PEM);
  }
  if (options.max_version != 0) SSL_CTX_set_max_proto_version(ctx, options.max_version);
  SslPtr ssl(SSL_new(ctx));
  SSL_CTX_free(ctx);
  SSL_set_connect_state(ssl.get());
  if (!options.server_name.empty())
    SSL_set_tlsext_host_name(ssl.get(), options.server_name.c_str());
  if (!options.alpn.empty())
    SSL_set_alpn_protos(ssl.get(), reinterpret_cast<const unsigned char*>(options.alpn.data()),
                        static_cast<unsigned>(options.alpn.size()));
  return ssl;
}

struct Pair {
  asio::io_context io;
  std::optional<Stream> server, client;
  error_code server_ec, client_ec;

  Pair(const ServerContexts& contexts, const ClientOptions& options) {
    Socket a(io), b(io);
    asio::local::connect_pair(a, b);
    server.emplace(std::move(a), contexts.new_ssl());
    client.emplace(std::move(b), client_ssl(options));
  }

  // Both handshakes, to their ends. True when both succeeded.
  bool handshake() {
    bool server_done = false, client_done = false;
    server->async_handshake([&](error_code ec) {
      server_ec = ec;
      server_done = true;
      // A failed server handshake closes, as the server does: the client must learn of it.
      if (ec) {
        error_code ignored;
        server->close(ignored);
      }
    });
    client->async_handshake([&](error_code ec) {
      client_ec = ec;
      client_done = true;
    });
    io.run_for(std::chrono::seconds(5));
    io.restart();
    REQUIRE(server_done);
    REQUIRE(client_done);
    return !server_ec && !client_ec;
  }
};

struct Fixture {
  junction::test::TestPki pki;
  Options options;
  std::string ca_file;
  std::shared_ptr<TicketKeys> keys = std::make_shared<TicketKeys>();

  Fixture() {
    auto a = pki.issue("localhost", {"localhost"});
    auto b = pki.issue("example", {"*.example.test", "other.test"});
    options.certificates = {{pki.write_cert("a", a), pki.write_key("a", a)},
                            {pki.write_cert("b", b), pki.write_key("b", b)}};
    ca_file = pki.write_cert("ca", pki.ca());
  }

  std::shared_ptr<const ServerContexts> load(HttpMode mode = HttpMode::automatic) {
    return ServerContexts::load(options, mode, keys);
  }
};

std::string peer_common_name(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return {};
  char name[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, name, sizeof name);
  return name;
}

}  // namespace

TEST_CASE("TlsStream: a handshake, then a megabyte each way, then close_notify is EOF",
          "[tls][stream]") {
  Fixture f;
  auto contexts = f.load();
  Pair pair(*contexts, {f.ca_file, "localhost", std::string("\x02h2\x08http/1.1", 12)});
  REQUIRE(pair.handshake());
  CHECK(ServerContexts::negotiated(pair.server->native_handle()) == Alpn::http2);

  std::string out(1 << 20, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>('a' + i % 26);
  std::string server_got(out.size(), '\0'), client_got(out.size(), '\0');
  error_code server_eof = asio::error::would_block, client_eof = asio::error::would_block;
  using awaitable = asio::awaitable<void, asio::io_context::executor_type>;
  // Reads and writes run at once on each side (full duplex): a side that only wrote would
  // fill both socket buffers and stall.
  auto writer = [&](Stream& self) -> awaitable {
    // Small gathered buffers go as one record.
    std::array<asio::const_buffer, 2> head{asio::buffer(out.data(), 10),
                                           asio::buffer(out.data() + 10, 20)};
    auto [ec1, n1] = co_await asio::async_write(self, head, tuple);
    auto [ec2, n2] =
        co_await asio::async_write(self, asio::buffer(out.data() + 30, out.size() - 30), tuple);
    if (ec1 || ec2 || n1 + n2 != out.size()) co_return;
    error_code ignored;
    self.shutdown(asio::socket_base::shutdown_send, ignored);
  };
  auto reader = [&](Stream& self, std::string& got, error_code& eof) -> awaitable {
    auto [ec, n] = co_await asio::async_read(self, asio::buffer(got), tuple);
    if (ec || n != got.size()) co_return;
    char byte;
    auto [end, none] = co_await self.async_read_some(asio::buffer(&byte, 1), tuple);
    eof = end;
  };
  asio::co_spawn(pair.io, writer(*pair.server), asio::detached);
  asio::co_spawn(pair.io, writer(*pair.client), asio::detached);
  asio::co_spawn(pair.io, reader(*pair.server, server_got, server_eof), asio::detached);
  asio::co_spawn(pair.io, reader(*pair.client, client_got, client_eof), asio::detached);
  pair.io.run_for(std::chrono::seconds(10));
  CHECK(server_got == out);
  CHECK(client_got == out);
  CHECK(server_eof == asio::error::eof);
  CHECK(client_eof == asio::error::eof);
}

TEST_CASE("TlsStream: SNI picks the certificate whose names match", "[tls][sni]") {
  Fixture f;
  auto contexts = f.load();
  auto served = [&](const std::string& name) {
    Pair pair(*contexts, {{}, name, {}});
    REQUIRE(pair.handshake());
    auto info = contexts->describe(pair.server->native_handle());
    CHECK(info->server_name == name);
    return peer_common_name(pair.client->native_handle());
  };
  CHECK(served("localhost") == "localhost");
  CHECK(served("a.example.test") == "example");  // the wildcard
  CHECK(served("other.test") == "example");
  CHECK(served("deep.a.example.test") == "localhost");  // a wildcard covers one label only
  CHECK(served("unknown.test") == "localhost");         // the default
  CHECK(served("") == "localhost");                     // no SNI at all
}

TEST_CASE("TlsStream: ALPN follows --http; a client with none of ours gets an alert",
          "[tls][alpn]") {
  Fixture f;
  const std::string both("\x08http/1.1\x02h2", 12);
  SECTION("auto prefers h2 even when the client lists it second") {
    auto contexts = f.load();
    Pair pair(*contexts, {{}, {}, both});
    REQUIRE(pair.handshake());
    CHECK(ServerContexts::negotiated(pair.server->native_handle()) == Alpn::http2);
  }
  SECTION("--http 1 offers http/1.1 only") {
    auto contexts = f.load(HttpMode::http1);
    Pair pair(*contexts, {{}, {}, both});
    REQUIRE(pair.handshake());
    CHECK(ServerContexts::negotiated(pair.server->native_handle()) == Alpn::http1);
  }
  SECTION("no ALPN from the client: none") {
    auto contexts = f.load();
    Pair pair(*contexts, {});
    REQUIRE(pair.handshake());
    CHECK(ServerContexts::negotiated(pair.server->native_handle()) == Alpn::none);
  }
  SECTION("--http 2 with a client that speaks http/1.1 only: no_application_protocol") {
    auto contexts = f.load(HttpMode::http2);
    Pair pair(*contexts, {{}, {}, std::string("\x08http/1.1", 9)});
    CHECK_FALSE(pair.handshake());
    CHECK(pair.server_ec);
  }
}

TEST_CASE("TlsStream: TLS 1.2 and 1.3 only; --tls-min-version 1.3 refuses 1.2", "[tls][versions]") {
  Fixture f;
  SECTION("default: a TLS 1.2 client is served, with an ECDHE AEAD suite") {
    auto contexts = f.load();
    Pair pair(*contexts, {.max_version = TLS1_2_VERSION});
    REQUIRE(pair.handshake());
    auto info = contexts->describe(pair.server->native_handle());
    CHECK(info->protocol == "TLSv1.2");
    CHECK(info->protocol_version == 0x0303);
    CHECK(info->cipher == "ECDHE-ECDSA-AES128-GCM-SHA256");
    CHECK(info->cipher_suite == 0xC02B);
  }
  SECTION("default: TLS 1.3 with AES-128-GCM first") {
    auto contexts = f.load();
    Pair pair(*contexts, {});
    REQUIRE(pair.handshake());
    auto info = contexts->describe(pair.server->native_handle());
    CHECK(info->protocol == "TLSv1.3");
    CHECK(info->protocol_version == 0x0304);
    CHECK(info->cipher == "TLS_AES_128_GCM_SHA256");
    CHECK(info->cipher_suite == 0x1301);
  }
  SECTION("TLS 1.1 is refused") {
    auto contexts = f.load();
    Pair pair(*contexts, {.max_version = TLS1_1_VERSION});
    CHECK_FALSE(pair.handshake());
  }
  SECTION("1.3 minimum: TLS 1.2 is refused") {
    f.options.min_version = "1.3";
    auto contexts = f.load();
    Pair pair(*contexts, {.max_version = TLS1_2_VERSION});
    CHECK_FALSE(pair.handshake());
  }
}

TEST_CASE("TlsStream: client certificates, and what the handshake tells the app", "[tls][mtls]") {
  Fixture f;
  auto client = f.pki.issue("client", {});
  ClientOptions with_cert{.cert_file = f.pki.write_cert("client", client),
                          .key_file = f.pki.write_key("client", client)};
  auto stranger = f.pki.issue("stranger", {}, true);
  ClientOptions with_stranger{.cert_file = f.pki.write_cert("stranger", stranger),
                              .key_file = f.pki.write_key("stranger", stranger)};
  f.options.client_ca = f.ca_file;

  SECTION("none: no certificate asked for") {
    auto contexts = f.load();
    Pair pair(*contexts, with_cert);
    REQUIRE(pair.handshake());
    auto info = contexts->describe(pair.server->native_handle());
    CHECK(info->client_verify == "NONE");
    CHECK(info->client_chain.empty());
  }
  SECTION("optional") {
    f.options.client_verify = Options::ClientVerify::optional;
    auto contexts = f.load();
    SECTION("a certificate of our CA: SUCCESS, with its names and PEM") {
      Pair pair(*contexts, with_cert);
      REQUIRE(pair.handshake());
      auto info = contexts->describe(pair.server->native_handle());
      CHECK(info->client_verify == "SUCCESS");
      CHECK(info->client_subject == "CN=client,O=Junction Test");
      CHECK(info->client_issuer == "CN=Junction Test CA,O=Junction Test");
      REQUIRE(info->client_chain.size() == 1);
      CHECK(info->client_chain[0].starts_with("-----BEGIN CERTIFICATE-----\n"));
      CHECK(info->client_error.empty());
      CHECK(info->server_cert.starts_with("-----BEGIN CERTIFICATE-----\n"));
    }
    SECTION("a stranger's certificate: FAILED, with the reason") {
      Pair pair(*contexts, with_stranger);
      REQUIRE(pair.handshake());
      auto info = contexts->describe(pair.server->native_handle());
      CHECK(info->client_verify == "FAILED:self-signed certificate");
      CHECK(info->client_error == "self-signed certificate");
      CHECK(info->client_subject == "CN=stranger,O=Junction Test");
    }
    SECTION("no certificate: NONE") {
      Pair pair(*contexts, {});
      REQUIRE(pair.handshake());
      CHECK(contexts->describe(pair.server->native_handle())->client_verify == "NONE");
    }
  }
  SECTION("required") {
    f.options.client_verify = Options::ClientVerify::required;
    auto contexts = f.load();
    SECTION("a certificate of our CA is served") {
      Pair pair(*contexts, with_cert);
      REQUIRE(pair.handshake());
      CHECK(contexts->describe(pair.server->native_handle())->client_verify == "SUCCESS");
    }
    SECTION("no certificate is refused in the handshake") {
      Pair pair(*contexts, {});
      CHECK_FALSE(pair.handshake());
      CHECK(pair.server_ec);
    }
    SECTION("a stranger's certificate is refused in the handshake") {
      Pair pair(*contexts, with_stranger);
      CHECK_FALSE(pair.handshake());
      CHECK(pair.server_ec);
    }
  }
}

TEST_CASE("TlsStream: plain HTTP on the TLS port is recognised", "[tls][plain]") {
  Fixture f;
  auto contexts = f.load();
  asio::io_context io;
  Socket a(io), b(io);
  asio::local::connect_pair(a, b);
  Stream server(std::move(a), contexts->new_ssl());
  std::string request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  asio::write(b, asio::buffer(request));
  error_code result;
  server.async_handshake([&](error_code ec) { result = ec; });
  io.run_for(std::chrono::seconds(5));
  CHECK(result);
  CHECK(junction::tls::is_plain_http(result));
}

TEST_CASE("TlsStream: a pending read is cancelled like a socket's", "[tls][stream]") {
  Fixture f;
  auto contexts = f.load();
  Pair pair(*contexts, {});
  REQUIRE(pair.handshake());
  asio::cancellation_signal cancel;
  char byte;
  error_code result;
  bool done = false;
  pair.server->async_read_some(
      asio::buffer(&byte, 1),
      asio::bind_cancellation_slot(cancel.slot(), [&](error_code ec, std::size_t) {
        result = ec;
        done = true;
      }));
  pair.io.poll();
  CHECK_FALSE(done);
  cancel.emit(asio::cancellation_type::terminal);
  pair.io.run_for(std::chrono::seconds(2));
  CHECK(done);
  CHECK(result == asio::error::operation_aborted);
}

TEST_CASE("TlsStream: a resumed TLS 1.3 session uses a ticket from the rotating keys",
          "[tls][tickets]") {
  Fixture f;
  auto contexts = f.load();
  SSL_SESSION* session = nullptr;
  {
    Pair pair(*contexts, {});
    REQUIRE(pair.handshake());
    // TLS 1.3 tickets come after the handshake: a read on the client takes them in.
    char byte;
    pair.client->async_read_some(asio::buffer(&byte, 1), [](error_code, std::size_t) {});
    pair.io.run_for(std::chrono::milliseconds(200));
    session = SSL_get1_session(pair.client->native_handle());
    REQUIRE(session != nullptr);
    CHECK(SSL_SESSION_is_resumable(session) == 1);
    // A client that ends without close_notify loses its session (SSL_free(3)).
    error_code ignored;
    pair.client->shutdown(asio::socket_base::shutdown_send, ignored);
  }
  Pair again(*contexts, {});
  SSL_set_session(again.client->native_handle(), session);
  SSL_SESSION_free(session);
  REQUIRE(again.handshake());
  CHECK(SSL_session_reused(again.server->native_handle()) == 1);
}
