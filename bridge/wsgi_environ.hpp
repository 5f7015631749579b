// The WSGI environ (PEP 3333 "environ Variables") built from the request model.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

#include "gateway/exchange.hpp"

namespace junction::bridge {

class EnvironBuilder {
 public:
  // `script_name` is the mount prefix ("" at the root). Call with the GIL held.
  EnvironBuilder(std::string script_name, pybind11::handle errors, pybind11::handle file_wrapper);

  // A fresh environ for one request; `input` is its wsgi.input.
  pybind11::dict build(const gateway::RequestHead& request, pybind11::handle input) const;

 private:
  // The keys every environ has with the same value, copied into each new one at once.
  pybind11::dict template_;
  std::string script_name_;
};

}  // namespace junction::bridge
