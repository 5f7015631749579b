#include "gateway/server/static_rules.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <iterator>
#include <limits>

#include "gateway/text.hpp"

namespace junction::gateway::statics {
namespace {

constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  c = ascii_lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Percent-decodes one path segment (RFC 3986 §2.1) into `out`; false when an escape is bad or
// the segment decodes to a character no file name below the root may hold.
bool decode_segment(std::string_view segment, std::string& out) {
  for (std::size_t i = 0; i < segment.size(); ++i) {
    char c = segment[i];
    if (c == '%') {
      if (i + 2 >= segment.size()) return false;
      int high = hex_value(segment[i + 1]);
      int low = hex_value(segment[i + 2]);
      if (high < 0 || low < 0) return false;
      c = static_cast<char>(high * 16 + low);
      i += 2;
    }
    auto byte = static_cast<unsigned char>(c);
    // An encoded '/' would join segments behind our back; '\' is a separator elsewhere (and to
    // some proxies in front of us); NUL would cut the name short in the kernel.
    if (c == '/' || c == '\\' || byte < 0x20 || byte == 0x7f) return false;
    out.push_back(c);
  }
  return true;
}

struct MediaType {
  std::string_view extension;
  std::string_view type;
};

// The common web types (IANA media types; RFC 9239 for JavaScript, RFC 8081 for fonts).
// Text types say their charset: browsers otherwise guess, and a guess is an XSS vector.
constexpr MediaType kMediaTypes[] = {
    {"7z", "application/x-7z-compressed"},
    {"apng", "image/apng"},
    {"atom", "application/atom+xml"},
    {"avif", "image/avif"},
    {"bmp", "image/bmp"},
    {"bz2", "application/x-bzip2"},
    {"cjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"eot", "application/vnd.ms-fontobject"},
    {"epub", "application/epub+zip"},
    {"flac", "audio/flac"},
    {"gif", "image/gif"},
    {"gz", "application/gzip"},
    {"htm", "text/html; charset=utf-8"},
    {"html", "text/html; charset=utf-8"},
    {"ico", "image/x-icon"},
    {"ics", "text/calendar; charset=utf-8"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"jsonld", "application/ld+json"},
    {"jxl", "image/jxl"},
    {"m4a", "audio/mp4"},
    {"m4v", "video/mp4"},
    {"map", "application/json"},
    {"md", "text/markdown; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"mov", "video/quicktime"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"mpeg", "video/mpeg"},
    {"oga", "audio/ogg"},
    {"ogg", "audio/ogg"},
    {"ogv", "video/ogg"},
    {"opus", "audio/opus"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"rss", "application/rss+xml"},
    {"rtf", "application/rtf"},
    {"svg", "image/svg+xml"},
    {"svgz", "image/svg+xml"},
    {"tar", "application/x-tar"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"toml", "application/toml"},
    {"ts", "video/mp2t"},
    {"ttf", "font/ttf"},
    {"txt", "text/plain; charset=utf-8"},
    {"vtt", "text/vtt; charset=utf-8"},
    {"wasm", "application/wasm"},
    {"wav", "audio/wav"},
    {"weba", "audio/webm"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json"},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xhtml", "application/xhtml+xml"},
    {"xml", "application/xml"},
    {"xz", "application/x-xz"},
    {"yaml", "application/yaml"},
    {"yml", "application/yaml"},
    {"zip", "application/zip"},
};

constexpr bool sorted_by_extension() {
  for (std::size_t i = 1; i < std::size(kMediaTypes); ++i)
    if (!(kMediaTypes[i - 1].extension < kMediaTypes[i].extension)) return false;
  return true;
}
static_assert(sorted_by_extension(), "kMediaTypes must stay sorted for the binary search");

constexpr std::array<std::string_view, 7> kDays{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> kLongDays{"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                    "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// A left-to-right reader for the three date forms.
class DateReader {
 public:
  explicit DateReader(std::string_view text) : text_(text) {}

  bool literal(std::string_view s) noexcept {
    if (!text_.starts_with(s)) return false;
    text_.remove_prefix(s.size());
    return true;
  }
  // Exactly `n` digits (a leading space stands for a zero when `space_pad`).
  bool digits(std::size_t n, int& value, bool space_pad = false) noexcept {
    if (text_.size() < n) return false;
    value = 0;
    for (std::size_t i = 0; i < n; ++i) {
      char c = text_[i];
      if (space_pad && i == 0 && c == ' ') continue;
      if (c < '0' || c > '9') return false;
      value = value * 10 + (c - '0');
    }
    text_.remove_prefix(n);
    return true;
  }
  template <std::size_t N>
  bool one_of(const std::array<std::string_view, N>& names, int* index = nullptr) noexcept {
    for (std::size_t i = 0; i < N; ++i) {
      if (literal(names[i])) {
        if (index) *index = static_cast<int>(i);
        return true;
      }
    }
    return false;
  }
  // "HH:MM:SS"
  bool time_of_day(std::tm& tm) noexcept {
    return digits(2, tm.tm_hour) && literal(":") && digits(2, tm.tm_min) && literal(":") &&
           digits(2, tm.tm_sec) && tm.tm_hour < 24 && tm.tm_min < 60 && tm.tm_sec <= 60;
  }
  bool done() const noexcept { return text_.empty(); }

 private:
  std::string_view text_;
};

std::optional<std::time_t> to_time(std::tm& tm, int year) noexcept {
  if (tm.tm_mday < 1 || tm.tm_mday > 31 || year < 1900) return std::nullopt;
  tm.tm_year = year - 1900;
  return ::timegm(&tm);
}

// RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
std::optional<double> parse_qvalue(std::string_view text) noexcept {
  if (text.empty() || text.size() > 5 || (text[0] != '0' && text[0] != '1')) return std::nullopt;
  double value = text[0] - '0';
  if (text.size() == 1) return value;
  if (text[1] != '.') return std::nullopt;
  double scale = 0.1;
  for (char c : text.substr(2)) {
    if (c < '0' || c > '9' || (text[0] == '1' && c != '0')) return std::nullopt;
    value += (c - '0') * scale;
    scale /= 10;
  }
  return value;
}

// Digits only; a number too large for 64 bits saturates (it is past any file's end anyway).
std::optional<std::uint64_t> parse_position(std::string_view text) noexcept {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    auto digit = static_cast<std::uint64_t>(c - '0');
    value = value > (kMax - digit) / 10 ? kMax : value * 10 + digit;
  }
  return value;
}

}  // namespace

std::optional<RelativePath> relative_path(std::string_view path, std::string_view prefix) {
  if (!prefix.empty() && prefix != "/") {
    if (!path.starts_with(prefix)) return std::nullopt;
    path.remove_prefix(prefix.size());
  }
  RelativePath out;
  if (path.empty()) return out;  // "/static" itself: the directory, without its slash
  if (path.front() != '/') return std::nullopt;
  path.remove_prefix(1);
  if (!path.empty() && path.back() == '/') {
    out.directory = true;
    path.remove_suffix(1);
  }
  if (path.empty()) {
    out.directory = true;
    return out;
  }
  while (true) {
    auto end = path.find('/');
    auto segment = path.substr(0, end);
    if (segment.empty()) return std::nullopt;  // "//": no file has an empty name
    auto start = out.path.size();
    if (start > 0) out.path.push_back('/'), ++start;
    if (!decode_segment(segment, out.path)) return std::nullopt;
    // RFC 3986 §3.3 dot-segments, however they were spelled ("%2e%2e" too).
    std::string_view decoded = std::string_view(out.path).substr(start);
    if (decoded == "." || decoded == "..") return std::nullopt;
    if (end == std::string_view::npos) break;
    path.remove_prefix(end + 1);
  }
  return out;
}

std::string_view content_type(std::string_view file_name) noexcept {
  constexpr std::string_view kDefault = "application/octet-stream";
  auto slash = file_name.rfind('/');
  if (slash != std::string_view::npos) file_name.remove_prefix(slash + 1);
  auto dot = file_name.rfind('.');
  if (dot == std::string_view::npos) return kDefault;
  auto extension = file_name.substr(dot + 1);
  std::array<char, 16> lower{};
  if (extension.empty() || extension.size() > lower.size()) return kDefault;
  std::transform(extension.begin(), extension.end(), lower.begin(), ascii_lower);
  std::string_view key(lower.data(), extension.size());
  auto end = std::end(kMediaTypes);
  auto it =
      std::lower_bound(std::begin(kMediaTypes), end, key,
                       [](const MediaType& m, std::string_view k) { return m.extension < k; });
  return it != end && it->extension == key ? it->type : kDefault;
}

std::string make_etag(std::uint64_t size, std::int64_t mtime_ns, std::string_view coding) {
  if (coding.empty()) return fmt::format("\"{:x}-{:x}\"", size, mtime_ns);
  return fmt::format("\"{:x}-{:x}-{}\"", size, mtime_ns, coding);
}

std::optional<std::time_t> parse_http_date(std::string_view text) noexcept {
  text = trim(text);
  std::tm tm{};
  int year = 0;
  {  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    DateReader r(text);
    if (r.one_of(kDays) && r.literal(", ") && r.digits(2, tm.tm_mday) && r.literal(" ") &&
        r.one_of(kMonths, &tm.tm_mon) && r.literal(" ") && r.digits(4, year) && r.literal(" ") &&
        r.time_of_day(tm) && r.literal(" GMT") && r.done())
      return to_time(tm, year);
  }
  {  // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
    DateReader r(text);
    tm = {};
    if (r.one_of(kLongDays) && r.literal(", ") && r.digits(2, tm.tm_mday) && r.literal("-") &&
        r.one_of(kMonths, &tm.tm_mon) && r.literal("-") && r.digits(2, year) && r.literal(" ") &&
        r.time_of_day(tm) && r.literal(" GMT") && r.done())
      // §5.6.7: a two-digit year more than 50 years ahead is in the past century; for a
      // validator sent by a client, "70 and later is the 1900s" is the same rule in practice.
      return to_time(tm, year + (year < 70 ? 2000 : 1900));
  }
  {  // asctime: "Sun Nov  6 08:49:37 1994"
    DateReader r(text);
    tm = {};
    if (r.one_of(kDays) && r.literal(" ") && r.one_of(kMonths, &tm.tm_mon) && r.literal(" ") &&
        r.digits(2, tm.tm_mday, true) && r.literal(" ") && r.time_of_day(tm) && r.literal(" ") &&
        r.digits(4, year) && r.done())
      return to_time(tm, year);
  }
  return std::nullopt;
}

std::string format_http_date(std::time_t t) {
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  // By hand rather than strftime: the names must be English whatever the process locale.
  return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT", kDays[tm.tm_wday % 7], tm.tm_mday,
                     kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

bool etag_list_matches(std::string_view list, std::string_view etag, bool weak) noexcept {
  list = trim(list);
  if (list == "*") return true;
  bool ours_weak = etag.starts_with("W/");
  std::string_view ours = ours_weak ? etag.substr(2) : etag;
  // Walked tag by tag rather than split at commas: an opaque-tag may itself hold a comma.
  std::size_t i = 0;
  while (true) {
    while (i < list.size() && (list[i] == ' ' || list[i] == '\t' || list[i] == ',')) ++i;
    if (i == list.size()) return false;
    bool theirs_weak = list.compare(i, 2, "W/") == 0;
    if (theirs_weak) i += 2;
    if (i >= list.size() || list[i] != '"') return false;
    auto close = list.find('"', i + 1);
    if (close == std::string_view::npos) return false;
    auto theirs = list.substr(i, close + 1 - i);
    if (theirs == ours && (weak || (!theirs_weak && !ours_weak))) return true;
    i = close + 1;
    while (i < list.size() && (list[i] == ' ' || list[i] == '\t')) ++i;
    if (i < list.size() && list[i] != ',') return false;
  }
}

Precondition evaluate_preconditions(const Headers& request_headers, std::string_view etag,
                                    std::time_t last_modified) {
  // Steps 1 and 2: a client updating a resource it has; for a GET they are rare but cheap.
  if (auto if_match = field_value(request_headers, "If-Match")) {
    if (!etag_list_matches(*if_match, etag, false)) return Precondition::failed;
  } else if (auto since = field_value(request_headers, "If-Unmodified-Since")) {
    auto date = parse_http_date(*since);  // §13.1.4: an invalid date is ignored
    if (date && last_modified > *date) return Precondition::failed;
  }
  // Steps 3 and 4: If-None-Match wins over If-Modified-Since (§13.1.3: a recipient must
  // ignore the latter when the former is present); the weak comparison is the one for GET.
  if (auto none_match = field_value(request_headers, "If-None-Match")) {
    if (etag_list_matches(*none_match, etag, true)) return Precondition::not_modified;
  } else if (auto since = field_value(request_headers, "If-Modified-Since")) {
    auto date = parse_http_date(*since);
    if (date && last_modified <= *date) return Precondition::not_modified;
  }
  return Precondition::proceed;
}

bool if_range_holds(std::string_view value, std::string_view etag,
                    std::time_t last_modified) noexcept {
  value = trim(value);
  // §13.1.5: an entity-tag starts with DQUOTE or "W/"; a weak one never lets a range through.
  if (value.starts_with('"') || value.starts_with("W/"))
    return !etag.starts_with("W/") && value == etag;
  auto date = parse_http_date(value);
  return date && *date == last_modified;
}

RangeAnswer evaluate_range(std::string_view value, std::uint64_t size) noexcept {
  using Kind = RangeAnswer::Kind;
  RangeAnswer whole{};
  if (size == 0) return whole;
  auto equals = value.find('=');
  if (equals == std::string_view::npos || !iequals(trim(value.substr(0, equals)), "bytes"))
    return whole;
  int count = 0;
  std::string_view spec;
  for_each_list_element(value.substr(equals + 1), [&](std::string_view element) {
    ++count;
    spec = element;
  });
  if (count != 1) return whole;
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return whole;
  auto first_text = spec.substr(0, dash);
  auto last_text = spec.substr(dash + 1);
  if (first_text.empty()) {  // "-n": the last n bytes, or all of a shorter file (§14.1.2)
    auto suffix = parse_position(last_text);
    if (!suffix) return whole;
    if (*suffix == 0) return {Kind::unsatisfiable};
    return {Kind::partial, *suffix >= size ? 0 : size - *suffix, size - 1};
  }
  auto first = parse_position(first_text);
  if (!first) return whole;
  std::uint64_t last = size - 1;
  if (!last_text.empty()) {
    auto given = parse_position(last_text);
    if (!given || *given < *first) return whole;  // §14.1.1: invalid, so ignored
    last = std::min(*given, size - 1);
  }
  if (*first >= size) return {Kind::unsatisfiable};
  return {Kind::partial, *first, last};
}

double coding_quality(std::string_view accept_encoding, std::string_view coding) noexcept {
  std::optional<double> own, any;
  for_each_list_element(accept_encoding, [&](std::string_view element) {
    auto semicolon = element.find(';');
    auto name = trim(element.substr(0, semicolon));
    double q = 1;
    if (semicolon != std::string_view::npos) {
      for_each_list_element_sep(element.substr(semicolon + 1), ';', [&](std::string_view param) {
        if (param.size() >= 2 && ascii_lower(param[0]) == 'q' && param[1] == '=')
          q = parse_qvalue(trim(param.substr(2))).value_or(0);
      });
    }
    if (iequals(name, coding) || (iequals(coding, "gzip") && iequals(name, "x-gzip")))
      own = std::max(own.value_or(0), q);
    else if (name == "*")
      any = q;
  });
  return own ? *own : any.value_or(0);
}

std::optional<std::string> field_value(const Headers& headers, std::string_view name) {
  std::optional<std::string> value;
  for (const auto& [field, text] : headers) {
    if (!iequals(field, name)) continue;
    if (value)
      *value += ", " + text;
    else
      value = text;
  }
  return value;
}

}  // namespace junction::gateway::statics
