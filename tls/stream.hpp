// A TLS stream: OpenSSL working straight on a connected non-blocking socket, with Asio waiting
// for readiness. It has the face of a socket (async_read_some, async_write_some, shutdown,
// close, get_executor), so the HTTP/1.1 and HTTP/2 connection templates run over it unchanged.
//
// Why not asio::ssl::stream: that one runs OpenSSL on a memory BIO pair and copies every byte
// once more between the BIO and its own buffers, with a chain of handler hops per operation.
// Here SSL_write does the send(2) itself, as in nginx, and SSL_read takes the ciphertext an Asio
// read put in our buffer (input_bio.hpp says why not recv(2) in OpenSSL): a request costs the
// same system calls over TLS as in plain text, plus the cipher.
//
// Each operation first tries OpenSSL; only when it wants more input does it read from the
// socket, or, wanting to write, wait for the socket to be writable; then it tries again. A result
// that is there at once is still delivered by a posted handler, never inside the initiating call
// (as Asio's own sockets do). One read and one write may be in flight together (full duplex), as on
// a socket.
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/system/error_code.hpp>
#include <cerrno>
#include <cstddef>
#include <memory>
#include <optional>

#include "tls/input_bio.hpp"

namespace junction::tls {

namespace asio = boost::asio;
using error_code = boost::system::error_code;

struct SslDeleter {
  void operator()(SSL* ssl) const noexcept { SSL_free(ssl); }
};
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

// What one call into OpenSSL came to: a result, or the socket state it waits for.
struct Step {
  enum class Want { nothing, read, write };
  Want want = Want::nothing;
  error_code ec;
  std::size_t n = 0;
};

// Turns the return of an SSL_* I/O call into a Step, reading OpenSSL's per-thread error queue
// (which the caller cleared before the call). `fatal` is set when the connection is broken and
// must not be shut down with a close_notify (SSL_shutdown(3): not after SSL_ERROR_SYSCALL or
// SSL_ERROR_SSL).
inline Step classify(SSL* ssl, int ret, std::size_t n, bool& fatal) {
  if (ret == 1) return {Step::Want::nothing, {}, n};
  switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_WANT_READ:
      return {Step::Want::read};
    case SSL_ERROR_WANT_WRITE:
      return {Step::Want::write};
    case SSL_ERROR_ZERO_RETURN:  // close_notify (or, with SSL_OP_IGNORE_UNEXPECTED_EOF, a bare EOF)
      return {Step::Want::nothing, asio::error::eof};
    case SSL_ERROR_SYSCALL: {
      fatal = true;
      int e = errno;
      if (ERR_peek_error() != 0)
        return {Step::Want::nothing,
                error_code(static_cast<int>(ERR_get_error()), asio::error::get_ssl_category())};
      return {Step::Want::nothing,
              e != 0 ? error_code(e, boost::system::system_category()) : asio::error::eof};
    }
    default: {  // SSL_ERROR_SSL: a protocol error or a failed verification
      fatal = true;
      auto code = ERR_get_error();
      ERR_clear_error();
      return {Step::Want::nothing,
              code != 0 ? error_code(static_cast<int>(code), asio::error::get_ssl_category())
                        : error_code(asio::error::connection_aborted)};
    }
  }
}

template <class Socket>
class TlsStream {
 public:
  using executor_type = typename Socket::executor_type;
  using next_layer_type = Socket;
  using lowest_layer_type = typename Socket::lowest_layer_type;
  // Bytes of small output buffers gathered into one TLS record (RFC 8446 §5.1: at most 2^14).
  static constexpr std::size_t kRecordBytes = 16 * 1024;

  // Takes a connected socket and an SSL object made for it (accept state set by the caller).
  TlsStream(Socket socket, SslPtr ssl)
      : socket_(std::move(socket)), ssl_(std::move(ssl)), input_(new CipherInput) {
    error_code ignored;
    // OpenSSL calls send itself: it must never block the I/O thread.
    socket_.native_non_blocking(true, ignored);
    SSL_set_fd(ssl_.get(), static_cast<int>(socket_.native_handle()));
    SSL_set0_rbio(ssl_.get(), new_input_bio(input_.get()));
  }

  TlsStream(TlsStream&&) noexcept = default;
  TlsStream& operator=(TlsStream&&) noexcept = default;

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  Socket& next_layer() noexcept { return socket_; }
  const Socket& next_layer() const noexcept { return socket_; }
  lowest_layer_type& lowest_layer() noexcept { return socket_.lowest_layer(); }
  SSL* native_handle() const noexcept { return ssl_.get(); }

  // The server side of the handshake. Completes with void(error_code).
  template <class Token>
  auto async_handshake(Token&& token) {
    return async_io<void(error_code)>(
        [this]() {
          ERR_clear_error();
          int ret = SSL_do_handshake(ssl_.get());
          return classify(ssl_.get(), ret, 0, fatal_);
        },
        [](auto& self, const Step& step) { self.complete(step.ec); }, std::forward<Token>(token));
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    auto into = first_buffer(buffers);
    return async_io<void(error_code, std::size_t)>(
        [this, into]() {
          if (into.size() == 0) return Step{};
          std::size_t n = 0;
          ERR_clear_error();
          int ret = SSL_read_ex(ssl_.get(), into.data(), into.size(), &n);
          return classify(ssl_.get(), ret, n, fatal_);
        },
        [](auto& self, const Step& step) { self.complete(step.ec, step.n); },
        std::forward<Token>(token));
  }

  // Writes up to one record's worth: several small buffers are gathered into one record, as
  // a gathered send(2) would put them in one segment; a large first buffer goes as it is.
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    asio::const_buffer from = first_buffer(buffers);
    if (from.size() < kRecordBytes && asio::buffer_size(buffers) > from.size()) {
      if (!stage_) stage_.reset(new char[kRecordBytes]);
      auto n = asio::buffer_copy(asio::buffer(stage_.get(), kRecordBytes), buffers);
      from = asio::const_buffer(stage_.get(), n);
    }
    // A write that waited is retried with the same bytes (SSL_write(3)); the stage stays put
    // until it completes, since one write is in flight at a time.
    return async_io<void(error_code, std::size_t)>(
        [this, from]() {
          if (from.size() == 0) return Step{};
          std::size_t n = 0;
          ERR_clear_error();
          int ret = SSL_write_ex(ssl_.get(), from.data(), from.size(), &n);
          return classify(ssl_.get(), ret, n, fatal_);
        },
        [](auto& self, const Step& step) { self.complete(step.ec, step.n); },
        std::forward<Token>(token));
  }

  // Ends our direction. A close_notify alert (RFC 8446 §6.1) goes out first when the socket
  // takes it at once; a client that stops reading does not get to hold us up for it.
  void shutdown(asio::socket_base::shutdown_type what, error_code& ec) {
    send_close_notify();
    socket_.shutdown(what, ec);
  }

  void close(error_code& ec) {
    send_close_notify();
    socket_.close(ec);
  }

  void cancel(error_code& ec) { socket_.cancel(ec); }

  // Sends a close_notify alert if the socket takes it now; once, and only on a sound
  // connection (SSL_shutdown(3): never after SSL_ERROR_SYSCALL or SSL_ERROR_SSL).
  void send_close_notify() {
    if (notified_ || fatal_ || !socket_.is_open() || !SSL_is_init_finished(ssl_.get())) return;
    notified_ = true;
    ERR_clear_error();
    SSL_shutdown(ssl_.get());
    ERR_clear_error();
  }

 private:
  template <class Buffers>
  static auto first_buffer(const Buffers& buffers) {
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers);
         ++it) {
      if (asio::buffer(*it).size() != 0) return asio::buffer(*it);
    }
    return decltype(asio::buffer(*asio::buffer_sequence_begin(buffers))){};
  }

  // Reads ciphertext for OpenSSL; completes `handler` with void(error_code, std::size_t), or
  // with void(error_code) when another operation's read is already filling the buffer (then
  // this one waits for the socket to be readable and tries OpenSSL again).
  template <class Handler>
  void async_fill(Handler&& handler) {
    auto& input = *input_;
    if (input.eof || input.end == CipherInput::kCapacity) {
      // OpenSSL has had the end and still wants bytes: none will come. Or it wants more while
      // a whole record waits unread, which it never does; a read of nothing would spin.
      error_code ec =
          input.eof ? error_code(asio::error::eof) : error_code(asio::error::no_buffer_space);
      return asio::post(socket_.get_executor(),
                        [handler = std::forward<Handler>(handler), ec]() mutable { handler(ec); });
    }
    if (input.reading)  // another operation's read brings the bytes: try when readable
      return socket_.async_wait(asio::socket_base::wait_read, std::forward<Handler>(handler));
    input.reading = true;
    socket_.async_read_some(
        asio::buffer(input.bytes.get() + input.end, CipherInput::kCapacity - input.end),
        std::forward<Handler>(handler));
  }

  // One operation: attempt until it no longer waits for the socket. `deliver(self, step)`
  // completes it with the final Step, as its signature wants.
  template <class Attempt, class Deliver>
  struct Operation {
    TlsStream* stream;
    Attempt attempt;
    Deliver deliver;
    std::optional<Step> ready{};  // a result found before any wait, delivered when posted
    bool waited = false;

    template <class Self>
    void operator()(Self& self, error_code ec = {}) {
      if (ready) return deliver(self, *ready);
      if (ec) return deliver(self, Step{Step::Want::nothing, ec});
      auto step = attempt();
      switch (step.want) {
        case Step::Want::read:
          waited = true;
          return stream->async_fill(std::move(self));
        case Step::Want::write:
          waited = true;
          return stream->socket_.async_wait(asio::socket_base::wait_write, std::move(self));
        case Step::Want::nothing:
          break;
      }
      if (!waited) {
        ready = step;
        return asio::post(std::move(self));
      }
      deliver(self, step);
    }

    // The socket read of async_fill is over: its bytes (or the peer's end) are OpenSSL's.
    template <class Self>
    void operator()(Self& self, error_code ec, std::size_t n) {
      auto& input = *stream->input_;
      input.reading = false;
      input.end += n;
      if (ec == asio::error::eof) {
        input.eof = true;
        ec = {};
      }
      (*this)(self, ec);
    }
  };

  template <class Signature, class Attempt, class Deliver, class Token>
  auto async_io(Attempt attempt, Deliver deliver, Token&& token) {
    // async_compose forwards the caller's cancellation slot to the readiness wait, so a
    // cancelled read or write ends with operation_aborted as a socket's would.
    return asio::async_compose<Token, Signature>(
        Operation<Attempt, Deliver>{this, std::move(attempt), std::move(deliver)}, token, socket_);
  }

  Socket socket_;
  SslPtr ssl_;
  std::unique_ptr<CipherInput> input_;  // on the heap: the BIO points to it across moves
  std::unique_ptr<char[]> stage_;
  bool fatal_ = false;
  bool notified_ = false;
};

}  // namespace junction::tls
