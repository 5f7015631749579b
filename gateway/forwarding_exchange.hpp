// An Exchange in front of another that passes every call through: the base of the router's
// migration modes (gateway/server/fallthrough.hpp, split.hpp), which each change one or two
// calls and leave the rest to the protocol's exchange.
#pragma once

#include <memory>
#include <utility>

#include "gateway/exchange.hpp"
#include "gateway/websocket.hpp"

namespace junction::gateway {

class ForwardingExchange : public Exchange {
 public:
  explicit ForwardingExchange(std::shared_ptr<Exchange> inner) : inner_(std::move(inner)) {}

  const RequestHead& request() const noexcept override { return inner_->request(); }
  boost::asio::any_io_executor executor() const override { return inner_->executor(); }
  void async_read_body(std::span<char> into, ReadHandler handler) override {
    inner_->async_read_body(into, std::move(handler));
  }
  void start(ResponseHead head) override { inner_->start(std::move(head)); }
  void async_write(BodyPiece chunk, bool last, Handler handler) override {
    inner_->async_write(std::move(chunk), last, std::move(handler));
  }
  void async_send_file(int fd, std::uint64_t offset, std::uint64_t count, bool last,
                       Handler handler) override {
    inner_->async_send_file(fd, offset, count, last, std::move(handler));
  }
  void async_finish(Headers trailers, Handler handler) override {
    inner_->async_finish(std::move(trailers), std::move(handler));
  }
  void abort() override { inner_->abort(); }
  void async_accept_websocket(WebSocketAccept accept, AcceptHandler handler) override {
    inner_->async_accept_websocket(std::move(accept), std::move(handler));
  }
  void on_client_gone(std::function<void()> callback) override {
    inner_->on_client_gone(std::move(callback));
  }
  void reroute(std::size_t route) override { inner_->reroute(route); }

 protected:
  const std::shared_ptr<Exchange>& inner() const noexcept { return inner_; }

 private:
  std::shared_ptr<Exchange> inner_;
};

}  // namespace junction::gateway
