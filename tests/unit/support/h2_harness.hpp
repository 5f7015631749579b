// Runs one Http2Connection over a MemoryStream, with an HTTP/2 client built on nghttp2's client
// session API (H2Client) or raw frames (h2_frame) on the other end. Scenarios run inside
// run_guarded (hang_guard.hpp), so they report with expect() instead of Catch assertions.
// Header-only.
#pragma once

#include <nghttp2/nghttp2.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/connection.hpp"
#include "gateway/health.hpp"
#include "gateway/options.hpp"
#include "gateway/router.hpp"
#include "support/hang_guard.hpp"
#include "support/instances.hpp"
#include "support/memory_stream.hpp"

namespace junction::test {

using namespace std::chrono_literals;

// Prints what went wrong (the scenario runs in a child process) and passes `ok` on.
inline bool expect(bool ok, const char* what) {
  if (!ok) std::fprintf(stderr, "expectation failed: %s\n", what);
  return ok;
}

// Checks, in the test itself, that `scenario` passes in a child process within 20 s.
inline void guarded(const std::function<bool()>& scenario) {
  CHECK(to_string(run_guarded(scenario, 20s)) == std::string("passed"));
}

// One frame on the wire (RFC 9113 §4.1).
inline std::string h2_frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                            std::string_view payload) {
  std::string out;
  auto n = payload.size();
  out.push_back(char(n >> 16));
  out.push_back(char(n >> 8));
  out.push_back(char(n));
  out.push_back(char(type));
  out.push_back(char(flags));
  out.push_back(char((stream >> 24) & 0x7f));
  out.push_back(char(stream >> 16));
  out.push_back(char(stream >> 8));
  out.push_back(char(stream));
  out.append(payload);
  return out;
}

// An HPACK block for "GET|POST /" on http://localhost, from the static table (RFC 7541 App. A).
inline std::string h2_request_block(bool post) {
  std::string block;
  block.push_back(char(post ? 0x83 : 0x82));  // :method
  block.push_back(char(0x86));                // :scheme http
  block.push_back(char(0x84));                // :path /
  block.push_back(char(0x01));                // :authority, literal without indexing
  block.push_back(char(9));
  block.append("localhost");
  return block;
}

// RFC 4648 §5 base64url without padding, as HTTP2-Settings carries it (RFC 7540 §3.2.1).
inline std::string base64url(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (unsigned char c : bytes) {
    bits = (bits << 8) | c;
    count += 8;
    while (count >= 6) {
      count -= 6;
      out.push_back(kAlphabet[(bits >> count) & 0x3f]);
    }
  }
  if (count > 0) out.push_back(kAlphabet[(bits << (6 - count)) & 0x3f]);
  return out;
}

// A frame found in raw server output.
struct RawFrame {
  std::uint8_t type = 0;
  std::uint8_t flags = 0;
  std::uint32_t stream = 0;
  std::string payload;
};

inline std::vector<RawFrame> h2_parse_frames(std::string_view bytes) {
  std::vector<RawFrame> frames;
  while (bytes.size() >= 9) {
    auto u = [&](std::size_t i) { return std::uint32_t(std::uint8_t(bytes[i])); };
    std::size_t n = (u(0) << 16) | (u(1) << 8) | u(2);
    if (bytes.size() < 9 + n) break;
    frames.push_back({std::uint8_t(u(3)), std::uint8_t(u(4)),
                      ((u(5) & 0x7f) << 24) | (u(6) << 16) | (u(7) << 8) | u(8),
                      std::string(bytes.substr(9, n))});
    bytes.remove_prefix(9 + n);
  }
  return frames;
}

inline std::uint32_t h2_u32(std::string_view payload, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | std::uint8_t(payload[at + i]);
  return v;
}

// The error code of the first GOAWAY in raw server output.
inline std::optional<std::uint32_t> h2_goaway_code(std::string_view bytes) {
  for (const auto& frame : h2_parse_frames(bytes))
    if (frame.type == NGHTTP2_GOAWAY && frame.payload.size() >= 8) return h2_u32(frame.payload, 4);
  return std::nullopt;
}

// An HTTP/2 client on nghttp2's client session, in memory mode.
class H2Client {
 public:
  struct Response {
    int status = 0;                  // the final status
    std::vector<int> informational;  // 1xx statuses before it (RFC 9113 §8.1)
    gateway::Headers headers;
    gateway::Headers trailers;
    std::string body;
    bool closed = false;
    std::uint32_t error_code = 0;      // RST_STREAM code, 0 when it ended normally
    std::uint64_t window_updates = 0;  // WINDOW_UPDATE increments the server sent for it
    std::uint64_t data_sent = 0;       // request body bytes we sent
  };

  explicit H2Client(std::vector<nghttp2_settings_entry> settings = {}) {
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                std::size_t namelen, const std::uint8_t* value, std::size_t valuelen, std::uint8_t,
                void* user) {
          auto& r = static_cast<H2Client*>(user)->responses[frame->hd.stream_id];
          std::string n(reinterpret_cast<const char*>(name), namelen);
          std::string v(reinterpret_cast<const char*>(value), valuelen);
          if (n == ":status") {
            auto status = std::stoi(v);
            if (status < 200)
              r.informational.push_back(status);
            else
              r.status = status;
          } else if (frame->headers.cat == NGHTTP2_HCAT_HEADERS && r.status != 0) {
            r.trailers.emplace_back(n, v);
          } else {
            r.headers.emplace_back(n, v);
          }
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cbs, [](nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data,
                std::size_t len, void* user) {
          static_cast<H2Client*>(user)->responses[id].body.append(
              reinterpret_cast<const char*>(data), len);
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cbs, [](nghttp2_session*, std::int32_t id, std::uint32_t code, void* user) {
          auto& r = static_cast<H2Client*>(user)->responses[id];
          r.closed = true;
          r.error_code = code;
          return 0;
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* frame, void* user) {
          auto& self = *static_cast<H2Client*>(user);
          if (frame->hd.type == NGHTTP2_GOAWAY) {
            self.goaways.push_back({frame->goaway.last_stream_id, frame->goaway.error_code});
          } else if (frame->hd.type == NGHTTP2_WINDOW_UPDATE) {
            if (frame->hd.stream_id == 0)
              self.connection_window_updates += frame->window_update.window_size_increment;
            else
              self.responses[frame->hd.stream_id].window_updates +=
                  frame->window_update.window_size_increment;
          }
          return 0;
        });
    nghttp2_session_callbacks_set_on_frame_send_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* frame, void* user) {
          if (frame->hd.type == NGHTTP2_DATA)
            static_cast<H2Client*>(user)->responses[frame->hd.stream_id].data_sent +=
                frame->hd.length;
          return 0;
        });
    // nghttp2 refuses to send a header block it estimates (uncompressed) past 64 KB; the HPACK
    // bomb test sends exactly such a block, compressed to a few KB.
    nghttp2_option* option = nullptr;
    nghttp2_option_new(&option);
    nghttp2_option_set_max_send_header_block_length(option, 1 << 20);
    nghttp2_session_client_new2(&session_, cbs, this, option);
    nghttp2_option_del(option);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  }
  ~H2Client() { nghttp2_session_del(session_); }
  H2Client(const H2Client&) = delete;
  H2Client& operator=(const H2Client&) = delete;

  // Submits a request; `body` (kept until sent) makes it a request with a body, which ends
  // with it unless `body_ends` is false (then the stream stays open, the body stalled).
  std::int32_t submit(std::string method, std::string path, gateway::Headers extra = {},
                      std::optional<std::string> body = std::nullopt, bool body_ends = true) {
    gateway::Headers fields{{":method", std::move(method)},
                            {":scheme", "http"},
                            {":path", std::move(path)},
                            {":authority", "example.test"}};
    for (auto& field : extra) fields.push_back(std::move(field));
    std::vector<nghttp2_nv> nv;
    for (auto& [n, v] : fields)
      nv.push_back({reinterpret_cast<std::uint8_t*>(n.data()),
                    reinterpret_cast<std::uint8_t*>(v.data()), n.size(), v.size(),
                    NGHTTP2_NV_FLAG_NONE});
    nghttp2_data_provider provider{};
    Body* source = nullptr;
    if (body) {
      bodies_.push_back(std::make_unique<Body>(Body{std::move(*body), 0, body_ends}));
      source = bodies_.back().get();
      provider.source.ptr = source;
      provider.read_callback = [](nghttp2_session*, std::int32_t, std::uint8_t* buf,
                                  std::size_t length, std::uint32_t* flags,
                                  nghttp2_data_source* src, void*) -> ssize_t {
        auto& b = *static_cast<Body*>(src->ptr);
        auto n = std::min(length, b.data.size() - b.offset);
        if (n == 0 && !b.ends) return NGHTTP2_ERR_DEFERRED;
        std::memcpy(buf, b.data.data() + b.offset, n);
        b.offset += n;
        if (b.offset == b.data.size() && b.ends) *flags |= NGHTTP2_DATA_FLAG_EOF;
        return static_cast<ssize_t>(n);
      };
    }
    auto id = nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(),
                                     body ? &provider : nullptr, nullptr);
    if (source) pending_[id] = source;
    return id;
  }

  // The rest of a body submitted with body_ends false: `more`, then END_STREAM.
  void finish_body(std::int32_t id, std::string_view more) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    it->second->data.append(more);
    it->second->ends = true;
    nghttp2_session_resume_data(session_, id);
  }

  void reset(std::int32_t id, std::uint32_t code = NGHTTP2_CANCEL) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, code);
  }

  // What the client has to send now.
  std::string output() {
    std::string out;
    for (;;) {
      const std::uint8_t* data = nullptr;
      auto n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) break;
      out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    return out;
  }

  bool receive(std::string_view bytes) {
    return nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                    bytes.size()) >= 0;
  }

  nghttp2_session* session() noexcept { return session_; }

  // An HTTP2-Settings payload (RFC 7540 §3.2.1, before base64url) carrying `settings`.
  static std::string upgrade_settings(std::vector<nghttp2_settings_entry> settings) {
    std::string out(settings.size() * 6, '\0');
    auto n = nghttp2_pack_settings_payload(reinterpret_cast<std::uint8_t*>(out.data()), out.size(),
                                           settings.data(), settings.size());
    out.resize(n < 0 ? 0 : std::size_t(n));
    return out;
  }

  // The client's side of an h2c upgrade (RFC 7540 §3.2): `settings` were sent in HTTP2-Settings
  // and the request is stream 1. Before anything else is submitted; true when nghttp2 took it.
  bool upgrade(std::string_view settings, bool head_request = false) {
    return nghttp2_session_upgrade2(session_,
                                    reinterpret_cast<const std::uint8_t*>(settings.data()),
                                    settings.size(), head_request, nullptr) == 0;
  }

  struct Goaway {
    std::int32_t last_stream_id;
    std::uint32_t error_code;
  };
  std::map<std::int32_t, Response> responses;
  std::vector<Goaway> goaways;
  std::uint64_t connection_window_updates = 0;

 private:
  struct Body {
    std::string data;
    std::size_t offset;
    bool ends;  // END_STREAM after the data; false: the body stalls there
  };
  nghttp2_session* session_ = nullptr;
  std::vector<std::unique_ptr<Body>> bodies_;
  std::map<std::int32_t, Body*> pending_;  // bodies by stream, for finish_body
};

// One Http2Connection<MemoryStream>, the client's end, and an io_context to run them.
class H2Harness {
 public:
  using Connection = http2::Connection<MemoryStream>;

  // The health app with diagnostics answers /h (echo, sleep); mount more with router.mount.
  H2Harness() : peer(std::make_shared<MemoryPeer>(io)) {
    router.set_health_path("/h", std::make_shared<gateway::HealthApp>(true));
  }
  H2Harness(const H2Harness&) = delete;
  H2Harness& operator=(const H2Harness&) = delete;
  ~H2Harness() {
    if (connection && !finished_) {
      connection->terminate();
      run_until([this] { return finished_; }, 1s);
    }
    connection.reset();
  }

  // `initial`: bytes handed over as the server would after reading them (prefill).
  void start(std::string_view initial = {}) {
    context_.emplace(gateway::ConnectionContext{limits, timeouts, router, nullptr});
    context_->response_budget = response_budget;
    connection = std::make_shared<Connection>(MemoryStream(peer), *context_, options,
                                              gateway::Address{"127.0.0.1", 5555},
                                              gateway::Address{"127.0.0.1", 80});
    if (!initial.empty()) connection->prefill(initial);
    asio::co_spawn(io, connection->async_run(), [this](std::exception_ptr e) {
      finished_ = true;
      failure_ = e;
    });
  }

  // Moves bytes both ways (client output to the server; server output to the client, when
  // `client` is set) and runs what is ready. True when anything moved or ran.
  bool pump(H2Client* client) {
    bool moved = false;
    if (client) {
      auto out = client->output();
      if (!out.empty()) {
        peer->send(out);
        moved = true;
      }
    }
    if (io.stopped()) io.restart();
    moved = io.poll() > 0 || moved;
    const auto& output = peer->output();
    // A client reads what it has not read yet; without one the output waits for it.
    if (client && output.size() > taken_) {
      client->receive(std::string_view(output).substr(taken_));
      taken_ = output.size();
    }
    if (output.size() > seen_) {
      seen_ = output.size();
      moved = true;
    }
    return moved;
  }

  // Pumps until `done` holds or `limit` passes (then waits a little for timers).
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s,
                 H2Client* client = nullptr) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      if (!pump(client)) {
        if (io.stopped()) io.restart();
        io.run_one_for(5ms);
      }
    }
    return done();
  }
  bool run_until(H2Client& client, const std::function<bool()>& done,
                 std::chrono::milliseconds limit = 5s) {
    return run_until(done, limit, &client);
  }

  // Pumps until nothing moves in either direction (timers aside).
  void settle(H2Client* client = nullptr) {
    for (int quiet = 0; quiet < 3;) quiet = pump(client) ? 0 : quiet + 1;
  }

  bool finished() const noexcept { return finished_; }
  std::exception_ptr failure() const noexcept { return failure_; }

  asio::io_context io;
  gateway::Limits limits;
  gateway::Timeouts timeouts;
  gateway::ByteBudget* response_budget = nullptr;  // --response-buffer-total; null: none
  http2::Options options;
  gateway::Router router;
  std::shared_ptr<MemoryPeer> peer;
  std::shared_ptr<Connection> connection;

 private:
  std::optional<gateway::ConnectionContext> context_;
  std::size_t taken_ = 0;  // output the client has read
  std::size_t seen_ = 0;   // output the pump has noticed
  bool finished_ = false;
  std::exception_ptr failure_;
};

}  // namespace junction::test
