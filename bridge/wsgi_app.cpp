#include "bridge/wsgi_app.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <chrono>

#include "bridge/app_errors.hpp"
#include "bridge/worker_pool.hpp"
#include "bridge/wsgi_input.hpp"
#include "bridge/wsgi_response.hpp"
#include "gateway/log_tag.hpp"

namespace py = pybind11;

namespace junction::bridge {

WsgiApp::WsgiApp(py::object app, std::string name, std::string script_name,
                 std::shared_ptr<WsgiSupport> support, WorkerPool& pool,
                 gateway::seconds_d request_timeout, std::string pool_settings)
    : app_(std::move(app)),
      name_(std::move(name)),
      support_(std::move(support)),
      environ_(std::in_place, std::move(script_name), support_->errors, support_->file_wrapper),
      pool_(pool),
      request_timeout_(request_timeout),
      pool_settings_(std::move(pool_settings)) {}

WsgiApp::~WsgiApp() {
  py::gil_scoped_acquire gil;
  app_ = py::object();
  environ_.reset();
  support_.reset();
}

void WsgiApp::handle(std::shared_ptr<gateway::Exchange> exchange) {
  if (exchange->request().websocket) return refuse_websocket(*exchange);
  std::shared_ptr<gateway::TimedExchange> timed;
  if (request_timeout_.count() > 0)
    timed = gateway::TimedExchange::arm(
        exchange, request_timeout_,
        [this, &request = exchange->request()](bool running) { on_timeout(request, running); });
  auto ticket = pool_.submit(
      [this, exchange, timed]() mutable {
        if (timed)
          run_timed(timed);
        else
          run(exchange);
        exchange.reset();
        timed.reset();
      },
      true);
  if (ticket == WorkerPool::kRefused && timed) timed->finish();  // the 503 below is the answer
  if (ticket == WorkerPool::kRefused) return reject(*exchange);
  // A client that leaves while its request waits for a thread takes the request with it: its
  // backlog place is free at once, and no thread runs an app for no one. Once a thread has
  // taken the job, the app registers its own callback in place of this one.
  std::weak_ptr<gateway::Exchange> weak = exchange;
  std::weak_ptr<gateway::TimedExchange> weak_timed = timed;
  (timed ? static_cast<gateway::Exchange&>(*timed) : *exchange)
      .on_client_gone([this, ticket, weak, weak_timed] {
        auto held = weak.lock();  // the queued job holds it: gone, the job is gone too
        if (!held || !pool_.cancel(ticket)) return;
        if (auto timed = weak_timed.lock()) timed->finish();
        support_->dropped.fetch_add(1, std::memory_order_relaxed);
        spdlog::debug("{}: the client left while its request waited for a WSGI thread: dropped",
                      gateway::LogTag{held->request()});
      });
  // Wake the pool once this I/O thread has handled every socket that is ready now: the
  // requests of a burst go to Python in one hand-off (one futex wake, one GIL hold).
  thread_local bool wake_posted = false;
  if (!wake_posted) {
    wake_posted = true;
    boost::asio::post(exchange->executor(), [&pool = pool_] {
      wake_posted = false;
      pool.wake();
    });
  }
}

void WsgiApp::reject(gateway::Exchange& exchange) {
  support_->refused.fetch_add(1, std::memory_order_relaxed);
  overload_.answer(exchange, [this] {
    return fmt::format(
        "{}: every WSGI thread is busy and the backlog is full: answering 503 (see {})", name_,
        pool_settings_);
  });
}

void WsgiApp::refuse_websocket(gateway::Exchange& exchange) {
  // WSGI has no way to hold a connection open for messages (PEP 3333 is one request, one
  // response). 501: this server cannot do what the request asks, here; a WSGI app must not
  // see the Upgrade and answer 200, which a WebSocket client would take for a broken server.
  exchange.start({501, {{"Content-Type", "text/plain; charset=utf-8"}}});
  exchange.async_write("501 Not Implemented: WebSocket requests need an ASGI app, and " + name_ +
                           " is a WSGI app (mount an ASGI app at this path)\n",
                       true, nullptr);
}

// On the I/O thread, with the exchange's lock held: the client is getting its 504.
void WsgiApp::on_timeout(const gateway::RequestHead& request, bool running) {
  support_->timed_out.fetch_add(1, std::memory_order_relaxed);
  auto limit = request_timeout_.count();
  if (!running) {
    spdlog::warn("{}: {} no WSGI thread took it within {:g}s (--request-timeout): answered 504",
                 gateway::LogTag{request}, name_, limit);
    return;
  }
  auto overdue = pool_.mark_overdue();
  spdlog::warn(
      "{}: {} has not started its response after {:g}s (--request-timeout): answered 504; "
      "its WSGI thread is overdue until the app returns ({} of {} threads overdue)",
      gateway::LogTag{request}, name_, limit, overdue, pool_.threads());
}

void WsgiApp::run_timed(const std::shared_ptr<gateway::TimedExchange>& exchange) {
  if (!exchange->claim()) {
    exchange->finish();  // answered 504 while it waited: the app never sees it
    return;
  }
  auto began = std::chrono::steady_clock::now();
  run(exchange);
  if (!exchange->finish()) return;
  const auto& request = exchange->request();
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - began;
  auto overdue = pool_.overdue_returned();
  spdlog::warn(
      "{}: {} returned after {:.1f}s, past its 504 (--request-timeout): its WSGI thread is "
      "back ({} of {} threads overdue)",
      gateway::LogTag{request}, name_, took.count(), overdue, pool_.threads());
}

void WsgiApp::run(const std::shared_ptr<gateway::Exchange>& exchange) {
  const auto& request = exchange->request();
  auto input = std::make_shared<WsgiInput>(exchange);
  auto response = std::make_shared<WsgiResponse>(exchange);
  py::object result;
  try {
    py::object py_input = py::cast(input);
    py::object start_response = py::cast(response);
    py::dict environ = environ_->build(request, py_input);
    result = app_(environ, start_response);
    response->send(result, support_->file_wrapper);
  } catch (py::error_already_set& error) {
    report_app_exception(support_->format_exception, error, request, name_,
                         response->client_gone() || input->failed());
    response->fail();
  } catch (const std::exception& error) {
    spdlog::error("{}: {} failed: {}", gateway::LogTag{request}, name_, error.what());
    response->fail();
  }
  // PEP 3333: close() once the request is over, however it ended.
  if (result && py::hasattr(result, "close")) {
    try {
      result.attr("close")();
    } catch (py::error_already_set& error) {
      report_app_exception(support_->format_exception, error, request, name_, false);
      response->fail();
    }
  }
  response->finish_request();
  input->finish_request();
}

}  // namespace junction::bridge
