#include "http1/response.hpp"

#include <algorithm>
#include <charconv>

#include "gateway/fields.hpp"
#include "gateway/http_date.hpp"
#include "gateway/text.hpp"

namespace junction::http1 {

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Content";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";
  }
}

namespace {

void append_number(std::string& out, std::uint64_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, end);
}

}  // namespace

void append_response_head(std::string& out, gateway::HttpVersion version, int status,
                          const gateway::Headers& fields, Framing framing, bool keep_alive,
                          std::string_view hsts,
                          std::pair<std::string_view, std::string_view> request_id) {
  // We answer HTTP/1.0 requests as HTTP/1.1 (RFC 9110 §6.2: the highest minor version we
  // support), framing their bodies so a 1.0 client can read them.
  (void)version;
  out.append("HTTP/1.1 ");
  append_number(out, static_cast<unsigned>(status));
  out.push_back(' ');
  out.append(reason_phrase(status));
  out.append("\r\n");
  bool has_date = false;
  bool has_server = false;
  bool has_hsts = hsts.empty();
  bool has_request_id = request_id.second.empty();
  for (const auto& [name, value] : fields) {
    if (gateway::is_hop_by_hop(name) || gateway::iequals(name, "content-length")) continue;
    has_date = has_date || gateway::iequals(name, "date");
    has_server = has_server || gateway::iequals(name, "server");
    has_hsts = has_hsts || gateway::iequals(name, "strict-transport-security");
    has_request_id = has_request_id || gateway::iequals(name, request_id.first);
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
  }
  if (!has_date) {
    out.append("Date: ");
    out.append(gateway::http_date_now());
    out.append("\r\n");
  }
  if (!has_server) out.append("Server: junction\r\n");
  if (!has_hsts) {
    out.append("Strict-Transport-Security: ");
    out.append(hsts);
    out.append("\r\n");
  }
  if (!has_request_id) {
    out.append(request_id.first);
    out.append(": ");
    out.append(request_id.second);
    out.append("\r\n");
  }
  switch (framing.kind) {
    case Framing::Kind::content_length:
      out.append("Content-Length: ");
      append_number(out, framing.length);
      out.append("\r\n");
      break;
    case Framing::Kind::chunked:
      out.append("Transfer-Encoding: chunked\r\n");
      break;
    case Framing::Kind::until_close:
    case Framing::Kind::none:
      break;
  }
  if (!keep_alive) {
    out.append("Connection: close\r\n");
  } else if (version.minor == 0) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
}

void append_chunk_size(std::string& out, std::uint64_t size) {
  char digits[16];
  auto end = std::to_chars(digits, digits + sizeof digits, size, 16).ptr;
  out.append(digits, end);
  out.append("\r\n");
}

void append_chunk(std::string& out, std::string_view data) {
  if (data.empty()) return;  // an empty chunk would end the body
  append_chunk_size(out, data.size());
  out.append(data);
  out.append("\r\n");
}

void append_last_chunk(std::string& out, const gateway::Headers& trailers) {
  out.append("0\r\n");
  for (const auto& [name, value] : trailers) {
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
  }
  out.append("\r\n");
}

std::size_t append_error_response(std::string& out, int status, std::string_view detail,
                                  std::pair<std::string_view, std::string_view> request_id) {
  std::string body(reason_phrase(status));
  if (!detail.empty()) {
    body += ": ";
    body += detail;
  }
  body += '\n';
  gateway::Headers fields{{"Content-Type", "text/plain; charset=utf-8"}};
  append_response_head(out, {1, 1}, status, fields, {Framing::Kind::content_length, body.size()},
                       false, {}, request_id);
  out.append(body);
  return body.size();
}

}  // namespace junction::http1
