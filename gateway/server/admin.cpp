#include "gateway/server/admin.hpp"

#include <fmt/format.h>

#include <chrono>
#include <iterator>
#include <string_view>

#include "gateway/access_log_format.hpp"
#include "gateway/server/admin_assets.hpp"
#include "gateway/server/metrics_text.hpp"
#include "gateway/text.hpp"

namespace junction::gateway {
namespace {

void answer(Exchange& exchange, int status, std::string_view content_type, std::string body,
            Headers extra = {}) {
  Headers headers{{"Content-Type", std::string(content_type)},
                  {"Content-Length", std::to_string(body.size())},
                  // Figures of this instant: a cache in between must not keep them.
                  {"Cache-Control", "no-store"}};
  for (auto& header : extra) headers.push_back(std::move(header));
  exchange.start({status, std::move(headers)});
  if (exchange.request().method == "HEAD") body.clear();
  exchange.async_write(std::move(body), true, nullptr);
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

const char* state_name(int state) {
  switch (state) {
    case WorkerSlot::kStarting:
      return "starting";
    case WorkerSlot::kServing:
      return "serving";
    case WorkerSlot::kDraining:
      return "draining";
    default:
      return "free";
  }
}

}  // namespace

std::string AdminApp::migration_json() const {
  auto held = sources_.load();
  return gateway::migration_json(held->migration, snapshot(), held->shadows, unix_now());
}

MetricsSnapshot AdminApp::snapshot() const {
  auto held = sources_.load();
  const auto& sources = *held;
  if (sources.refresh) sources.refresh();
  const auto* board = sources.board;
  return sources.store->sum([board](std::size_t slot) {
    if (!board) return slot == 0;
    return (*board)[slot].state.load(std::memory_order_acquire) != WorkerSlot::kFree;
  });
}

std::string AdminApp::status_json() const {
  auto held = sources_.load();
  const auto& sources = *held;
  if (sources.refresh) sources.refresh();
  fmt::memory_buffer out;
  auto it = std::back_inserter(out);
  out.append(std::string_view("{\"version\":"));
  append_json_quoted(out, sources.version);
  out.append(std::string_view(",\"python\":"));
  append_json_quoted(out, sources.python);
  fmt::format_to(it, ",\"pid\":{},\"started\":{:.3f},\"workers\":[", sources.pid, sources.started);
  bool first = true;
  auto worker = [&](std::size_t slot, const char* state, std::int64_t connections) {
    const auto& store = *sources.store;
    if (!first) out.push_back(',');
    first = false;
    fmt::format_to(it,
                   "{{\"pid\":{},\"state\":\"{}\",\"started\":{:.3f},\"requests\":{},"
                   "\"rss_bytes\":{},\"connections\":{}}}",
                   store.gauge_of(slot, gauge::pid), state,
                   static_cast<double>(store.gauge_of(slot, gauge::started_ms)) / 1000.0,
                   store.gauge_of(slot, gauge::requests), store.gauge_of(slot, gauge::rss_bytes),
                   connections);
  };
  if (sources.board) {
    const auto& board = *sources.board;
    for (std::size_t slot = 0; slot < WorkerBoard::kSlots; ++slot) {
      int state = board[slot].state.load(std::memory_order_acquire);
      if (state == WorkerSlot::kFree) continue;
      worker(slot, state_name(state), board[slot].connections.load(std::memory_order_relaxed));
    }
  } else {
    const auto& store = *sources.store;
    std::int64_t open = 0;
    for (auto g : {gauge::open_http1_plain, gauge::open_http1_tls, gauge::open_http2_plain,
                   gauge::open_http2_tls})
      open += static_cast<std::int64_t>(store.gauge_of(0, g));
    worker(0, "serving", open);
  }
  out.append(std::string_view("],\"apps\":["));
  first = true;
  for (const auto& [name, prefix] : sources.apps) {
    if (!first) out.push_back(',');
    first = false;
    out.append(std::string_view("{\"name\":"));
    append_json_quoted(out, name);
    out.append(std::string_view(",\"prefix\":"));
    append_json_quoted(out, prefix);
    out.push_back('}');
  }
  out.append(std::string_view("],\"routes\":["));
  first = true;
  for (std::size_t r = Router::kBuiltinRoutes; r < sources.routes.size(); ++r) {
    if (!first) out.push_back(',');
    first = false;
    out.append(std::string_view("{\"app\":"));
    append_json_quoted(out, sources.routes[r].app);
    out.append(std::string_view(",\"route\":"));
    append_json_quoted(out, sources.routes[r].route);
    out.push_back('}');
  }
  out.append(std::string_view("],\"listeners\":["));
  first = true;
  for (const auto& listener : sources.listeners) {
    if (!first) out.push_back(',');
    first = false;
    out.append(std::string_view("{\"address\":"));
    append_json_quoted(out, listener.address);
    out.append(std::string_view(",\"kind\":"));
    append_json_quoted(out, listener.kind);
    out.push_back('}');
  }
  out.append(std::string_view("]}"));
  return fmt::to_string(out);
}

void AdminApp::handle(std::shared_ptr<Exchange> exchange) {
  const auto& request = exchange->request();
  if (request.method != "GET" && request.method != "HEAD")
    return answer(*exchange, 405, "text/plain; charset=utf-8", "405 Method Not Allowed\n",
                  {{"Allow", "GET, HEAD"}});
  const auto& path = request.path;
  auto held = sources_.load();
  const auto& sources = *held;
  std::string_view asset_path_override;
  auto labels = [&] {
    std::size_t workers = 1;
    if (sources.board) {
      workers = 0;
      const auto& board = *sources.board;
      for (std::size_t slot = 0; slot < WorkerBoard::kSlots; ++slot)
        if (board[slot].state.load(std::memory_order_acquire) != WorkerSlot::kFree) ++workers;
    }
    return MetricsLabels{sources.routes, sources.version, sources.python, workers,
                         sources.board != nullptr};
  };
  if (path == "/metrics") {
    auto snap = snapshot();
    return answer(*exchange, 200, "text/plain; version=0.0.4; charset=utf-8",
                  prometheus_text(snap, labels()));
  }
  if (path == "/metrics.json") {
    auto snap = snapshot();
    return answer(*exchange, 200, "application/json", metrics_json(snap, labels(), unix_now()));
  }
  if (path == "/status") return answer(*exchange, 200, "application/json", status_json());
  // /migration is the page for a browser (it asks for HTML) and JSON for everyone else.
  bool wants_html = false;
  for (const auto& [name, value] : exchange->request().headers)
    if (iequals(name, "accept") && value.find("text/html") != std::string::npos) wants_html = true;
  if (path == "/migration.json" || (path == "/migration" && !wants_html))
    return answer(*exchange, 200, "application/json", migration_json());
  if (path == "/migration") asset_path_override = "/migration.html";
  std::string_view asset_path = !asset_path_override.empty() ? asset_path_override
                                : path == "/"                ? std::string_view("/dashboard.html")
                                                             : path;
  for (const auto& asset : admin_assets())
    if (asset.path == asset_path)
      return answer(*exchange, 200, asset.content_type, std::string(asset.body));
  answer(*exchange, 404, "text/plain; charset=utf-8",
         "404 Not Found: the admin listener serves /metrics, /metrics.json, /status, "
         "/migration and the dashboard at /\n");
}

}  // namespace junction::gateway
