// Where OpenSSL reads ciphertext from: bytes an Asio socket read put in a buffer of ours.
//
// Why not let OpenSSL recv(2) itself, as it writes with send(2): after a read that found
// nothing, the stream must wait for the next bytes. Asio's only readiness wait (async_wait)
// re-arms epoll with an epoll_ctl call every time, one more system call per request; an Asio
// read has no such cost (a speculative recv, then the edge-triggered event). So the stream
// reads with Asio into CipherInput, and this BIO hands those bytes to OpenSSL.
#pragma once

#include <openssl/bio.h>

#include <cstddef>
#include <memory>

namespace junction::tls {

struct CipherInput {
  // One whole TLS record with its header (RFC 8446 §5.2: at most 2^14 + 256 bytes of
  // ciphertext), so a record never takes two reads.
  static constexpr std::size_t kCapacity = 16 * 1024 + 256 + 5 + 1024;
  std::unique_ptr<char[]> bytes{new char[kCapacity]};
  std::size_t begin = 0;  // bytes [begin, end) wait for OpenSSL
  std::size_t end = 0;
  bool eof = false;      // the peer closed: after the bytes, OpenSSL reads the end
  bool reading = false;  // an Asio read into [end, kCapacity) is in flight
};

// A read-only BIO over `input` (which must outlive it): it gives what is buffered, asks to be
// retried when nothing is, and reports the end once the peer closed. The SSL object that gets
// it (SSL_set0_rbio) frees it.
BIO* new_input_bio(CipherInput* input);

}  // namespace junction::tls
