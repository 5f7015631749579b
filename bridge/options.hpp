// The Python side's options: where apps come from and how WSGI and ASGI requests run.
#pragma once

#include <string>
#include <vector>

#include "gateway/options.hpp"

namespace junction::bridge {

struct Options {
  std::string venv;                     // a virtualenv to import from; empty: none
  std::string chdir;                    // change to this directory before importing
  std::vector<std::string> pythonpath;  // extra import paths, first searched first
  unsigned threads = 8;                 // WSGI pool threads
  unsigned backlog = 256;               // WSGI requests that may wait for a thread; then 503
  std::string loop = "auto";      // ASGI event loop: auto (uvloop when installed), asyncio, uvloop
  std::string lifespan = "auto";  // ASGI lifespan protocol: auto, on, off
  unsigned limit_concurrency = 1000;  // ASGI requests and WebSockets at once; then 503
  // --request-timeout: a request whose response has not started this long after it reached
  // the app gets 504 (gateway/timed_exchange.hpp); 0: no limit.
  gateway::seconds_d request_timeout{0};
};

}  // namespace junction::bridge
