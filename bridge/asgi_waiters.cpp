#include "bridge/asgi_waiters.hpp"

namespace py = pybind11;

namespace junction::bridge {

namespace {

bool done(const py::object& future) {
  return future.attr("done")().cast<bool>();
}

}  // namespace

bool set_result(const py::object& future, py::handle value) {
  if (done(future)) return false;
  future.attr("set_result")(value);
  return true;
}

bool set_exception(const py::object& future, py::handle error) {
  if (done(future)) return false;
  future.attr("set_exception")(error);
  return true;
}

py::object ReceiveWaiters::wait() {
  py::object future = create_future_();
  futures_.push_back(future);
  return future;
}

bool ReceiveWaiters::deliver(py::object event) {
  while (!futures_.empty()) {
    py::object future = std::move(futures_.front());
    futures_.erase(futures_.begin());
    if (set_result(future, event)) return true;
  }
  ready_ = std::move(event);
  return false;
}

py::object SendWaiter::wait() {
  future_ = create_future_();
  return future_;
}

void SendWaiter::release(py::handle error) {
  if (!future_) return;
  py::object future = std::exchange(future_, py::object());
  if (error)
    set_exception(future, error);
  else
    set_result(future, py::none());
}

void SendWaiter::cancel() {
  if (future_) std::exchange(future_, py::object()).attr("cancel")();
}

}  // namespace junction::bridge
