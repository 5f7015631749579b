// libFuzzer target: a TLS connection (tls::TlsStream under the server's own connection
// coroutine, over one end of a socketpair: OpenSSL writes to a descriptor) fed bytes by a
// client that is an OpenSSL session on the other end. The first input byte picks what the rest
// is:
//   0  garbage after a completed handshake: records that do not decrypt, alerts, anything;
//   1  application data over a completed handshake: HTTP/1.1, or HTTP/2 frames when ALPN
//      settled h2, reaching the protocols through the TLS stream;
//   2  the client's first bytes, instead of a handshake: a ClientHello to mangle, or plain
//      HTTP on a TLS port (answered 400 by the server itself).
// and whether ALPN offers h2 (bit 2). The client closes its side once it has sent everything.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/generic/stream_protocol.hpp>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "fuzz_server.hpp"
#include "support/test_pki.hpp"
#include "tls/context.hpp"
#include "tls/options.hpp"
#include "tls/ticket_keys.hpp"

namespace {

namespace asio = boost::asio;
using namespace junction;

// Made once: a certificate for localhost and the server's contexts, and the client's context.
struct Setup {
  test::TestPki pki;
  std::shared_ptr<const tls::ServerContexts> contexts;
  SSL_CTX* client = nullptr;

  Setup() {
    auto identity = pki.issue("localhost", {"localhost"});
    tls::Options options;
    options.certificates = {
        {pki.write_cert("server", identity), pki.write_key("server", identity)}};
    contexts = tls::ServerContexts::load(options, gateway::HttpMode::automatic,
                                         std::make_shared<tls::TicketKeys>());
    client = SSL_CTX_new(TLS_client_method());
  }
};

Setup& setup() {
  static Setup instance;
  return instance;
}

// A client on a non-blocking descriptor, stepped between rounds of the server's event loop.
class Client {
 public:
  Client(int fd, bool offer_h2) : fd_(fd), ssl_(SSL_new(setup().client)) {
    SSL_set_fd(ssl_, fd_);
    SSL_set_connect_state(ssl_);
    SSL_set_tlsext_host_name(ssl_, "localhost");
    static const unsigned char kBoth[] = "\x02h2\x08http/1.1";
    static const unsigned char kHttp1[] = "\x08http/1.1";
    if (offer_h2)
      SSL_set_alpn_protos(ssl_, kBoth, sizeof kBoth - 1);
    else
      SSL_set_alpn_protos(ssl_, kHttp1, sizeof kHttp1 - 1);
  }
  ~Client() {
    SSL_free(ssl_);
    ::close(fd_);
    ERR_clear_error();
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One step of the handshake: true once it is over (done or failed).
  bool handshake_step() {
    int r = SSL_do_handshake(ssl_);
    if (r == 1) return true;
    int e = SSL_get_error(ssl_, r);
    return e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE;
  }
  bool handshake_done() const { return SSL_is_init_finished(ssl_) == 1; }

  // Sends what it can of `left` (raw or through TLS); returns how many bytes went.
  std::size_t send_some(std::string_view left, bool encrypted) {
    if (encrypted) {
      std::size_t n = 0;
      if (SSL_write_ex(ssl_, left.data(), left.size(), &n) == 1) return n;
      int e = SSL_get_error(ssl_, 0);
      ERR_clear_error();
      // A connection the server closed takes nothing more: the rest counts as gone.
      return e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? 0 : left.size();
    }
    auto n = ::send(fd_, left.data(), left.size(), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n);
    return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : left.size();
  }

  // Takes whatever the server sent, unread (the server must never wait on a full socket).
  void drain() {
    char buffer[16384];
    while (::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT) > 0) {
    }
  }
  void end_output() { ::shutdown(fd_, SHUT_WR); }

 private:
  int fd_;
  SSL* ssl_;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  setup();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return -1;
  int mode = data[0] % 3;
  bool offer_h2 = (data[0] & 4) != 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) return 0;
  fuzz::FuzzServer server;
  auto& h = server.h;
  // The server's own socket type (the libraries instantiate the connections for it), here over
  // a Unix socket.
  h.accept(gateway::Socket(h.io.get_executor(), asio::generic::stream_protocol(AF_UNIX, 0), fds[0]),
           setup().contexts);
  Client client(fds[1], offer_h2);
  auto round = [&] {
    client.drain();
    if (h.io.poll() == 0) h.io.run_one_for(std::chrono::milliseconds(1));
    h.io.restart();
  };

  if (mode != 2) {
    for (int i = 0; i < 2000 && !client.handshake_step(); ++i) round();
  }
  bool encrypted = mode == 1 && client.handshake_done();
  for (int i = 0; i < 20000 && !input.empty() && h.live() > 0; ++i) {
    input.remove_prefix(client.send_some(input, encrypted));
    round();
  }
  client.end_output();
  server.finish([&] { client.drain(); });
  return 0;
}
