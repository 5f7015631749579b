// The definition behind http2.hpp's async_serve: one connection, owned by the frame that runs
// it. Included by instances.cpp and the unit tests' instantiations only.
#pragma once

#include <memory>
#include <utility>

#include "http2/connection.hpp"
#include "http2/http2.hpp"

namespace junction::http2 {

template <class Stream>
gateway::awaitable<void> async_serve(Stream stream, Start start, gateway::ConnectionSlot& slot) {
  auto connection =
      std::make_shared<Connection<Stream>>(std::move(stream), start.context, start.options,
                                           std::move(start.client), std::move(start.server));
  if (start.tls) connection->set_tls(std::move(start.tls));
  if (!start.initial.empty()) connection->prefill(start.initial);
  if (start.upgrade)
    connection->upgrade(std::move(*start.upgrade), std::move(start.upgrade_settings));
  gateway::ConnectionSlot::Attach attach(slot, *connection);
  co_await connection->async_run();
}

}  // namespace junction::http2
