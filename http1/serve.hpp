// The definition behind http1.hpp's async_serve: one connection, owned by the frame that runs
// it. Included by instances.cpp and the unit tests' instantiations only.
#pragma once

#include <memory>
#include <optional>
#include <utility>

#include "http1/connection.hpp"
#include "http1/http1.hpp"

namespace junction::http1 {

template <class Stream>
gateway::awaitable<std::optional<Handover<Stream>>> async_serve(Stream stream, Start start,
                                                                gateway::ConnectionSlot& slot) {
  auto connection = std::make_shared<Connection<Stream>>(std::move(stream), start.context,
                                                         std::move(start.client),
                                                         std::move(start.server), start.switches);
  if (start.tls) connection->set_tls(std::move(start.tls));
  bool to_http2 = false;
  {
    gateway::ConnectionSlot::Attach attach(slot, *connection);
    to_http2 = co_await connection->async_run();
  }
  if (!to_http2) co_return std::nullopt;
  co_return Handover<Stream>{connection->release_stream(), std::move(connection->handover())};
}

}  // namespace junction::http1
