// Requests a server must refuse, each with the status it must answer: one list for each limit
// (crossed with small_limits()) and one for the request-smuggling vectors (default limits).
// Every request targets "/" and is otherwise complete. Header-only.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <vector>

#include "gateway/connection.hpp"
#include "gateway/options.hpp"

namespace junction::test {

struct BadRequest {
  const char* name;
  std::string request;
  int status;
};

// Small limits, so each is easy to cross.
inline gateway::Limits small_limits() {
  return {.request_line = 64,
          .header_fields = 4,
          .header_field_size = 64,
          .header_block_size = 256,
          .max_body_size = 16};
}

inline std::string repeat(std::string_view piece, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += piece;
  return out;
}

inline std::string many_fields(int count, std::string_view value) {
  std::string out;
  for (int i = 0; i < count; ++i) out += fmt::format("X-F{}: {}\r\n", i, value);
  return out;
}

inline const std::vector<BadRequest>& limit_vectors() {
  static const std::vector<BadRequest> vectors = {
      {"request line too long", "GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n",
       414},
      {"too many fields", "GET / HTTP/1.1\r\nHost: a\r\n" + many_fields(4, "v") + "\r\n", 431},
      {"field value too large",
       "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(80, 'b') + "\r\n\r\n", 431},
      {"field name too large",
       "GET / HTTP/1.1\r\nHost: a\r\nX-" + std::string(80, 'n') + ": v\r\n\r\n", 431},
      {"content-length over max_body_size",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n\r\n", 413},
      {"chunked body growing over max_body_size",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
       "a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n",
       413},
      {"one chunk over max_body_size",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
       "20\r\n0123456789abcdef0123456789abcdef\r\n0\r\n\r\n",
       413},
      {"too many trailer fields",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n" +
           many_fields(5, "v") + "\r\n",
       431},
  };
  return vectors;
}

// RFC 9112 §6.3, §7.1, §5: framing and field syntax a front end must refuse, not repair.
inline const std::vector<BadRequest>& smuggling_vectors() {
  static const std::string post = "POST / HTTP/1.1\r\nHost: a\r\n";
  static const std::vector<BadRequest> vectors = {
      {"Content-Length with Transfer-Encoding",
       post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"Transfer-Encoding with Content-Length",
       post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400},
      {"two different Content-Length", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
       400},
      {"two identical Content-Length", post + "Content-Length: 5\r\nContent-Length: 5\r\n\r\n",
       400},
      {"Content-Length abc", post + "Content-Length: abc\r\n\r\n", 400},
      {"Content-Length -1", post + "Content-Length: -1\r\n\r\n", 400},
      {"Content-Length 1,2", post + "Content-Length: 1,2\r\n\r\n", 400},
      {"Content-Length 5,5", post + "Content-Length: 5,5\r\n\r\nhello", 400},
      {"Content-Length ' 12 3'", post + "Content-Length:  12 3\r\n\r\n", 400},
      {"Content-Length +5", post + "Content-Length: +5\r\n\r\nhello", 400},
      {"Content-Length overflowing 64 bits",
       post + "Content-Length: 99999999999999999999999\r\n\r\n", 400},
      {"Transfer-Encoding gzip, chunked",
       post + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
      {"Transfer-Encoding gzip", post + "Transfer-Encoding: gzip\r\n\r\n", 501},
      {"Transfer-Encoding chunked, gzip",
       post + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400},
      {"Transfer-Encoding chunked, chunked",
       post + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400},
      {"Transfer-Encoding chunked twice",
       post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"Transfer-Encoding chunked then gzip in two fields",
       post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n", 400},
      {"Transfer-Encoding on HTTP/1.0",
       "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"chunk size zz", post + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400},
      {"chunk size too long",
       post + "Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\nhello\r\n0\r\n\r\n", 400},
      {"chunk size with a sign", post + "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n", 400},
      {"chunk extension with a control character",
       post + "Transfer-Encoding: chunked\r\n\r\n5;\x01\r\nhello\r\n0\r\n\r\n", 400},
      {"chunk extension with DEL",
       post + "Transfer-Encoding: chunked\r\n\r\n5;a=\x7f\r\nhello\r\n0\r\n\r\n", 400},
      {"chunk extension with a bare LF",
       post + "Transfer-Encoding: chunked\r\n\r\n5;a\nhello\r\n0\r\n\r\n", 400},
      {"chunk data longer than its size",
       post + "Transfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n", 400},
      {"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400},
      {"obs-fold with a tab", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400},
      {"bare CR in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
      {"bare LF ending a field", "GET / HTTP/1.1\r\nHost: a\r\nX: a\nY: b\r\n\r\n", 400},
      {"\\x01 in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n", 400},
      {"\\x7f in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fz\r\n\r\n", 400},
      {"NUL in a value", std::string("GET / HTTP/1.1\r\nHost: a\r\nX: a") + '\0' + "z\r\n\r\n",
       400},
      {"whitespace before the colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
      {"tab before the colon", "GET / HTTP/1.1\r\nHost: a\r\nX\t: b\r\n\r\n", 400},
      {"missing Host on HTTP/1.1", "GET / HTTP/1.1\r\nX: a\r\n\r\n", 400},
      {"duplicate Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"duplicate identical Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},
      {"duplicate Host on HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"Expect something-else", "GET / HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\n\r\n", 417},
      {"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501},
      {"target without a leading slash", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"absolute-form with an unknown scheme", "GET ftp://a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"absolute-form without authority", "GET http:///b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"asterisk-form on GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"space in the target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
  };
  return vectors;
}

}  // namespace junction::test
