#include "bridge/asgi_app.hpp"

#include <spdlog/spdlog.h>

#include <type_traits>

#include "bridge/app_errors.hpp"
#include "bridge/asgi_http.hpp"
#include "bridge/asgi_messages.hpp"
#include "bridge/asgi_websocket.hpp"
#include "gateway/log_tag.hpp"

namespace py = pybind11;

namespace junction::bridge {

AsgiSupport::AsgiSupport(py::handle support_module, EventLoop& loop)
    : run_asgi(support_module.attr("run_asgi")),
      client_disconnected(support_module.attr("ClientDisconnected")),
      format_exception(support_module.attr("format_exception")),
      cancelled_error(py::module_::import("asyncio").attr("CancelledError")),
      create_future(loop.loop().attr("create_future")),
      create_task(loop.loop().attr("create_task")),
      type(interned("type")),
      body(interned("body")),
      more_body(interned("more_body")),
      status(interned("status")),
      headers(interned("headers")),
      trailers(interned("trailers")),
      more_trailers(interned("more_trailers")),
      bytes(interned("bytes")),
      text(interned("text")),
      code(interned("code")),
      reason(interned("reason")),
      subprotocol(interned("subprotocol")),
      http_request(interned("http.request")),
      http_disconnect(interned("http.disconnect")),
      websocket_connect(interned("websocket.connect")),
      websocket_receive(interned("websocket.receive")),
      websocket_disconnect(interned("websocket.disconnect")) {}

AsgiApp::AsgiApp(py::object app, std::string name, std::string root_path,
                 std::shared_ptr<AsgiSupport> support, std::shared_ptr<AsgiBudget> budget,
                 gateway::seconds_d request_timeout, EventLoop& loop)
    : app_(std::move(app)),
      name_(std::move(name)),
      support_(std::move(support)),
      budget_(std::move(budget)),
      request_timeout_(request_timeout),
      loop_(loop),
      scopes_(std::move(root_path)) {}

AsgiApp::~AsgiApp() {
  py::gil_scoped_acquire gil;
  app_ = py::object();
  state_ = py::dict();
  support_.reset();
}

void AsgiApp::handle(std::shared_ptr<gateway::Exchange> exchange) {
  if (budget_->in_flight.fetch_add(1, std::memory_order_relaxed) >= budget_->limit) {
    budget_->in_flight.fetch_sub(1, std::memory_order_relaxed);
    return reject(*exchange);
  }
  live_.fetch_add(1, std::memory_order_relaxed);
  const auto& request = exchange->request();
  if (request.websocket) {
    auto core = std::make_shared<WebSocketCore>(std::move(exchange), *this, loop_);
    core->watch_client();
    loop_.post_batched(core->io_, core, WebSocketCore::kBegin);
    return;
  }
  // --request-timeout. The core does not exist yet when the timer is armed; the timer cannot
  // fire before the slot is filled, since both happen on this I/O thread.
  std::shared_ptr<gateway::TimedExchange> timed;
  std::shared_ptr<std::weak_ptr<HttpCore>> slot;
  if (request_timeout_.count() > 0) {
    slot = std::make_shared<std::weak_ptr<HttpCore>>();
    timed = gateway::TimedExchange::arm(exchange, request_timeout_, [this, slot](bool) {
      budget_->timed_out.fetch_add(1, std::memory_order_relaxed);
      if (auto core = slot->lock()) core->loop_.post_batched(core->io_, core, HttpCore::kTimedOut);
    });
    exchange = timed;
  }
  auto core = std::make_shared<HttpCore>(exchange, *this, loop_);
  if (slot) *slot = core;
  core->timed_ = std::move(timed);
  // A weak reference: the exchange keeps this callback until the request is over, and the
  // core keeps the exchange.
  exchange->on_client_gone([weak = std::weak_ptr<HttpCore>(core)] {
    if (auto core = weak.lock()) {
      core->client_left_.store(true, std::memory_order_relaxed);
      core->loop_.post_batched(core->io_, core, HttpCore::kClientGone);
    }
  });
  // Read the first body piece now, so that it usually reaches the loop with the request
  // itself; not when the client waits for 100 Continue, which the app's first receive() sends
  // (RFC 9110 §10.1.1: the app may answer without reading the body).
  core->read_ahead_ = request.has_body && !request.expect_continue;
  loop_.post_batched(core->io_, core, HttpCore::kBegin);
  if (core->read_ahead_) core->start_read(*exchange);
}

void AsgiApp::reject(gateway::Exchange& exchange) {
  budget_->refused.fetch_add(1, std::memory_order_relaxed);
  // As uvicorn's --limit-concurrency: tasks must not pile up on the loop without bound.
  overload_.answer(exchange, [this] {
    return fmt::format("{}: {} ASGI requests in progress: answering 503 (see {})", name_,
                       budget_->limit, budget_->setting);
  });
}

template <class Core>
void AsgiApp::begin(const std::shared_ptr<Core>& core) {
  // The two cycles differ in their scope and their Python type, not in how they start.
  constexpr bool websocket = std::is_same_v<Core, WebSocketCore>;
  using Cycle = std::conditional_t<websocket, WebSocketCycle, HttpCycle>;
  const auto& request = core->exchange_->request();
  if constexpr (!websocket) {
    if (core->timed_ && !core->timed_->claim()) {
      // --request-timeout: the 504 went out while the request waited for the loop.
      spdlog::warn(
          "{}: {} waited {:g}s for the ASGI event loop (--request-timeout): "
          "answered 504, the app did not run",
          gateway::LogTag{request}, name_, request_timeout_.count());
      core->timed_->finish();
      core->exchange_.reset();
      core->timed_.reset();
      return finished();
    }
    if (core->client_left_.load(std::memory_order_relaxed)) {
      // The client left while the request waited for the loop: no task runs for no one.
      budget_->dropped.fetch_add(1, std::memory_order_relaxed);
      spdlog::debug("{}: the client left before {} began the request: dropped",
                    gateway::LogTag{request}, name_);
      if (core->timed_) core->timed_->finish();
      core->exchange_.reset();
      core->timed_.reset();
      return finished();
    }
  }
  auto cycle = std::make_shared<Cycle>(core, *this);
  try {
    py::object py_cycle = py::cast(cycle);
    py::dict scope = websocket ? scopes_.websocket(request, state_) : scopes_.http(request, state_);
    cycle->set_task(support_->create_task(support_->run_asgi(app_, scope, py_cycle)));
  } catch (py::error_already_set& error) {
    cycle->done(error.value());  // reports it, and answers 500
  }
}

template void AsgiApp::begin(const std::shared_ptr<HttpCore>& core);
template void AsgiApp::begin(const std::shared_ptr<WebSocketCore>& core);

void AsgiApp::report(py::handle error, const gateway::RequestHead& request,
                     bool client_side) const {
  report_app_exception(support_->format_exception, error, request, name_, client_side);
}

void AsgiApp::report(const std::string& problem, const gateway::RequestHead& request) const {
  spdlog::error("{}: {}: {}", gateway::LogTag{request}, name_, problem);
}

}  // namespace junction::bridge
