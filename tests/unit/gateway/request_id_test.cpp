// Request IDs: kept from a trusted proxy when sane, otherwise new; one field carries the ID.
#include "gateway/request_id.hpp"

#include <catch2/catch.hpp>
#include <set>

#include "gateway/text.hpp"

namespace junction::gateway {
namespace {

std::size_t fields_named(const RequestHead& head, std::string_view name) {
  std::size_t n = 0;
  for (const auto& [field, value] : head.headers) n += iequals(field, name) ? 1 : 0;
  return n;
}

std::string value_of(const RequestHead& head, std::string_view name) {
  for (const auto& [field, value] : head.headers)
    if (iequals(field, name)) return value;
  return {};
}

TEST_CASE("request id: new ones are 32 hex digits and differ", "[request_id]") {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = new_request_id();
    REQUIRE(id.size() == 32);
    REQUIRE(id.find_first_not_of("0123456789abcdef") == std::string::npos);
    seen.insert(id);
  }
  CHECK(seen.size() == 1000);
}

TEST_CASE("request id: what a kept ID may be", "[request_id]") {
  CHECK(valid_request_id("f3b2c1d0-aaaa-bbbb-cccc-0123456789ab"));
  CHECK(valid_request_id("Root=1-67891233-abcdef012345678912345678"));  // AWS ALB's
  CHECK_FALSE(valid_request_id(""));
  CHECK_FALSE(valid_request_id("two words"));
  CHECK_FALSE(valid_request_id("line\nbreak"));
  CHECK_FALSE(valid_request_id("caf\xc3\xa9"));
  CHECK(valid_request_id(std::string(kMaxRequestId, 'a')));
  CHECK_FALSE(valid_request_id(std::string(kMaxRequestId + 1, 'a')));
}

TEST_CASE("request id: a trusted proxy's ID is kept, the client's is not", "[request_id]") {
  RequestHead head;
  head.headers = {{"Host", "x"}, {"X-Request-Id", "abc-123"}};
  SECTION("trusted") {
    assign_request_id(head, "X-Request-ID", true);
    CHECK(head.request_id == "abc-123");
  }
  SECTION("untrusted: replaced, and the app sees the new one only") {
    assign_request_id(head, "X-Request-ID", false);
    CHECK(head.request_id.size() == 32);
    CHECK(value_of(head, "x-request-id") == head.request_id);
  }
  CHECK(fields_named(head, "X-Request-ID") == 1);
  CHECK(head.headers.front().first == "Host");
}

TEST_CASE("request id: a bad or repeated field from a trusted proxy", "[request_id]") {
  RequestHead head;
  SECTION("invalid: a new one") {
    head.headers = {{"x-request-id", "has space"}};
    assign_request_id(head, "X-Request-ID", true);
    CHECK(head.request_id.size() == 32);
  }
  SECTION("repeated: the last one counts (the nearest proxy's), one field stays") {
    head.headers = {{"x-request-id", "first"}, {"X-Request-ID", "second"}};
    assign_request_id(head, "X-Request-ID", true);
    CHECK(head.request_id == "second");
  }
  SECTION("absent: a new one, in a field of the configured name") {
    assign_request_id(head, "X-Correlation-ID", true);
    CHECK(head.request_id.size() == 32);
    REQUIRE(head.headers.size() == 1);
    CHECK(head.headers[0].first == "X-Correlation-ID");
  }
  CHECK(fields_named(head, "x-request-id") <= 1);
  CHECK(value_of(head, head.headers.back().first) == head.request_id);
}

}  // namespace
}  // namespace junction::gateway
