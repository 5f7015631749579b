// How an app's exception reaches the log, the same for WSGI and ASGI apps: its traceback at error
// level, or one line at info when it only followed from the client leaving (a client that goes
// away is normal, not an error). The end-to-end tests read these lines. GIL held.
#pragma once

#include <pybind11/pybind11.h>

#include <string_view>

#include "gateway/exchange.hpp"

namespace junction::bridge {

// `format_exception` is the support module's (type, value, traceback) -> str; `app` the APP
// text. `client_side`: the client left (or broke its body) and the exception is a consequence.

// WSGI: the error pybind11 caught as it left the app. The early-end line, and the stand-in
// when the traceback cannot be formatted, is pybind11's rendering of it (`error.what()`).
void report_app_exception(pybind11::handle format_exception, pybind11::error_already_set& error,
                          const gateway::RequestHead& request, std::string_view app,
                          bool client_side);

// ASGI: the exception object a task ended with. The early-end line, and the stand-in, is
// `str(error)`.
void report_app_exception(pybind11::handle format_exception, pybind11::handle error,
                          const gateway::RequestHead& request, std::string_view app,
                          bool client_side);

}  // namespace junction::bridge
