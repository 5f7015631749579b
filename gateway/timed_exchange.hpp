// --request-timeout (docs/workers.md, "Request timeout"): an Exchange in front of the
// protocol's that answers 504 when the app has not started its response in time.
//
// "Started" means the app's first write, finish, file or abort: the moment its response head
// would go on the wire (start() only records a head, exchange.hpp). Time the app spends waiting
// for the request body is the client's, not the app's (a slow upload is --timeout-request-body's
// business): while a body read is outstanding the timer does not fire, and after one the limit
// counts again from when it completed. Once the timer has fired,
// the client has its 504 and the app's late response is refused: its writes and reads fail with
// errc::client_gone, as if the client had left, and its on_client_gone callback runs. The app
// itself goes on until it returns (WSGI) or is cancelled (ASGI): that is the bridge's business,
// told through `on_timeout`.
//
// Any thread may use it, like any Exchange: one mutex settles the race between the timer (on the
// I/O thread) and the app's first write (on its own thread), so exactly one of them answers.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "gateway/exchange.hpp"
#include "gateway/options.hpp"

namespace junction::gateway {

class TimedExchange final : public Exchange, public std::enable_shared_from_this<TimedExchange> {
 public:
  using Clock = std::chrono::steady_clock;

  // Called with whether the app had begun the request (claim()) when the timer fired.
  using OnTimeout = std::function<void(bool app_running)>;

  // On `inner`'s I/O thread: wraps it and starts the timer. When it fires first, `on_timeout`
  // runs there once, just before the 504 is sent; it must be quick and must not call into this
  // exchange (it runs with the exchange's lock held, so that claim() and finish() see its
  // effect).
  static std::shared_ptr<TimedExchange> arm(std::shared_ptr<Exchange> inner, seconds_d limit,
                                            OnTimeout on_timeout);

  // Any thread, when the app begins the request (a WSGI thread takes it, an ASGI task is
  // about to start): false when the 504 already went out while it waited, and the app need not
  // run at all.
  bool claim();
  // Any thread, once the app is done with the request: true when it had timed out (the client
  // got the 504, not the app's response). The timer cannot fire after this.
  bool finish();

  const RequestHead& request() const noexcept override { return inner_->request(); }
  boost::asio::any_io_executor executor() const override { return inner_->executor(); }
  void async_read_body(std::span<char> into, ReadHandler handler) override;
  void start(ResponseHead head) override;
  void async_write(BodyPiece chunk, bool last, Handler handler) override;
  void async_send_file(int fd, std::uint64_t offset, std::uint64_t count, bool last,
                       Handler handler) override;
  void async_finish(Headers trailers, Handler handler) override;
  void abort() override;
  void async_accept_websocket(WebSocketAccept accept, AcceptHandler handler) override;
  void on_client_gone(std::function<void()> callback) override;

  // For the constructor's make_shared only; use arm().
  struct Token {};
  TimedExchange(Token, std::shared_ptr<Exchange> inner, OnTimeout on_timeout);

 private:
  // timed_out is final: finish() keeps it, so that it can tell the app it overran.
  enum class State { waiting, responding, timed_out, finished };

  void on_timer();
  void wait_for(Clock::duration delay);
  // The app's first response operation: false when the 504 went out instead. Forwards the
  // head start() recorded, so the inner exchange only ever sees one of the two answers.
  bool begin_response();
  void client_gone();
  template <class H, class... Args>
  void refuse(H& handler, Args... args);

  std::shared_ptr<Exchange> inner_;
  Clock::duration limit_{};
  boost::asio::steady_timer timer_;
  OnTimeout on_timeout_;
  std::mutex mutex_;
  State state_ = State::waiting;
  bool claimed_ = false;                        // the app began the request
  bool reading_ = false;                        // a body read is outstanding
  std::optional<Clock::time_point> read_done_;  // when the last body read completed
  std::optional<ResponseHead> head_;            // start() before the first write
  std::function<void()> gone_callback_;         // the app's on_client_gone
  bool gone_fired_ = false;
  bool watching_inner_ = false;  // our callback is registered with inner_
};

}  // namespace junction::gateway
