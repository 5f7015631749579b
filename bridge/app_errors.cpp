#include "bridge/app_errors.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <string>

#include "gateway/log_tag.hpp"

namespace py = pybind11;

namespace junction::bridge {

namespace {

void report(py::handle format_exception, py::handle type, py::handle value, py::handle trace,
            std::string summary, const gateway::RequestHead& request, std::string_view app,
            bool client_side) {
  if (client_side) {
    // A client that leaves is routine (a closed tab, a timeout on its side): one line at debug
    // level, never a traceback; the access log has the request and how far its response got.
    spdlog::debug("{}: the client left before {} was done: {}", gateway::LogTag{request}, app,
                  summary);
    return;
  }
  std::string text;
  try {
    text = format_exception(type, value, trace).cast<std::string>();
  } catch (const std::exception&) {
    text = std::move(summary);  // the traceback module failed us: the short text is what we have
  }
  while (!text.empty() && text.back() == '\n') text.pop_back();
  spdlog::error("{}: exception in {}:\n{}", gateway::LogTag{request}, app, text);
}

}  // namespace

void report_app_exception(py::handle format_exception, py::error_already_set& error,
                          const gateway::RequestHead& request, std::string_view app,
                          bool client_side) {
  // The traceback pybind11 fetched with the error: the value's __traceback__ need not be set.
  report(format_exception, error.type(), error.value(), error.trace(), error.what(), request, app,
         client_side);
}

void report_app_exception(py::handle format_exception, py::handle error,
                          const gateway::RequestHead& request, std::string_view app,
                          bool client_side) {
  std::string summary;
  try {
    summary = py::str(error);
  } catch (const std::exception&) {
    // An exception whose __str__ raises: the traceback module renders it without our help.
  }
  py::object trace = error.attr("__traceback__");
  report(format_exception, py::type::handle_of(error), error, trace, std::move(summary), request,
         app, client_side);
}

}  // namespace junction::bridge
