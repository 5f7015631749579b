// The APP argument: MODULE:ATTR with dotted names, "()" factories, PREFIX= mounts, the
// wsgi:/asgi: interface prefixes, and the one-line error for each malformed form.
#include "bridge/app_spec.hpp"

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

namespace junction::bridge {
namespace {

using Names = std::vector<std::string>;

// The spec parsed from `text`, checking that success and the error message agree.
std::optional<AppSpec> parse(const std::string& text) {
  std::string error;
  auto spec = parse_app_spec(text, error);
  if (spec) {
    CHECK(error.empty());
  } else {
    CHECK_FALSE(error.empty());
  }
  return spec;
}

// The message parse_app_spec gives for `text`; "" when it parses.
std::string error_of(const std::string& text) {
  std::string error;
  auto spec = parse_app_spec(text, error);
  return spec ? std::string() : error;
}

TEST_CASE("parse_app_spec: MODULE:ATTR", "[app_spec]") {
  auto spec = parse("hello:app");
  REQUIRE(spec);
  CHECK(spec->text == "hello:app");
  CHECK(spec->prefix == "/");
  CHECK(spec->interface == Interface::detect);
  CHECK(spec->module == "hello");
  CHECK(spec->attr == Names{"app"});
  CHECK_FALSE(spec->call_factory);
  CHECK(spec->target() == "hello:app");
}

TEST_CASE("parse_app_spec: dotted module and attribute paths", "[app_spec]") {
  auto spec = parse("mysite.wsgi:application");
  REQUIRE(spec);
  CHECK(spec->module == "mysite.wsgi");
  CHECK(spec->attr == Names{"application"});

  spec = parse("pkg.sub.mod:holder.inner.app");
  REQUIRE(spec);
  CHECK(spec->module == "pkg.sub.mod");
  CHECK(spec->attr == Names{"holder", "inner", "app"});
  CHECK(spec->target() == "pkg.sub.mod:holder.inner.app");

  spec = parse("_private_1:_App2");
  REQUIRE(spec);
  CHECK(spec->module == "_private_1");
  CHECK(spec->attr == Names{"_App2"});
}

TEST_CASE("parse_app_spec: non-ASCII identifiers are left for Python to judge", "[app_spec]") {
  auto spec = parse("caf\xc3\xa9:\xc3\xa9t\xc3\xa9");
  REQUIRE(spec);
  CHECK(spec->module == "caf\xc3\xa9");
  CHECK(spec->attr == Names{"\xc3\xa9t\xc3\xa9"});
}

TEST_CASE("parse_app_spec: ATTR() asks for a factory call", "[app_spec]") {
  auto spec = parse("app.main:create_app()");
  REQUIRE(spec);
  CHECK(spec->call_factory);
  CHECK(spec->module == "app.main");
  CHECK(spec->attr == Names{"create_app"});
  CHECK(spec->text == "app.main:create_app()");
  CHECK(spec->target() == "app.main:create_app");  // without the "()"

  spec = parse("m:factories.make()");
  REQUIRE(spec);
  CHECK(spec->call_factory);
  CHECK(spec->attr == Names{"factories", "make"});
}

TEST_CASE("parse_app_spec: PREFIX= mounts the app under a path", "[app_spec]") {
  auto spec = parse("/api=svc.api:app");
  REQUIRE(spec);
  CHECK(spec->prefix == "/api");
  CHECK(spec->module == "svc.api");
  CHECK(spec->attr == Names{"app"});
  CHECK(spec->text == "/api=svc.api:app");
  CHECK(spec->target() == "svc.api:app");  // the prefix is not part of the target

  spec = parse("/api/v1=m:app");
  REQUIRE(spec);
  CHECK(spec->prefix == "/api/v1");
}

TEST_CASE("parse_app_spec: trailing slashes of the prefix are trimmed", "[app_spec]") {
  auto spec = parse("/api/=m:app");
  REQUIRE(spec);
  CHECK(spec->prefix == "/api");

  spec = parse("/api///=m:app");
  REQUIRE(spec);
  CHECK(spec->prefix == "/api");

  // The root stays the root.
  spec = parse("/=m:app");
  REQUIRE(spec);
  CHECK(spec->prefix == "/");

  spec = parse("//=m:app");
  REQUIRE(spec);
  CHECK(spec->prefix == "/");
}

TEST_CASE("parse_app_spec: wsgi: and asgi: force the interface", "[app_spec]") {
  auto spec = parse("wsgi:hello:app");
  REQUIRE(spec);
  CHECK(spec->interface == Interface::wsgi);
  CHECK(spec->module == "hello");
  CHECK(spec->attr == Names{"app"});
  CHECK(spec->target() == "hello:app");

  spec = parse("asgi:svc.main:make_app()");
  REQUIRE(spec);
  CHECK(spec->interface == Interface::asgi);
  CHECK(spec->module == "svc.main");
  CHECK(spec->attr == Names{"make_app"});
  CHECK(spec->call_factory);
  CHECK(spec->target() == "svc.main:make_app");
}

TEST_CASE("parse_app_spec: PREFIX= combines with an interface", "[app_spec]") {
  auto spec = parse("/ws/=asgi:chat.app:application");
  REQUIRE(spec);
  CHECK(spec->prefix == "/ws");
  CHECK(spec->interface == Interface::asgi);
  CHECK(spec->module == "chat.app");
  CHECK(spec->attr == Names{"application"});
  CHECK(spec->text == "/ws/=asgi:chat.app:application");

  spec = parse("/legacy=wsgi:old:create()");
  REQUIRE(spec);
  CHECK(spec->prefix == "/legacy");
  CHECK(spec->interface == Interface::wsgi);
  CHECK(spec->module == "old");
  CHECK(spec->attr == Names{"create"});
  CHECK(spec->call_factory);
}

// A module named wsgi or asgi is common (gunicorn's own docs use `gunicorn wsgi:app`), and with
// only one colon the text cannot be an interface prefix followed by MODULE:ATTR.
TEST_CASE("parse_app_spec: a module named wsgi or asgi is a module", "[app_spec]") {
  auto spec = parse("wsgi:app");
  REQUIRE(spec);
  CHECK(spec->interface == Interface::detect);
  CHECK(spec->module == "wsgi");
  CHECK(spec->attr == Names{"app"});

  spec = parse("/api=asgi:application");
  REQUIRE(spec);
  CHECK(spec->prefix == "/api");
  CHECK(spec->interface == Interface::detect);
  CHECK(spec->module == "asgi");
  CHECK(spec->attr == Names{"application"});

  // With the prefix spelled out, the module may still be called wsgi.
  spec = parse("wsgi:wsgi:app");
  REQUIRE(spec);
  CHECK(spec->interface == Interface::wsgi);
  CHECK(spec->module == "wsgi");
  CHECK(spec->attr == Names{"app"});
}

TEST_CASE("parse_app_spec: a module alone names its app or application", "[app_spec]") {
  auto spec = parse("mysite.wsgi");
  REQUIRE(spec);
  CHECK(spec->module == "mysite.wsgi");
  CHECK(spec->attr.empty());
  CHECK(spec->target() == "mysite.wsgi");
  spec = parse("/api=hello");
  REQUIRE(spec);
  CHECK(spec->prefix == "/api");
  CHECK(spec->module == "hello");
  CHECK(spec->attr.empty());
  CHECK(error_of("") == "bad APP '': '' is not a module name (expected MODULE[:ATTR])");
  CHECK(error_of("a..b") == "bad APP 'a..b': 'a..b' is not a module name (expected MODULE[:ATTR])");
  CHECK_FALSE(parse("asgi:"));
}

TEST_CASE("parse_app_spec: an empty or malformed attribute is an error", "[app_spec]") {
  CHECK(error_of("hello:") ==
        "bad APP 'hello:': '' is not an attribute name (expected MODULE:ATTR)");
  CHECK(error_of("hello:()") ==
        "bad APP 'hello:()': '' is not an attribute name (expected MODULE:ATTR)");
  CHECK(error_of("hello:make(") ==
        "bad APP 'hello:make(': 'make(' is not an attribute name (expected MODULE:ATTR)");
  CHECK(error_of("hello:make(1)") ==
        "bad APP 'hello:make(1)': 'make(1)' is not an attribute name (expected MODULE:ATTR)");
  CHECK(error_of("hello:a..b") ==
        "bad APP 'hello:a..b': 'a..b' is not an attribute name (expected MODULE:ATTR)");
  CHECK(error_of("hello:.app") ==
        "bad APP 'hello:.app': '.app' is not an attribute name (expected MODULE:ATTR)");
  CHECK(error_of("hello:app.") ==
        "bad APP 'hello:app.': 'app.' is not an attribute name (expected MODULE:ATTR)");
  CHECK(error_of("hello:1app") ==
        "bad APP 'hello:1app': '1app' is not an attribute name (expected MODULE:ATTR)");
  CHECK(error_of("hello:my-app") ==
        "bad APP 'hello:my-app': 'my-app' is not an attribute name (expected MODULE:ATTR)");
  CHECK(error_of("hello:a:b") ==
        "bad APP 'hello:a:b': 'a:b' is not an attribute name (expected MODULE:ATTR)");
  CHECK(error_of("hello:app ") ==
        "bad APP 'hello:app ': 'app ' is not an attribute name (expected MODULE:ATTR)");
}

TEST_CASE("parse_app_spec: a malformed module name is an error", "[app_spec]") {
  CHECK(error_of(":app") == "bad APP ':app': '' is not a module name");
  CHECK(error_of("my-site:app") == "bad APP 'my-site:app': 'my-site' is not a module name");
  CHECK(error_of("9lives:app") == "bad APP '9lives:app': '9lives' is not a module name");
  CHECK(error_of(".rel:app") == "bad APP '.rel:app': '.rel' is not a module name");
  CHECK(error_of("a..b:app") == "bad APP 'a..b:app': 'a..b' is not a module name");
  CHECK(error_of("pkg.:app") == "bad APP 'pkg.:app': 'pkg.' is not a module name");
  CHECK(error_of("path/to/mod:app") ==
        "bad APP 'path/to/mod:app': 'path/to/mod' is not a module name");
  CHECK(error_of("mod.py:app") == "");  // a module "py" inside package "mod": Python decides
}

TEST_CASE("parse_app_spec: the mount prefix must be a plain absolute path", "[app_spec]") {
  CHECK(error_of("api=m:app") == "bad APP 'api=m:app': the mount prefix must start with '/'");
  CHECK(error_of("=m:app") == "bad APP '=m:app': the mount prefix must start with '/'");
  CHECK(error_of("wsgi:/api=m:app") ==
        "bad APP 'wsgi:/api=m:app': the mount prefix must start with '/'");
  CHECK(error_of("/a?b=m:app") == "bad APP '/a?b=m:app': the mount prefix must be a plain path");
  CHECK(error_of("/a#b=m:app") == "bad APP '/a#b=m:app': the mount prefix must be a plain path");
  CHECK(error_of("/a%20b=m:app") ==
        "bad APP '/a%20b=m:app': the mount prefix must be a plain path");
  CHECK(error_of("/a b=m:app") == "bad APP '/a b=m:app': the mount prefix must be a plain path");
}

}  // namespace
}  // namespace junction::bridge
