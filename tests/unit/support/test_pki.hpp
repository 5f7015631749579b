// Certificates for TLS tests, made in memory with OpenSSL (P-256 keys) and written as PEM files
// into a temporary directory: a CA, certificates it signs for given DNS names, and self-signed
// ones.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace junction::test {

struct KeyDeleter {
  void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};
struct CertDeleter {
  void operator()(X509* cert) const noexcept { X509_free(cert); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;
using CertPtr = std::unique_ptr<X509, CertDeleter>;

// A key and its certificate.
struct Identity {
  KeyPtr key;
  CertPtr cert;
};

class TestPki {
 public:
  TestPki() {
    auto pattern = (std::filesystem::temp_directory_path() / "junction-pki-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    ca_ = make("Junction Test CA", {}, nullptr, true);
  }
  ~TestPki() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  const Identity& ca() const { return ca_; }

  // A certificate for `names` (DNS subjectAltNames) signed by the CA, or self-signed.
  Identity issue(const std::string& common_name, const std::vector<std::string>& names,
                 bool self_signed = false) {
    return make(common_name, names, self_signed ? nullptr : &ca_, false);
  }

  // Writes PEM files; returns their paths. `password` encrypts the key (AES-256-CBC).
  std::string write_cert(const std::string& name, const Identity& id) const {
    auto path = (dir_ / (name + ".crt")).string();
    auto* file = std::fopen(path.c_str(), "w");
    PEM_write_X509(file, id.cert.get());
    std::fclose(file);
    return path;
  }
  std::string write_key(const std::string& name, const Identity& id,
                        const std::string& password = {}) const {
    auto path = (dir_ / (name + ".key")).string();
    auto* file = std::fopen(path.c_str(), "w");
    if (password.empty()) {
      PEM_write_PrivateKey(file, id.key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    } else {
      PEM_write_PrivateKey(file, id.key.get(), EVP_aes_256_cbc(),
                           reinterpret_cast<const unsigned char*>(password.data()),
                           static_cast<int>(password.size()), nullptr, nullptr);
    }
    std::fclose(file);
    return path;
  }
  std::string write_text(const std::string& name, const std::string& text) const {
    auto path = (dir_ / name).string();
    auto* file = std::fopen(path.c_str(), "w");
    std::fputs(text.c_str(), file);
    std::fclose(file);
    return path;
  }

 private:
  Identity make(const std::string& common_name, const std::vector<std::string>& names,
                const Identity* issuer, bool is_ca) {
    Identity id;
    id.key.reset(EVP_EC_gen("P-256"));
    id.cert.reset(X509_new());
    X509* cert = id.cert.get();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), ++serial_);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 30L * 24 * 3600);
    X509_set_pubkey(cert, id.key.get());
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("Junction Test"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                               0);
    X509* signer = issuer ? issuer->cert.get() : cert;
    X509_set_issuer_name(cert, X509_get_subject_name(signer));
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, signer, cert, nullptr, nullptr, 0);
    add(cert, &ctx, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "CA:FALSE");
    if (is_ca) add(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    std::string alt;
    for (const auto& dns : names) alt += (alt.empty() ? "DNS:" : ",DNS:") + dns;
    if (!alt.empty()) add(cert, &ctx, NID_subject_alt_name, alt.c_str());
    X509_sign(cert, issuer ? issuer->key.get() : id.key.get(), EVP_sha256());
    return id;
  }

  static void add(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
    if (ext == nullptr) throw std::runtime_error("bad test certificate extension");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }

  std::filesystem::path dir_;
  long serial_ = 0;
  Identity ca_;
};

}  // namespace junction::test
