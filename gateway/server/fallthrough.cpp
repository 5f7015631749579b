#include "gateway/server/fallthrough.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <utility>

#include "gateway/errors.hpp"
#include "gateway/forwarding_exchange.hpp"
#include "gateway/log_tag.hpp"
#include "gateway/websocket.hpp"

namespace junction::gateway {

// The exchange the first app holds, and the state of the attempt: the head it recorded, the
// body bytes kept for a replay, and which way it went.
class FallthroughExchange final : public Exchange,
                                  public std::enable_shared_from_this<FallthroughExchange> {
 public:
  FallthroughExchange(std::shared_ptr<Exchange> inner, std::shared_ptr<FallthroughApp> app)
      : inner_(std::move(inner)), app_(std::move(app)) {
    // A body already known to be too long is not kept at all.
    const auto& head = inner_->request();
    if (head.content_length && *head.content_length > app_->options_.max_body) keeping_ = false;
  }

  const RequestHead& request() const noexcept override { return inner_->request(); }
  boost::asio::any_io_executor executor() const override { return inner_->executor(); }

  void async_read_body(std::span<char> into, ReadHandler handler) override {
    {
      std::lock_guard lock(mutex_);
      if (phase_ == Phase::replaying) return refuse(std::move(handler), std::size_t{0});
      reading_ = true;
    }
    inner_->async_read_body(into, [self = shared_from_this(), into, handler = std::move(handler)](
                                      error_code ec, std::size_t n) {
      bool replay_now = false;
      {
        std::lock_guard lock(self->mutex_);
        self->reading_ = false;
        if (n > 0 && self->keeping_) {
          if (self->kept_.size() + n > self->app_->options_.max_body) {
            self->keeping_ = false;
            std::string().swap(self->kept_);
          } else {
            self->kept_.append(into.data(), n);
          }
        }
        if (ec == errc::end_of_body)
          self->body_ended_ = true;
        else if (ec)
          self->keeping_ = false;  // a body that failed cannot be replayed
        replay_now = std::exchange(self->replay_waiting_, false);
      }
      if (handler) handler(ec, n);
      if (replay_now) self->post_replay();
    });
  }

  void start(ResponseHead head) override {
    {
      std::lock_guard lock(mutex_);
      if (phase_ == Phase::replaying) return;
      if (phase_ == Phase::deciding) {
        held_ = std::move(head);
        return;
      }
    }
    inner_->start(std::move(head));
  }

  void async_write(BodyPiece chunk, bool last, Handler handler) override {
    if (commit()) return inner_->async_write(std::move(chunk), last, std::move(handler));
    swallow(std::move(handler));
  }
  void async_send_file(int fd, std::uint64_t offset, std::uint64_t count, bool last,
                       Handler handler) override {
    if (commit()) return inner_->async_send_file(fd, offset, count, last, std::move(handler));
    swallow(std::move(handler));
  }
  void async_finish(Headers trailers, Handler handler) override {
    if (commit()) return inner_->async_finish(std::move(trailers), std::move(handler));
    swallow(std::move(handler));
  }
  void abort() override {
    if (commit()) inner_->abort();
  }
  void async_accept_websocket(WebSocketAccept accept, AcceptHandler handler) override {
    // Only a WebSocket request may be accepted, and those never come here (handle()).
    if (commit()) return inner_->async_accept_websocket(std::move(accept), std::move(handler));
    boost::asio::post(executor(), [h = std::move(handler)] {
      if (h) h(make_error_code(errc::response_state), nullptr);
    });
  }

  void on_client_gone(std::function<void()> callback) override {
    watch(first_gone_, std::move(callback));
  }

 private:
  friend class ReplayExchange;
  enum class Phase { deciding, passing, replaying };

  // The first app commits its response: true when it goes to the client (the head it recorded
  // goes first), false when it is dropped and the request is replayed.
  bool commit() {
    std::optional<ResponseHead> head;
    bool not_replayed = false;
    bool replay_now = false;
    bool pass = false;
    {
      std::lock_guard lock(mutex_);
      if (phase_ != Phase::deciding) return phase_ == Phase::passing;
      const auto& statuses = app_->options_.statuses;
      bool falls =
          held_ && std::find(statuses.begin(), statuses.end(), held_->status) != statuses.end();
      if (falls && keeping_) {
        phase_ = Phase::replaying;
        held_.reset();
        // A body read still outstanding adds to the kept bytes: the replay waits for it.
        if (reading_)
          replay_waiting_ = true;
        else
          replay_now = true;
      } else {
        phase_ = Phase::passing;
        head = std::exchange(held_, std::nullopt);
        not_replayed = falls;
      }
      pass = phase_ == Phase::passing;
    }
    if (not_replayed) {
      app_->count(route_cell::fallthrough_not_replayed);
      spdlog::debug(
          "{}: {} from {} stands: its request body is over fallthrough_max_body ({} "
          "bytes) or failed, so it is not replayed to {}",
          LogTag{request()}, head->status, app_->options_.primary_name, app_->options_.max_body,
          app_->options_.legacy_name);
    }
    if (head) {
      if (app_->options_.expose_decision)
        head->headers.emplace_back("X-Junction-App", app_->options_.primary_name);
      inner_->start(std::move(*head));
    }
    if (replay_now) post_replay();
    return pass;
  }

  // The first app's response goes nowhere: its writes succeed, so that it ends as usual.
  void swallow(Handler handler) {
    if (handler) boost::asio::post(executor(), [h = std::move(handler)] { h(error_code{}); });
  }

  template <class H, class... Args>
  void refuse(H handler, Args... args) {
    if (!handler) return;
    boost::asio::post(executor(), [h = std::move(handler), args...] {
      h(make_error_code(errc::client_gone), args...);
    });
  }

  // On the I/O thread, after Router::dispatch returned (so that reroute() is the last word).
  void post_replay() {
    boost::asio::post(executor(), [self = shared_from_this()] { self->replay(); });
  }
  void replay();

  // The client may leave while either app runs: both hear of it.
  void watch(std::function<void()>& slot, std::function<void()> callback) {
    bool now = false;
    bool first = false;
    {
      std::lock_guard lock(mutex_);
      slot = std::move(callback);
      now = gone_;
      first = !std::exchange(watching_, true);
    }
    if (now) return boost::asio::post(executor(), [self = shared_from_this()] { self->gone(); });
    if (first)
      inner_->on_client_gone([weak = weak_from_this()] {
        if (auto self = weak.lock()) self->gone();
      });
  }
  void gone() {
    std::function<void()> first, second;
    {
      std::lock_guard lock(mutex_);
      gone_ = true;
      first = std::exchange(first_gone_, nullptr);
      second = std::exchange(replay_gone_, nullptr);
    }
    if (first) first();
    if (second) second();
  }

  std::shared_ptr<Exchange> inner_;
  std::shared_ptr<FallthroughApp> app_;
  std::mutex mutex_;
  Phase phase_ = Phase::deciding;
  std::optional<ResponseHead> held_;
  std::string kept_;             // the body bytes the first app read
  bool keeping_ = true;          // false once the body outgrew max_body (or failed)
  bool body_ended_ = false;      // the first app read the whole body
  bool reading_ = false;         // a body read of the first app is outstanding
  bool replay_waiting_ = false;  // the replay starts when that read completes
  bool watching_ = false;
  bool gone_ = false;
  std::function<void()> first_gone_, replay_gone_;
};

// The exchange the legacy app holds on a replay: the kept body bytes first, then the rest from
// the client; its response goes to the client.
class ReplayExchange final : public ForwardingExchange {
 public:
  explicit ReplayExchange(std::shared_ptr<FallthroughExchange> attempt)
      : ForwardingExchange(attempt->inner_), attempt_(std::move(attempt)) {}

  void async_read_body(std::span<char> into, ReadHandler handler) override {
    std::size_t n = 0;
    bool ended = false;
    {
      std::lock_guard lock(attempt_->mutex_);
      const auto& kept = attempt_->kept_;
      if (offset_ < kept.size()) {
        n = std::min(into.size(), kept.size() - offset_);
        std::memcpy(into.data(), kept.data() + offset_, n);
        offset_ += n;
      } else {
        ended = attempt_->body_ended_;
      }
    }
    if (n > 0 || ended) {
      error_code ec = n > 0 ? error_code{} : make_error_code(errc::end_of_body);
      return boost::asio::post(executor(), [h = std::move(handler), ec, n] {
        if (h) h(ec, n);
      });
    }
    ForwardingExchange::async_read_body(into, std::move(handler));
  }

  void start(ResponseHead head) override {
    if (attempt_->app_->options_.expose_decision)
      head.headers.emplace_back("X-Junction-App", attempt_->app_->options_.legacy_name);
    ForwardingExchange::start(std::move(head));
  }

  void on_client_gone(std::function<void()> callback) override {
    attempt_->watch(attempt_->replay_gone_, std::move(callback));
  }

 private:
  std::shared_ptr<FallthroughExchange> attempt_;
  std::size_t offset_ = 0;  // into the kept bytes
};

void FallthroughExchange::replay() {
  auto& app = *app_;
  inner_->reroute(app.options_.legacy_route);
  app.count(route_cell::fallthrough_replays);
  auto replayed = std::make_shared<ReplayExchange>(shared_from_this());
  try {
    app.legacy_->handle(replayed);
  } catch (const std::exception& e) {
    spdlog::error("app failed on {}: {}", LogTag{request()}, e.what());
    replayed->abort();
  }
}

FallthroughApp::FallthroughApp(std::shared_ptr<App> primary, std::shared_ptr<App> legacy,
                               FallthroughOptions options)
    : primary_(std::move(primary)), legacy_(std::move(legacy)), options_(std::move(options)) {}

void FallthroughApp::handle(std::shared_ptr<Exchange> exchange) {
  // RFC 6455: once the first app has accepted, the connection is a WebSocket; there is nothing
  // to take back and replay.
  if (exchange->request().websocket) return primary_->handle(std::move(exchange));
  primary_->handle(std::make_shared<FallthroughExchange>(std::move(exchange), shared_from_this()));
}

}  // namespace junction::gateway
