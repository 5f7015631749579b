#include "gateway/server/shadow.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstring>
#include <exception>
#include <mutex>
#include <utility>

#include "gateway/errors.hpp"
#include "gateway/forwarding_exchange.hpp"
#include "gateway/log_tag.hpp"

namespace junction::gateway {

namespace {

constexpr std::size_t kRequestLine = 200;  // characters of the request line in a report

// A shadowed request's place under shadow_max_in_flight, given back when the last holder of
// the request's case lets go of it.
class InFlight {
 public:
  explicit InFlight(std::atomic<std::size_t>& count) : count_(count) {}
  ~InFlight() { count_.fetch_sub(1, std::memory_order_relaxed); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  std::atomic<std::size_t>& count_;
};

// The comparisons' thread: one per process, started at the first shadow and never destroyed
// (deliberately leaked), so that the last reference to a ShadowApp may go on it, and a
// comparison queued during shutdown finds it still there. Started in the worker, after fork.
boost::asio::thread_pool& comparer() {
  static auto* pool = new boost::asio::thread_pool(1);
  return *pool;
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

// What one shadowed request carries from the primary's side to the shadow's.
struct ShadowCase {
  ShadowCase(std::shared_ptr<ShadowApp> a, RequestHead h)
      : app(std::move(a)), slot(app->in_flight_), head(std::move(h)) {}
  std::shared_ptr<ShadowApp> app;
  InFlight slot;
  RequestHead head;
  std::mutex mutex;
  std::string request_body;  // what the primary read of it
  bool body_ended = false;   // ...all of it
  bool body_over = false;    // more than max_body: not kept
  CapturedAnswer primary;
  bool primary_over = false;  // its body was over max_body, or a file: not kept
  bool primary_failed = false;
};

// The shadow app's exchange: the primary's request again (the body it read), and an answer
// that goes into the comparison.
class ShadowExchange final : public Exchange, public std::enable_shared_from_this<ShadowExchange> {
 public:
  ShadowExchange(std::shared_ptr<ShadowCase> shadow_case, boost::asio::any_io_executor executor)
      : case_(std::move(shadow_case)), executor_(std::move(executor)), head_(case_->head) {
    head_.received_at = std::chrono::steady_clock::now();
  }
  ~ShadowExchange() override {
    // An app that let go of its exchange without an answer failed it.
    if (!finished_) case_->app->count(ShadowReport::failed);
  }

  const RequestHead& request() const noexcept override { return head_; }
  boost::asio::any_io_executor executor() const override { return executor_; }

  void async_read_body(std::span<char> into, ReadHandler handler) override {
    const auto& body = case_->request_body;  // not written to once the shadow runs
    std::size_t n = std::min(into.size(), body.size() - std::min(offset_, body.size()));
    if (n > 0) std::memcpy(into.data(), body.data() + offset_, n);
    offset_ += n;
    error_code ec = n > 0 ? error_code{} : make_error_code(errc::end_of_body);
    post(std::move(handler), ec, n);
  }
  void start(ResponseHead head) override {
    std::lock_guard lock(mutex_);
    if (written_) return;
    answer_.status = head.status;
    answer_.headers = std::move(head.headers);
  }
  void async_write(BodyPiece chunk, bool last, Handler handler) override {
    {
      std::lock_guard lock(mutex_);
      written_ = true;
      if (!over_ && answer_.body.size() + chunk.size() > case_->app->options_.max_body) {
        over_ = true;
        std::string().swap(answer_.body);
      }
      if (!over_) answer_.body += chunk.view();
    }
    post(std::move(handler), error_code{});
    if (last) finish(false);
  }
  void async_finish(Headers, Handler handler) override {
    post(std::move(handler), error_code{});
    finish(false);
  }
  void abort() override { finish(true); }
  // Nobody waits for a shadow's answer: there is no client to go.
  void on_client_gone(std::function<void()>) override {}

 private:
  template <class H, class... Args>
  void post(H handler, Args... args) {
    if (handler) boost::asio::post(executor_, [h = std::move(handler), args...] { h(args...); });
  }

  void finish(bool failed) {
    {
      std::lock_guard lock(mutex_);
      if (std::exchange(finished_, true)) return;
    }
    auto& app = *case_->app;
    {
      std::lock_guard lock(app.sink_mutex_);
      if (app.metrics_)
        app.metrics_.record_request(app.options_.shadow_route, head_.method,
                                    protocol_label(head_.version.major, head_.version.minor),
                                    answer_.status, !failed,
                                    std::chrono::steady_clock::now() - head_.received_at);
    }
    if (failed) {
      app.count(ShadowReport::failed);
      return;
    }
    if (over_) {
      app.count(ShadowReport::too_large);
      return;
    }
    // Comparing may parse a megabyte of JSON: not on an I/O thread, nor on the app's.
    boost::asio::post(comparer(), [shadow_case = case_, answer = std::move(answer_)] {
      compare(*shadow_case, answer);
    });
  }

  static void compare(ShadowCase& shadow_case, const CapturedAnswer& answer) {
    auto& app = *shadow_case.app;
    auto difference = compare_answers(shadow_case.primary, answer, app.options_.compare);
    app.count(ShadowReport::compared);
    if (!difference.any()) {
      app.count(ShadowReport::matched);
      return;
    }
    const auto& head = shadow_case.head;
    std::string line = head.method + " " + head.target;
    if (line.size() > kRequestLine) line = line.substr(0, kRequestLine) + "...";
    boost::json::object record{
        {"time", unix_now()},
        {"request", line},
        {"request_id", head.request_id},
        {"primary_status", shadow_case.primary.status},
        {"shadow_status", answer.status},
        {"status", difference.status},
        {"header", difference.header},
        {"body", difference.body},
        {"primary", difference.primary},
        {"shadow", difference.shadow},
    };
    auto text = boost::json::serialize(record);
    std::lock_guard lock(app.sink_mutex_);
    if (app.report_) app.report_->record(app.options_.report_index, text);
  }

  std::shared_ptr<ShadowCase> case_;
  boost::asio::any_io_executor executor_;
  RequestHead head_;
  std::size_t offset_ = 0;
  std::mutex mutex_;
  CapturedAnswer answer_;
  bool written_ = false;
  bool over_ = false;
  bool finished_ = false;
};

// The primary's exchange: the client's, with a tap that copies what passes.
class ShadowTap final : public ForwardingExchange, public std::enable_shared_from_this<ShadowTap> {
 public:
  ShadowTap(std::shared_ptr<Exchange> inner, std::shared_ptr<ShadowCase> shadow_case)
      : ForwardingExchange(std::move(inner)), case_(std::move(shadow_case)) {}

  void async_read_body(std::span<char> into, ReadHandler handler) override {
    ForwardingExchange::async_read_body(
        into,
        [shadow_case = case_, into, handler = std::move(handler)](error_code ec, std::size_t n) {
          {
            std::lock_guard lock(shadow_case->mutex);
            auto& body = shadow_case->request_body;
            if (n > 0 && !shadow_case->body_over) {
              if (body.size() + n > shadow_case->app->options_.max_body) {
                shadow_case->body_over = true;
                std::string().swap(body);
              } else {
                body.append(into.data(), n);
              }
            }
            if (ec == errc::end_of_body) shadow_case->body_ended = true;
          }
          if (handler) handler(ec, n);
        });
  }
  void start(ResponseHead head) override {
    {
      std::lock_guard lock(case_->mutex);
      case_->primary.status = head.status;
      case_->primary.headers = head.headers;
    }
    ForwardingExchange::start(std::move(head));
  }
  void async_write(BodyPiece chunk, bool last, Handler handler) override {
    keep(chunk.view());
    ForwardingExchange::async_write(std::move(chunk), last, std::move(handler));
    if (last) launch();
  }
  void async_send_file(int fd, std::uint64_t offset, std::uint64_t count, bool last,
                       Handler handler) override {
    {
      std::lock_guard lock(case_->mutex);
      case_->primary_over = true;  // a file's bytes do not pass here
    }
    ForwardingExchange::async_send_file(fd, offset, count, last, std::move(handler));
    if (last) launch();
  }
  void async_finish(Headers trailers, Handler handler) override {
    ForwardingExchange::async_finish(std::move(trailers), std::move(handler));
    launch();
  }
  void abort() override {
    {
      std::lock_guard lock(case_->mutex);
      case_->primary_failed = true;
    }
    ForwardingExchange::abort();
  }

 private:
  void keep(std::string_view chunk) {
    std::lock_guard lock(case_->mutex);
    auto& body = case_->primary.body;
    if (case_->primary_over) return;
    if (body.size() + chunk.size() > case_->app->options_.max_body) {
      case_->primary_over = true;
      std::string().swap(body);
      return;
    }
    body += chunk;
  }

  // The primary's answer is complete: the shadow's turn, on the I/O thread (App::handle's).
  void launch() {
    if (launched_.exchange(true)) return;
    boost::asio::post(executor(), [shadow_case = case_, executor = executor()] {
      auto& app = *shadow_case->app;
      {
        std::lock_guard lock(shadow_case->mutex);
        if (shadow_case->primary_failed) return;
        bool body_whole = !shadow_case->head.has_body || shadow_case->body_ended;
        if (shadow_case->primary_over || shadow_case->body_over || !body_whole) {
          app.count(ShadowReport::too_large);
          return;
        }
      }
      auto exchange = std::make_shared<ShadowExchange>(shadow_case, executor);
      try {
        app.shadow_->handle(exchange);
      } catch (const std::exception& e) {
        spdlog::debug("shadow {} failed on {}: {}", app.options_.shadow_name,
                      LogTag{shadow_case->head}, e.what());
        exchange->abort();
      }
    });
  }

  std::shared_ptr<ShadowCase> case_;
  std::atomic<bool> launched_{false};
};

ShadowApp::ShadowApp(std::shared_ptr<App> primary, std::shared_ptr<App> shadow,
                     ShadowOptions options)
    : primary_(std::move(primary)), shadow_(std::move(shadow)), options_(std::move(options)) {}

void ShadowApp::handle(std::shared_ptr<Exchange> exchange) {
  const auto& head = exchange->request();
  bool shadowed = !head.websocket && std::find(options_.methods.begin(), options_.methods.end(),
                                               head.method) != options_.methods.end();
  if (!shadowed) return primary_->handle(std::move(exchange));
  // A place under the bound, or no shadow for this request: never a wait.
  if (in_flight_.fetch_add(1, std::memory_order_relaxed) >= options_.max_in_flight) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    count(ShadowReport::busy);
    return primary_->handle(std::move(exchange));
  }
  // The case holds the place until the comparison is done (InFlight gives it back).
  auto shadow_case = std::make_shared<ShadowCase>(shared_from_this(), head);
  primary_->handle(std::make_shared<ShadowTap>(std::move(exchange), std::move(shadow_case)));
}

}  // namespace junction::gateway
