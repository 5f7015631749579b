// The Exchange of one HTTP/2 stream. Every call hops onto the connection's thread and lands in
// the Session; once the stream is closed (or the connection gone), calls fail with
// errc::client_gone.
#pragma once

#include <boost/asio/dispatch.hpp>
#include <memory>
#include <utility>

#include "gateway/exchange.hpp"
#include "http2/session.hpp"

namespace junction::http2 {

class StreamExchange final : public gateway::Exchange,
                             public std::enable_shared_from_this<StreamExchange> {
 public:
  StreamExchange(std::shared_ptr<Session> session, std::shared_ptr<Session::Stream> stream)
      : session_(std::move(session)), stream_(std::move(stream)) {}

  const gateway::RequestHead& request() const noexcept override { return stream_->head; }
  asio::any_io_executor executor() const override { return session_->get_executor(); }

  void async_read_body(std::span<char> into, ReadHandler handler) override {
    run([into, h = std::move(handler)](Session& s, auto& stream) mutable {
      s.read_body(stream, into, std::move(h));
    });
  }
  void start(gateway::ResponseHead head) override {
    run([head = std::move(head)](Session& s, auto& stream) mutable {
      s.start_response(stream, std::move(head));
    });
  }
  void async_write(gateway::BodyPiece chunk, bool last, Handler handler) override {
    run([chunk = std::move(chunk), last, h = std::move(handler)](Session& s, auto& stream) mutable {
      s.write(stream, std::move(chunk), last, std::move(h));
    });
  }
  void async_finish(gateway::Headers trailers, Handler handler) override {
    run([t = std::move(trailers), h = std::move(handler)](Session& s, auto& stream) mutable {
      s.finish(stream, std::move(t), std::move(h));
    });
  }
  void abort() override {
    run([](Session& s, auto& stream) { s.abort(stream); });
  }
  void on_client_gone(std::function<void()> callback) override {
    run([cb = std::move(callback)](Session& s, auto& stream) mutable {
      s.on_client_gone(stream, std::move(cb));
    });
  }
  void reroute(std::size_t route) override {
    run([route](Session&, auto& stream) { stream->route = route; });
  }

 private:
  // Inline when already on the connection's thread (an app answering from handle()), else
  // dispatched; the exchange stays alive until `f` has run.
  template <class F>
  void run(F&& f) {
    if (session_->get_executor().running_in_this_thread()) {
      f(*session_, stream_);
      return;
    }
    asio::dispatch(session_->get_executor(),
                   [self = this->shared_from_this(), f = std::forward<F>(f)]() mutable {
                     f(*self->session_, self->stream_);
                   });
  }

  std::shared_ptr<Session> session_;
  std::shared_ptr<Session::Stream> stream_;
};

}  // namespace junction::http2
