#include "gateway/request_buffer.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstring>
#include <string>
#include <utility>

#include "gateway/errors.hpp"
#include "gateway/forwarding_exchange.hpp"

namespace junction::gateway {

namespace {

// The exchange the app holds: the body read ahead, then (a body longer than the buffer) the
// rest from the protocol's exchange. Collecting runs on the I/O thread before the app has the
// exchange; serving runs on the app's thread, one read at a time (Exchange's contract), so
// neither needs a lock.
class BufferedExchange final : public ForwardingExchange,
                               public std::enable_shared_from_this<BufferedExchange> {
 public:
  BufferedExchange(std::shared_ptr<Exchange> inner, std::shared_ptr<ByteBudget> budget,
                   std::uint64_t reserved)
      : ForwardingExchange(std::move(inner)), budget_(std::move(budget)), reserved_(reserved) {
    // One byte more than the body may have: reading into it tells a chunked body longer than
    // the buffer from one that fills it exactly.
    body_.resize(reserved + 1);
  }
  ~BufferedExchange() override { release(); }

  // On the I/O thread: reads until the body ends (the app gets the exchange), fills the buffer
  // (the app gets it and the rest streams), or fails (the app never hears of it).
  void collect(std::shared_ptr<App> app) {
    std::span<char> into(body_.data() + filled_, body_.size() - filled_);
    inner()->async_read_body(into, [self = shared_from_this(), app = std::move(app)](
                                       error_code ec, std::size_t n) mutable {
      self->filled_ += n;
      if (ec == errc::end_of_body) {
        self->complete_ = true;
        self->body_.resize(self->filled_);
        app->handle(std::move(self));
      } else if (ec) {
        self->release();  // answered by the protocol (408, 413, 400), or the client left
      } else if (self->filled_ == self->body_.size()) {
        self->body_.resize(self->filled_);
        app->handle(std::move(self));  // longer than the buffer: the rest streams
      } else {
        self->collect(std::move(app));
      }
    });
  }

  void async_read_body(std::span<char> into, ReadHandler handler) override {
    if (served_ < body_.size()) {
      auto n = std::min(into.size(), body_.size() - served_);
      std::memcpy(into.data(), body_.data() + served_, n);
      served_ += n;
      if (served_ == body_.size()) release();
      boost::asio::post(executor(), [h = std::move(handler), n] { h({}, n); });
      return;
    }
    if (complete_) {
      boost::asio::post(executor(), [h = std::move(handler)] { h(errc::end_of_body, 0); });
      return;
    }
    ForwardingExchange::async_read_body(into, std::move(handler));
  }

 private:
  // The bytes go back to the budget as soon as the app has read them all.
  void release() noexcept {
    if (reserved_ == 0) return;
    budget_->give_back(std::exchange(reserved_, 0));
    served_ = 0;
    std::string().swap(body_);
  }

  std::shared_ptr<ByteBudget> budget_;
  std::uint64_t reserved_;
  std::string body_;
  std::size_t filled_ = 0;  // bytes read into body_ while collecting
  std::size_t served_ = 0;  // bytes the app has read of them
  bool complete_ = false;   // body_ is the whole body
};

}  // namespace

BufferingApp::BufferingApp(std::shared_ptr<App> inner, std::shared_ptr<ByteBudget> budget,
                           std::size_t size)
    : inner_(std::move(inner)), budget_(std::move(budget)), size_(size) {}

void BufferingApp::handle(std::shared_ptr<Exchange> exchange) {
  const auto& head = exchange->request();
  if (!head.has_body || head.websocket) return inner_->handle(std::move(exchange));
  // A body known to be longer than the buffer streams: the app reads it as it comes.
  if (head.content_length && *head.content_length > size_)
    return inner_->handle(std::move(exchange));
  std::uint64_t reserve = head.content_length ? *head.content_length : size_;
  if (!budget_->try_take(reserve)) return inner_->handle(std::move(exchange));
  auto buffered = std::make_shared<BufferedExchange>(std::move(exchange), budget_, reserve);
  buffered->collect(inner_);
}

std::shared_ptr<App> buffered(std::shared_ptr<App> app, const std::shared_ptr<ByteBudget>& budget,
                              std::size_t size) {
  if (size == 0) return app;
  return std::make_shared<BufferingApp>(std::move(app), budget, size);
}

}  // namespace junction::gateway
