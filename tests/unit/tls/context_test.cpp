#include "tls/context.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "support/test_pki.hpp"

using junction::gateway::HttpMode;
using junction::tls::LoadError;
using junction::tls::Options;
using junction::tls::ServerContexts;
using junction::tls::TicketKeys;

namespace {

std::string load_error(const Options& options) {
  try {
    ServerContexts::load(options, HttpMode::automatic, std::make_shared<TicketKeys>());
  } catch (const LoadError& e) {
    return e.what();
  }
  return {};
}

}  // namespace

TEST_CASE("ServerContexts::load: good pairs load, and the log names what each serves",
          "[tls][context]") {
  junction::test::TestPki pki;
  auto a = pki.issue("a", {"localhost", "a.test"});
  auto b = pki.issue("b", {"*.example.test"});
  Options options;
  options.certificates = {{pki.write_cert("a", a), pki.write_key("a", a)},
                          {pki.write_cert("b", b), pki.write_key("b", b)}};
  auto set = ServerContexts::load(options, HttpMode::automatic, std::make_shared<TicketKeys>());
  auto lines = set->summary();
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "TLS certificate " + options.certificates[0].cert_file +
                        " for localhost, a.test (default)");
  CHECK(lines[1] == "TLS certificate " + options.certificates[1].cert_file + " for *.example.test");
  CHECK(set->new_ssl() != nullptr);
}

TEST_CASE("ServerContexts::load: a broken file is one clear line that names it", "[tls][context]") {
  junction::test::TestPki pki;
  auto a = pki.issue("a", {"localhost"});
  auto b = pki.issue("b", {"b.test"});
  Options options;
  auto cert = pki.write_cert("a", a);
  auto key = pki.write_key("a", a);

  SECTION("not a certificate") {
    auto garbage = pki.write_text("garbage.crt", "not a certificate\n");
    options.certificates = {{garbage, key}};
    auto error = load_error(options);
    CHECK(error.starts_with("cannot load TLS certificate '" + garbage + "': "));
  }
  SECTION("not a key") {
    auto garbage = pki.write_text("garbage.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n");
    options.certificates = {{cert, garbage}};
    CHECK(load_error(options).starts_with("cannot load TLS key '" + garbage + "': "));
  }
  SECTION("the key of another certificate") {
    auto other = pki.write_key("b", b);
    options.certificates = {{cert, other}};
    CHECK(load_error(options) ==
          "TLS key '" + other + "' does not belong to certificate '" + cert + "'");
  }
  SECTION("an encrypted key") {
    auto encrypted = pki.write_key("enc", a, "s3cret pass");
    options.certificates = {{cert, encrypted}};
    SECTION("without a passphrase") {
      CHECK(load_error(options) == "cannot load TLS key '" + encrypted +
                                       "': the key is encrypted: give its passphrase with "
                                       "--tls-key-password-file");
    }
    SECTION("with the wrong passphrase") {
      options.key_password_file = pki.write_text("wrong.txt", "nope\n");
      CHECK(load_error(options).starts_with("cannot load TLS key '" + encrypted +
                                            "': wrong passphrase in --tls-key-password-file"));
    }
    SECTION("with the right passphrase (its first line)") {
      options.key_password_file = pki.write_text("right.txt", "s3cret pass\nignored\n");
      CHECK(load_error(options).empty());
    }
  }
  SECTION("a client CA that is not one") {
    options.certificates = {{cert, key}};
    options.client_ca = pki.write_text("ca.pem", "nothing\n");
    options.client_verify = Options::ClientVerify::required;
    CHECK(load_error(options).starts_with("cannot load TLS client CA '" + options.client_ca));
  }
}
