#include "tls/ticket_keys.hpp"

#include <catch2/catch.hpp>

using junction::tls::TicketKeys;

TEST_CASE("ticket keys: sealed with the current key, opened with it or the previous one",
          "[tls][tickets]") {
  auto now = TicketKeys::clock::now();
  TicketKeys keys([&now] { return now; });
  auto first = keys.current();
  TicketKeys::Key found;
  REQUIRE(keys.find(first.name.data(), found) == 1);
  CHECK(found.cipher_key == first.cipher_key);
  CHECK(found.mac_key == first.mac_key);

  SECTION("within the period the key stays") {
    now += TicketKeys::kRotation / 2;
    CHECK(keys.current().name == first.name);
  }
  SECTION("one period later a new key seals; the old one still opens, asking for renewal") {
    now += TicketKeys::kRotation;
    auto second = keys.current();
    CHECK(second.name != first.name);
    CHECK(second.cipher_key != first.cipher_key);
    CHECK(keys.find(second.name.data(), found) == 1);
    CHECK(keys.find(first.name.data(), found) == 2);
    CHECK(found.cipher_key == first.cipher_key);
    SECTION("two periods later the first key is gone") {
      now += TicketKeys::kRotation;
      CHECK(keys.find(first.name.data(), found) == 0);
      CHECK(keys.find(second.name.data(), found) == 2);
    }
  }
  SECTION("after a long silence no old key opens anything") {
    now += 3 * TicketKeys::kRotation;
    CHECK(keys.find(first.name.data(), found) == 0);
    CHECK(keys.current().name != first.name);
  }
  SECTION("an unknown name is not found") {
    unsigned char name[16] = {};
    CHECK(keys.find(name, found) == 0);
  }
}
