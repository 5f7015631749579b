// What a shadow route compares (gateway/server/shadow_diff.hpp): the first difference of each
// kind, what is ignored by default and by the route's keys, JSON by structure, bytes otherwise.
#include "gateway/server/shadow_diff.hpp"

#include <catch2/catch.hpp>
#include <string>

namespace junction::gateway {
namespace {

CapturedAnswer json_answer(std::string body, int status = 200) {
  return {status,
          {{"Content-Type", "application/json"}, {"Date", "Sun, 06 Dec 2026"}},
          std::move(body)};
}

ShadowCompareOptions ignoring(std::vector<std::string> paths) {
  ShadowCompareOptions options;
  for (const auto& text : paths) {
    std::string error;
    auto path = JsonPath::parse(text, error);
    REQUIRE(path);
    options.ignore_json.push_back(*path);
  }
  return options;
}

TEST_CASE("Shadow diff: equal answers do not differ; Date and the like never count", "[shadow]") {
  auto a = json_answer(R"({"id": 1, "items": [1, 2]})");
  auto b = json_answer(R"({"items":[1,2],"id":1})");  // another order and spacing: same JSON
  b.headers = {{"content-type", "application/json"},
               {"Date", "Mon, 07 Dec 2026"},
               {"Server", "other"},
               {"Content-Length", "21"}};
  CHECK_FALSE(compare_answers(a, b, {}).any());
}

TEST_CASE("Shadow diff: the first differing JSON path, with both values", "[shadow]") {
  auto a = json_answer(R"({"orders": [{"id": 1, "quantity": 2}, {"id": 2, "quantity": 3}]})");
  auto b = json_answer(R"({"orders": [{"id": 1, "quantity": 2}, {"id": 2, "quantity": "3"}]})");
  auto d = compare_answers(a, b, {});
  CHECK(d.any());
  CHECK_FALSE(d.status);
  CHECK(d.header.empty());
  CHECK(d.body == "$.orders[1].quantity");
  CHECK(d.primary == "3");
  CHECK(d.shadow == "\"3\"");

  // 1 and 1.0 are the same number; a missing key is a difference.
  CHECK_FALSE(compare_answers(json_answer(R"({"n": 1})"), json_answer(R"({"n": 1.0})"), {}).any());
  auto missing =
      compare_answers(json_answer(R"({"n": 1, "m": 2})"), json_answer(R"({"n": 1})"), {});
  CHECK(missing.body == "$.m");
  CHECK(missing.shadow == "(absent)");
  auto extra = compare_answers(json_answer(R"([1])"), json_answer(R"([1, 2])"), {});
  CHECK(extra.body == "$[1]");
}

TEST_CASE("Shadow diff: ignored JSON paths, with wildcards", "[shadow]") {
  auto a = json_answer(R"({"generated_at": "10:00", "orders": [{"at": 1, "id": 1}], "q": 1})");
  auto b = json_answer(R"({"generated_at": "10:01", "orders": [{"at": 2, "id": 1}], "q": 1})");
  CHECK(compare_answers(a, b, {}).body == "$.generated_at");
  CHECK(compare_answers(a, b, ignoring({"$.generated_at"})).body == "$.orders[0].at");
  CHECK_FALSE(compare_answers(a, b, ignoring({"$.generated_at", "$.orders[*].at"})).any());
  CHECK_FALSE(compare_answers(a, b, ignoring({"$.generated_at", "$.orders"})).any());

  std::string error;
  CHECK_FALSE(JsonPath::parse("generated_at", error));
  CHECK_FALSE(JsonPath::parse("$.orders[x]", error));
  CHECK_FALSE(JsonPath::parse("$..a", error));
  CHECK(JsonPath::parse("$.meta.*", error));
}

TEST_CASE("Shadow diff: status, then the first differing header", "[shadow]") {
  auto a = json_answer("{}");
  auto b = json_answer("{}", 404);
  auto d = compare_answers(a, b, {});
  CHECK(d.status);
  CHECK(d.primary == "200");
  CHECK(d.shadow == "404");

  a.headers.emplace_back("X-Frame-Options", "DENY");
  b = json_answer("{}");
  d = compare_answers(a, b, {});
  CHECK(d.header == "x-frame-options");
  CHECK(d.primary == "DENY");
  CHECK(d.shadow == "(absent)");
  ShadowCompareOptions options;
  options.ignore_headers = {"x-frame-options"};
  CHECK_FALSE(compare_answers(a, b, options).any());

  // Set-Cookie is compared by the cookies' names: their values differ by design.
  a = json_answer("{}");
  b = json_answer("{}");
  a.headers.emplace_back("Set-Cookie", "csrftoken=abc; Path=/");
  b.headers.emplace_back("Set-Cookie", "csrftoken=xyz; Path=/");
  CHECK_FALSE(compare_answers(a, b, {}).any());
  b.headers.back().second = "session=xyz";
  CHECK(compare_answers(a, b, {}).header == "set-cookie");
}

TEST_CASE("Shadow diff: other bodies by bytes, after the scrubbers", "[shadow]") {
  CapturedAnswer a{200,
                   {{"Content-Type", "text/html"}},
                   R"(<form><input name="csrfmiddlewaretoken" value="abc123"><p>Order 7</p>)"};
  CapturedAnswer b = a;
  b.body = R"(<form><input name="csrfmiddlewaretoken" value="zz9"><p>Order 7</p>)";
  auto d = compare_answers(a, b, {});
  CHECK(d.body == "byte 47");
  CHECK(d.primary.find("value=\"abc123\"") != std::string::npos);
  ShadowCompareOptions options;
  options.scrub.emplace_back(R"(csrfmiddlewaretoken" value="[^"]+")");
  CHECK_FALSE(compare_answers(a, b, options).any());
  b.body += "<p>extra</p>";
  CHECK(compare_answers(a, b, options).body.starts_with("byte "));

  // JSON that does not parse is compared as bytes; binary bytes are shown escaped.
  auto x = json_answer("{not json");
  auto y = json_answer("{not json\x01");
  auto bytes = compare_answers(x, y, {});
  CHECK(bytes.body == "byte 9");
  CHECK(bytes.shadow == "{not json\\x01");
}

TEST_CASE("Shadow diff: JSON media types", "[shadow]") {
  CHECK(is_json_type("application/json"));
  CHECK(is_json_type("Application/JSON; charset=utf-8"));
  CHECK(is_json_type("application/problem+json"));
  CHECK_FALSE(is_json_type("text/html"));
  CHECK_FALSE(is_json_type("json"));
}

}  // namespace
}  // namespace junction::gateway
