// Session ticket keys that rotate (RFC 5077 §5.5, RFC 8446 §4.6.1): a ticket is sealed with the
// current key, and opened with the current or the previous one, so a key stays secret for at
// most two periods and a stolen key opens at most that much recorded traffic. One set serves
// every certificate and survives a certificate reload, so tickets stay valid across SIGHUP.
#pragma once

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <array>
#include <chrono>
#include <functional>
#include <mutex>

namespace junction::tls {

class TicketKeys {
 public:
  using clock = std::chrono::system_clock;
  static constexpr std::chrono::hours kRotation{1};

  struct Key {
    std::array<unsigned char, 16> name{};
    std::array<unsigned char, 32> cipher_key{};  // AES-256-CBC
    std::array<unsigned char, 32> mac_key{};     // HMAC-SHA256
  };

  // `now` is the clock (a test moves it).
  explicit TicketKeys(std::function<clock::time_point()> now = clock::now);

  // Installs the ticket callback on `ctx`; this object must outlive it.
  void install(SSL_CTX* ctx);

  // The key to seal a new ticket with (rotating first when its period is over).
  Key current();
  // The key named `name`: 1 found (current), 2 found (previous: the client gets a new ticket),
  // 0 unknown or expired (a full handshake follows).
  int find(const unsigned char* name, Key& key);

 private:
  void rotate_if_due();
  static Key fresh();

  std::function<clock::time_point()> now_;
  std::mutex mutex_;  // tickets are made and opened on every I/O thread
  Key current_;
  Key previous_;
  bool has_previous_ = false;
  clock::time_point rotated_at_;
};

}  // namespace junction::tls
