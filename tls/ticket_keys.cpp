#include "tls/ticket_keys.hpp"

#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <cstring>
#include <stdexcept>

namespace junction::tls {

namespace {

int ex_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

bool set_mac_key(EVP_MAC_CTX* mac, TicketKeys::Key& key) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.mac_key.data(), key.mac_key.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  return EVP_MAC_CTX_set_params(mac, params) == 1;
}

// SSL_CTX_set_tlsext_ticket_key_evp_cb(3): enc = 1 seals a new ticket, enc = 0 opens one.
int on_ticket_key(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                  EVP_MAC_CTX* mac, int enc) {
  auto* keys = static_cast<TicketKeys*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index()));
  if (keys == nullptr) return -1;
  TicketKeys::Key key;
  if (enc == 1) {
    key = keys->current();
    std::memcpy(name, key.name.data(), key.name.size());
    auto iv_length = EVP_CIPHER_get_iv_length(EVP_aes_256_cbc());
    if (RAND_bytes(iv, iv_length) != 1) return -1;
    if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.cipher_key.data(), iv) != 1)
      return -1;
    return set_mac_key(mac, key) ? 1 : -1;
  }
  int found = keys->find(name, key);
  if (found == 0) return 0;
  if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.cipher_key.data(), iv) != 1)
    return -1;
  return set_mac_key(mac, key) ? found : -1;
}

}  // namespace

TicketKeys::TicketKeys(std::function<clock::time_point()> now)
    : now_(std::move(now)), current_(fresh()), rotated_at_(now_()) {}

TicketKeys::Key TicketKeys::fresh() {
  Key key;
  if (RAND_bytes(key.name.data(), key.name.size()) != 1 ||
      RAND_bytes(key.cipher_key.data(), key.cipher_key.size()) != 1 ||
      RAND_bytes(key.mac_key.data(), key.mac_key.size()) != 1)
    throw std::runtime_error("the system random generator failed");
  return key;
}

void TicketKeys::install(SSL_CTX* ctx) {
  SSL_CTX_set_ex_data(ctx, ex_index(), this);
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket_key);
}

void TicketKeys::rotate_if_due() {
  auto now = now_();
  auto periods = (now - rotated_at_) / kRotation;
  if (periods < 1) return;
  // After two periods or more of silence the current key is past its life as well.
  previous_ = current_;
  has_previous_ = periods == 1;
  current_ = fresh();
  rotated_at_ = now;
}

TicketKeys::Key TicketKeys::current() {
  std::lock_guard lock(mutex_);
  rotate_if_due();
  return current_;
}

int TicketKeys::find(const unsigned char* name, Key& key) {
  std::lock_guard lock(mutex_);
  rotate_if_due();
  if (std::memcmp(name, current_.name.data(), current_.name.size()) == 0) {
    key = current_;
    return 1;
  }
  if (has_previous_ && std::memcmp(name, previous_.name.data(), previous_.name.size()) == 0) {
    key = previous_;
    return 2;
  }
  return 0;
}

}  // namespace junction::tls
