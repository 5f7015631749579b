// Drives a RequestParser over input that arrives in pieces, the way a connection does: bytes
// not consumed are given again with the next piece, and a body view is copied out at once.
// The outcome prints as text, so runs over different splits of one input compare with ==.
// Header-only: tests/unit/CMakeLists.txt compiles only *_test.cpp files.
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/connection.hpp"
#include "gateway/exchange.hpp"
#include "gateway/options.hpp"
#include "http1/parser.hpp"

namespace junction::test {

struct ParsedMessage {
  gateway::RequestHead head;
  bool keep_alive = false;
  std::string body;
  bool complete = false;  // Event::end was seen
};

struct ParseRun {
  std::vector<ParsedMessage> messages;
  std::optional<int> error_status;  // set on Event::error
  std::string error_reason;
  std::vector<std::string> contract_violations;  // parse() broke its own contract
};

// Header fields one per line, in order, each part in brackets so whitespace shows.
inline std::string describe(const gateway::Headers& fields) {
  std::string out;
  for (const auto& [name, value] : fields) out += fmt::format(" [{}]: [{}]\n", name, value);
  return out;
}

// Every field of a parsed head (client, server and time aside), one header field per line.
inline std::string describe(const gateway::RequestHead& head) {
  std::string out = fmt::format(
      "{} {} HTTP/{}.{}\n path={} query={} authority={} content_length={} has_body={} "
      "expect_continue={}\n",
      head.method, head.target, head.version.major, head.version.minor, head.path, head.query,
      head.authority, head.content_length ? std::to_string(*head.content_length) : "none",
      head.has_body, head.expect_continue);
  return out + describe(head.headers);
}

inline std::string describe(const ParseRun& run) {
  std::string out;
  for (const auto& message : run.messages) {
    out += describe(message.head);
    out += fmt::format(" keep_alive={} body=[{}] complete={}\n", message.keep_alive, message.body,
                       message.complete);
  }
  if (run.error_status) out += fmt::format("error {}: {}\n", *run.error_status, run.error_reason);
  for (const auto& violation : run.contract_violations) out += "VIOLATION " + violation + "\n";
  return out;
}

class ParserDriver {
 public:
  explicit ParserDriver(const gateway::Limits& limits) : parser_(limits) {}

  // Adds `piece` to the unconsumed bytes and parses until the parser needs more or fails.
  void feed(std::string_view piece) {
    using Event = http1::RequestParser::Event;
    pending_.append(piece);
    // Each round yields one event; a runaway parser is reported, not looped on forever. Like the
    // connection, the driver never parses empty input.
    for (int round = 0; round < 100000 && !run_.error_status && !pending_.empty(); ++round) {
      auto result = parser_.parse(pending_);
      if (result.consumed > pending_.size()) {
        violation("consumed more than the input");
        return;
      }
      switch (result.event) {
        case Event::need_more:
          if (result.consumed != pending_.size()) violation("need_more left bytes unconsumed");
          pending_.clear();
          return;
        case Event::head:
          run_.messages.push_back({parser_.take_head(), parser_.keep_alive(), {}, false});
          break;
        case Event::body: {
          const char* begin = pending_.data();
          if (result.body.data() < begin ||
              result.body.data() + result.body.size() > begin + result.consumed)
            violation("body view outside the consumed input");
          if (result.body.empty()) violation("empty body event");
          if (run_.messages.empty()) {
            violation("body before a head");
          } else {
            run_.messages.back().body.append(result.body);
          }
          break;
        }
        case Event::end:
          if (run_.messages.empty()) {
            violation("end before a head");
          } else {
            run_.messages.back().complete = true;
          }
          break;
        case Event::error:
          run_.error_status = parser_.status();
          run_.error_reason = parser_.reason();
          return;
      }
      pending_.erase(0, result.consumed);
    }
    if (!run_.error_status && !pending_.empty()) violation("no progress after many rounds");
  }

  http1::RequestParser& parser() noexcept { return parser_; }
  const ParseRun& run() const noexcept { return run_; }
  std::size_t unconsumed() const noexcept { return pending_.size(); }

 private:
  void violation(std::string what) { run_.contract_violations.push_back(std::move(what)); }

  http1::RequestParser parser_;
  std::string pending_;
  ParseRun run_;
};

inline ParseRun parse_whole(const gateway::Limits& limits, std::string_view input) {
  ParserDriver driver(limits);
  driver.feed(input);
  return driver.run();
}

// The first `cut` bytes, then the rest.
inline ParseRun parse_split(const gateway::Limits& limits, std::string_view input,
                            std::size_t cut) {
  ParserDriver driver(limits);
  driver.feed(input.substr(0, cut));
  driver.feed(input.substr(cut));
  return driver.run();
}

inline ParseRun parse_bytewise(const gateway::Limits& limits, std::string_view input) {
  ParserDriver driver(limits);
  for (std::size_t i = 0; i < input.size(); ++i) driver.feed(input.substr(i, 1));
  return driver.run();
}

}  // namespace junction::test
