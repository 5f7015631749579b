#include "gateway/timed_exchange.hpp"

#include <boost/asio/post.hpp>
#include <utility>

#include "gateway/errors.hpp"
#include "gateway/websocket.hpp"

namespace junction::gateway {

std::shared_ptr<TimedExchange> TimedExchange::arm(std::shared_ptr<Exchange> inner, seconds_d limit,
                                                  OnTimeout on_timeout) {
  auto timed = std::make_shared<TimedExchange>(Token{}, std::move(inner), std::move(on_timeout));
  timed->limit_ = std::chrono::duration_cast<Clock::duration>(limit);
  timed->wait_for(timed->limit_);
  return timed;
}

void TimedExchange::wait_for(Clock::duration delay) {
  timer_.expires_after(delay);
  // A weak reference: an app that is done drops the exchange, and the timer with it.
  timer_.async_wait([weak = weak_from_this()](error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->on_timer();
  });
}

TimedExchange::TimedExchange(Token, std::shared_ptr<Exchange> inner, OnTimeout on_timeout)
    : inner_(std::move(inner)), timer_(inner_->executor()), on_timeout_(std::move(on_timeout)) {}

void TimedExchange::on_timer() {
  {
    std::lock_guard lock(mutex_);
    if (state_ != State::waiting) return;
    // The app waits for the client's body: that time is not the app's. On the I/O thread, as
    // the timer's first wait was.
    if (reading_) return wait_for(limit_);
    if (read_done_) {
      auto since = Clock::now() - *read_done_;
      if (since < limit_) return wait_for(limit_ - since);
    }
    state_ = State::timed_out;
    head_.reset();
    if (on_timeout_) on_timeout_(claimed_);
  }
  // RFC 9110 §15.6.5: 504, the server acting as a gateway to the app did not get its answer in
  // time. The head the app may have recorded is replaced (nothing of it was sent).
  inner_->start({504, {{"Content-Type", "text/plain; charset=utf-8"}}});
  inner_->async_write("504 Gateway Timeout: the app did not answer in time\n", true, nullptr);
  client_gone();
}

bool TimedExchange::claim() {
  std::lock_guard lock(mutex_);
  claimed_ = true;
  return state_ != State::timed_out;
}

bool TimedExchange::finish() {
  std::lock_guard lock(mutex_);
  if (state_ == State::timed_out) return true;
  state_ = State::finished;
  return false;
}

bool TimedExchange::begin_response() {
  std::optional<ResponseHead> head;
  {
    std::lock_guard lock(mutex_);
    if (state_ == State::timed_out) return false;
    if (state_ == State::waiting) state_ = State::responding;
    head = std::exchange(head_, std::nullopt);
  }
  if (head) inner_->start(std::move(*head));
  return true;
}

template <class H, class... Args>
void TimedExchange::refuse(H& handler, Args... args) {
  if (!handler) return;
  boost::asio::post(inner_->executor(), [h = std::move(handler), args...] {
    h(make_error_code(errc::client_gone), args...);
  });
}

void TimedExchange::async_read_body(std::span<char> into, ReadHandler handler) {
  {
    std::lock_guard lock(mutex_);
    if (state_ == State::timed_out) return refuse(handler, std::size_t{0});
    reading_ = true;
  }
  inner_->async_read_body(into, [self = shared_from_this(), handler = std::move(handler)](
                                    error_code ec, std::size_t n) {
    {
      std::lock_guard lock(self->mutex_);
      self->reading_ = false;
      self->read_done_ = Clock::now();
    }
    if (handler) handler(ec, n);
  });
}

void TimedExchange::start(ResponseHead head) {
  {
    std::lock_guard lock(mutex_);
    if (state_ == State::timed_out) return;
    if (state_ == State::waiting) {
      head_ = std::move(head);
      return;
    }
  }
  inner_->start(std::move(head));  // after the first write: the inner exchange's rules apply
}

void TimedExchange::async_write(BodyPiece chunk, bool last, Handler handler) {
  if (!begin_response()) return refuse(handler);
  inner_->async_write(std::move(chunk), last, std::move(handler));
}

void TimedExchange::async_send_file(int fd, std::uint64_t offset, std::uint64_t count, bool last,
                                    Handler handler) {
  if (!begin_response()) return refuse(handler);
  inner_->async_send_file(fd, offset, count, last, std::move(handler));
}

void TimedExchange::async_finish(Headers trailers, Handler handler) {
  if (!begin_response()) return refuse(handler);
  inner_->async_finish(std::move(trailers), std::move(handler));
}

void TimedExchange::abort() {
  if (begin_response()) inner_->abort();
}

void TimedExchange::async_accept_websocket(WebSocketAccept accept, AcceptHandler handler) {
  if (!begin_response()) {
    if (!handler) return;
    boost::asio::post(inner_->executor(),
                      [h = std::move(handler)] { h(make_error_code(errc::client_gone), nullptr); });
    return;
  }
  inner_->async_accept_websocket(std::move(accept), std::move(handler));
}

void TimedExchange::on_client_gone(std::function<void()> callback) {
  bool now = false;
  bool watch = false;
  {
    std::lock_guard lock(mutex_);
    gone_callback_ = std::move(callback);
    now = state_ == State::timed_out;
    watch = !std::exchange(watching_inner_, true);
  }
  if (now) {
    // As the contract says: registered after the fact, it runs at once (posted).
    boost::asio::post(inner_->executor(), [self = shared_from_this()] { self->client_gone(); });
    return;
  }
  if (watch)
    inner_->on_client_gone([weak = weak_from_this()] {
      if (auto self = weak.lock()) self->client_gone();
    });
}

void TimedExchange::client_gone() {
  std::function<void()> callback;
  {
    std::lock_guard lock(mutex_);
    if (gone_fired_ || !gone_callback_) return;
    gone_fired_ = true;
    callback = std::move(gone_callback_);
  }
  callback();
}

}  // namespace junction::gateway
