// The Exchange an HTTP/1.1 connection hands to apps (the request model: gateway/exchange.hpp).
// Only the connection's definition files include it.
#pragma once

#include <boost/asio/dispatch.hpp>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "gateway/exchange.hpp"
#include "gateway/websocket.hpp"
#include "http1/connection.hpp"

namespace junction::http1 {

// The Exchange an app holds. Every call hops onto the connection's thread; once the exchange
// is over (or the connection gone), calls fail with errc::client_gone.
template <class Stream>
class Connection<Stream>::ExchangeImpl final : public gateway::Exchange,
                                               public std::enable_shared_from_this<ExchangeImpl> {
 public:
  ExchangeImpl(std::shared_ptr<Connection> connection, gateway::RequestHead head)
      : connection_(std::move(connection)), head_(std::move(head)) {}

  const gateway::RequestHead& request() const noexcept override { return head_; }
  asio::any_io_executor executor() const override { return connection_->get_executor(); }

  void async_read_body(std::span<char> into, ReadHandler handler) override {
    run([into, h = std::move(handler)](Connection& c, ExchangeImpl* self) mutable {
      c.do_read_body(self, into, std::move(h));
    });
  }
  void start(gateway::ResponseHead head) override {
    run([head = std::move(head)](Connection& c, ExchangeImpl* self) mutable {
      c.do_start(self, std::move(head));
    });
  }
  void async_write(gateway::BodyPiece chunk, bool last, Handler handler) override {
    run([chunk = std::move(chunk), last, h = std::move(handler)](Connection& c,
                                                                 ExchangeImpl* self) mutable {
      c.do_write(self, std::move(chunk), last, std::move(h));
    });
  }
  void async_send_file(int fd, std::uint64_t offset, std::uint64_t count, bool last,
                       Handler handler) override {
    run([fd, offset, count, last, h = std::move(handler)](Connection& c,
                                                          ExchangeImpl* self) mutable {
      c.do_send_file(self, fd, offset, count, last, std::move(h));
    });
  }
  void async_finish(gateway::Headers trailers, Handler handler) override {
    run([t = std::move(trailers), h = std::move(handler)](Connection& c,
                                                          ExchangeImpl* self) mutable {
      c.do_finish(self, std::move(t), std::move(h));
    });
  }
  void abort() override {
    run([](Connection& c, ExchangeImpl* self) { c.do_abort(self); });
  }
  void async_accept_websocket(gateway::WebSocketAccept accept, AcceptHandler handler) override {
    run([a = std::move(accept), h = std::move(handler)](Connection& c, ExchangeImpl* self) mutable {
      c.do_accept_websocket(self, std::move(a), std::move(h));
    });
  }
  void on_client_gone(std::function<void()> callback) override {
    run([cb = std::move(callback)](Connection& c, ExchangeImpl* self) mutable {
      c.do_on_client_gone(self, std::move(cb));
    });
  }
  void reroute(std::size_t route) override {
    run([route](Connection& c, ExchangeImpl* self) {
      if (c.current(self)) c.route_ = route;
    });
  }

 private:
  // Runs `f` on the connection's thread: inline when already there (an app answering from
  // handle()), posted otherwise. The exchange stays alive until it has run.
  template <class F>
  void run(F&& f) {
    if (connection_->get_executor().running_in_this_thread()) {
      f(*connection_, this);  // the caller holds the exchange, so it outlives the call
      return;
    }
    asio::dispatch(connection_->get_executor(),
                   [self = this->shared_from_this(), f = std::forward<F>(f)]() mutable {
                     f(*self->connection_, self.get());
                   });
  }

  friend class Connection;
  std::shared_ptr<Connection> connection_;
  gateway::RequestHead head_;
  bool lost_ = false;  // the client left before this exchange's response was complete
};

}  // namespace junction::http1
