#include "gateway/health.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <string_view>

#include "gateway/errors.hpp"
#include "gateway/text.hpp"

namespace junction::gateway {
namespace {

constexpr double kMaxSleepSeconds = 60;

void answer(Exchange& exchange, int status, Headers headers, std::string body) {
  exchange.start({status, std::move(headers)});
  exchange.async_write(std::move(body), true, nullptr);
}

// Reads the body piece by piece and writes each piece back: one read or one write in flight,
// so the echo runs at the pace of the slower side and never buffers the body whole.
class Echo : public std::enable_shared_from_this<Echo> {
 public:
  explicit Echo(std::shared_ptr<Exchange> exchange) : exchange_(std::move(exchange)) {}

  void start() {
    const auto& request = exchange_->request();
    Headers headers{{"Content-Type", "application/octet-stream"}};
    if (request.content_length)
      headers.emplace_back("Content-Length", std::to_string(*request.content_length));
    exchange_->start({200, std::move(headers)});
    read();
  }

 private:
  void read() {
    exchange_->async_read_body(buffer_, [self = shared_from_this()](error_code ec, std::size_t n) {
      self->on_read(ec, n);
    });
  }

  void on_read(error_code ec, std::size_t n) {
    if (ec == errc::end_of_body) {
      exchange_->async_finish({}, nullptr);
      return;
    }
    if (ec) return;  // the client went away or the body was refused: the gateway answered
    exchange_->async_write(std::string(buffer_.data(), n), false,
                           [self = shared_from_this()](error_code write_ec) {
                             if (!write_ec) self->read();
                           });
  }

  std::shared_ptr<Exchange> exchange_;
  std::array<char, 16384> buffer_{};
};

// ?sleep=S, S in seconds (fractions allowed), bounded.
std::optional<double> sleep_seconds(std::string_view query) {
  std::optional<double> result;
  for_each_list_element_sep(query, '&', [&](std::string_view param) {
    if (!param.starts_with("sleep=")) return;
    param.remove_prefix(6);
    double value = 0;
    auto [end, ec] = std::from_chars(param.data(), param.data() + param.size(), value);
    if (ec == std::errc() && end == param.data() + param.size() && value >= 0)
      result = std::min(value, kMaxSleepSeconds);
  });
  return result;
}

// One probe of the Python side for one health request: answered once, by the last part to come
// back (200), the first problem, or the time-out (503). I/O thread only.
class ProbeRound : public std::enable_shared_from_this<ProbeRound> {
 public:
  explicit ProbeRound(std::shared_ptr<Exchange> exchange)
      : exchange_(std::move(exchange)), timer_(exchange_->executor()) {}

  void start(const HealthApp::Probe& probe) {
    auto weak = std::weak_ptr<ProbeRound>(shared_from_this());
    auto io = exchange_->executor();
    waiting_ = probe(io, [weak, io](const std::string& part, const std::string& problem) {
      boost::asio::post(io, [weak, part, problem] {
        if (auto self = weak.lock()) self->on_answer(part, problem);
      });
    });
    if (waiting_.empty()) return finish(200, "ok");
    timer_.expires_after(HealthApp::kProbeTimeout);
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || self->done_) return;
      std::string parts;
      for (const auto& part : self->waiting_) parts += (parts.empty() ? "" : ", ") + part;
      self->finish(503, fmt::format("unhealthy: {} did not answer within {}s\n", parts,
                                    HealthApp::kProbeTimeout.count()));
    });
  }

 private:
  void on_answer(const std::string& part, const std::string& problem) {
    if (done_) return;
    if (!problem.empty()) return finish(503, fmt::format("unhealthy: {}: {}\n", part, problem));
    std::erase(waiting_, part);
    if (waiting_.empty()) finish(200, "ok");
  }

  void finish(int status, std::string body) {
    done_ = true;
    timer_.cancel();
    if (status != 200) spdlog::warn("health check: {}", body.substr(0, body.size() - 1));
    Headers headers{{"Content-Type", "text/plain; charset=utf-8"}};
    if (status != 200) headers.emplace_back("Cache-Control", "no-store");
    answer(*exchange_, status, std::move(headers), std::move(body));
  }

  std::shared_ptr<Exchange> exchange_;
  boost::asio::steady_timer timer_;
  std::vector<std::string> waiting_;
  bool done_ = false;
};

bool has_flag(std::string_view query, std::string_view flag) {
  bool found = false;
  for_each_list_element_sep(query, '&', [&](std::string_view param) { found |= param == flag; });
  return found;
}

}  // namespace

void HealthApp::handle(std::shared_ptr<Exchange> exchange) {
  const auto& request = exchange->request();
  Headers text{{"Content-Type", "text/plain; charset=utf-8"}};
  if (diagnostics_ && has_flag(request.query, "echo")) {
    std::make_shared<Echo>(std::move(exchange))->start();
    return;
  }
  if (request.method != "GET" && request.method != "HEAD") {
    Headers headers = text;
    headers.emplace_back("Allow", "GET, HEAD");
    answer(*exchange, 405, std::move(headers), "Method Not Allowed\n");
    return;
  }
  if (auto seconds = diagnostics_ ? sleep_seconds(request.query) : std::nullopt) {
    auto timer = std::make_shared<boost::asio::steady_timer>(
        exchange->executor(), std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                  std::chrono::duration<double>(*seconds)));
    timer->async_wait([timer, exchange, text](error_code) { answer(*exchange, 200, text, "ok"); });
    return;
  }
  if (probe_) {
    std::make_shared<ProbeRound>(std::move(exchange))->start(probe_);
    return;
  }
  answer(*exchange, 200, std::move(text), "ok");
}

}  // namespace junction::gateway
