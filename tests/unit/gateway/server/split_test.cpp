// Split routes (gateway/server/split.hpp): the shares hold, a seed repeats a run, and a client
// stays with its app by cookie or by address.
#include "gateway/server/split.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

namespace junction::test {
namespace {

using gateway::RequestHead;
using gateway::SplitChooser;
using gateway::SplitOptions;
using gateway::Sticky;

SplitOptions options(Sticky sticky, std::uint64_t seed = 7) {
  SplitOptions o;
  o.shares = {{"new", 10}, {"legacy", 90}};
  o.sticky = sticky;
  o.seed = seed;
  return o;
}

RequestHead from(std::string client, std::vector<std::string> cookies = {}) {
  RequestHead head;
  head.method = "GET";
  head.path = "/orders";
  head.client.host = std::move(client);
  for (auto& cookie : cookies) head.headers.emplace_back("Cookie", std::move(cookie));
  return head;
}

TEST_CASE("Split: each share is a range of points out of 100", "[split]") {
  SplitChooser chooser(options(Sticky::none));
  CHECK(chooser.share_at(0) == 0);
  CHECK(chooser.share_at(9) == 0);
  CHECK(chooser.share_at(10) == 1);
  CHECK(chooser.share_at(99) == 1);
}

TEST_CASE("Split: over 2,000 requests each app gets its share within 3 points", "[split]") {
  for (std::uint64_t seed : {1u, 7u, 12345u}) {
    SplitChooser chooser(options(Sticky::none, seed));
    int to_new = 0;
    for (int i = 0; i < 2000; ++i) to_new += chooser(from("127.0.0.1")) == 0;
    INFO("seed " << seed << ": " << to_new << " of 2000 to new");
    CHECK(to_new >= 140);  // 10 % ± 3 points
    CHECK(to_new <= 260);
  }
}

TEST_CASE("Split: the same seed gives the same picks, another seed others", "[split]") {
  auto picks = [](std::uint64_t seed) {
    SplitChooser chooser(options(Sticky::none, seed));
    std::vector<std::size_t> out;
    for (int i = 0; i < 200; ++i) out.push_back(chooser(from("127.0.0.1")));
    return out;
  };
  CHECK(picks(3) == picks(3));
  CHECK(picks(3) != picks(4));
}

TEST_CASE("Split: sticky by client sends an address to one app, and spreads addresses", "[split]") {
  SplitChooser chooser(options(Sticky::client));
  std::map<std::size_t, int> apps;
  for (int i = 0; i < 1000; ++i) {
    auto client = "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250);
    auto first = chooser(from(client));
    for (int again = 0; again < 3; ++again) REQUIRE(chooser(from(client)) == first);
    ++apps[first];
  }
  CHECK(apps[0] >= 70);  // 10 % of 1,000 addresses, loosely
  CHECK(apps[0] <= 130);
}

TEST_CASE("Split: sticky by cookie honours a junction_route naming one of its apps", "[split]") {
  SplitChooser chooser(options(Sticky::cookie));
  CHECK(chooser.from_cookie(from("a", {"theme=dark; junction_route=new; lang=en"})) == 0u);
  CHECK(chooser.from_cookie(from("a", {"junction_route=legacy"})) == 1u);
  // HTTP/2 may send each cookie as a field of its own (RFC 9113 §8.2.3).
  CHECK(chooser.from_cookie(from("a", {"theme=dark", "junction_route=new"})) == 0u);
  CHECK_FALSE(chooser.from_cookie(from("a", {"junction_route=other"})));
  CHECK_FALSE(chooser.from_cookie(from("a", {"junction_routes=new"})));
  CHECK_FALSE(chooser.from_cookie(from("a")));
  for (int i = 0; i < 50; ++i) CHECK(chooser(from("a", {"junction_route=new"})) == 0);
}

}  // namespace
}  // namespace junction::test
