#include "gateway/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <thread>
#include <unordered_set>

#include "gateway/access_log.hpp"
#include "gateway/http1_connection.hpp"
#include "http2/connection.hpp"
#include "tls/context.hpp"
#include "tls/websocket.hpp"

namespace junction::gateway {

namespace {

using Protocol = asio::generic::stream_protocol;
using Acceptor = asio::basic_socket_acceptor<Protocol, asio::io_context::executor_type>;
using Socket = asio::basic_stream_socket<Protocol, asio::io_context::executor_type>;
using Http1 = Http1Connection<Socket>;
using Http2 = http2::Http2Connection<Socket>;
using TlsSocket = tls::TlsStream<Socket>;
using Http1Tls = Http1Connection<TlsSocket>;
using Http2Tls = http2::Http2Connection<TlsSocket>;
using Executor = asio::io_context::executor_type;
using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                         asio::wait_traits<std::chrono::steady_clock>,
                                         asio::io_context::executor_type>;

Address to_address(const Protocol::endpoint& endpoint) {
  const auto* sa = endpoint.data();
  char text[INET6_ADDRSTRLEN] = {};
  switch (sa->sa_family) {
    case AF_INET: {
      const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
      inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
      return {text, ntohs(in->sin_port)};
    }
    case AF_INET6: {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
      inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
      return {text, ntohs(in6->sin6_port)};
    }
    case AF_UNIX: {
      const auto* un = reinterpret_cast<const sockaddr_un*>(sa);
      auto max = endpoint.size() > offsetof(sockaddr_un, sun_path)
                     ? endpoint.size() - offsetof(sockaddr_un, sun_path)
                     : 0;
      return {std::string(un->sun_path, strnlen(un->sun_path, max)), 0};
    }
    default:
      return {};
  }
}

std::string describe(const Protocol::endpoint& endpoint, bool tls) {
  auto address = to_address(endpoint);
  const char* scheme = tls ? "https" : "http";
  switch (endpoint.data()->sa_family) {
    case AF_INET:
      return fmt::format("{}://{}:{}", scheme, address.host, address.port);
    case AF_INET6:
      return fmt::format("{}://[{}]:{}", scheme, address.host, address.port);
    default:
      return "unix:" + address.host;
  }
}

// accept(2) errors that come from exhausting a resource: wait for it to come back.
bool is_resource_exhaustion(const error_code& ec) {
  auto e = ec.value();  // accept(2) errors are errno values
  return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

}  // namespace

struct Server::Impl {
  struct IoThread {
    // Declared before the context: frames the context still holds when it is destroyed (a
    // connection stuck past the grace period) unregister from it as they go.
    std::unordered_set<Connection*> connections;  // touched only on this thread
    asio::io_context context{1};
    asio::executor_work_guard<asio::io_context::executor_type> work{context.get_executor()};
    std::thread thread;
  };

  struct Listener {
    Acceptor acceptor;
    std::string name;
    std::string unix_path;  // removed at exit
    Address address;
  };

  const Config& config;
  std::unique_ptr<AccessLog> access_log;
  ConnectionContext context;
  const Http2Options& http2_options;
  std::vector<std::unique_ptr<IoThread>> threads;
  std::vector<std::unique_ptr<Listener>> listeners;
  std::atomic<std::size_t> live{0};
  std::size_t next_thread = 0;
  std::atomic<bool> stopping{false};  // read by connection threads
  std::optional<asio::signal_set> signals;
  std::function<std::size_t()> app_work;  // see Server::set_app_work
  // TLS (null: plain text). The contexts are replaced by a reload; both are touched only on
  // the main thread (accepts, signals), and a connection keeps the set it started with.
  std::shared_ptr<tls::TicketKeys> ticket_keys;
  std::shared_ptr<const tls::ServerContexts> tls_contexts;

  Impl(const Config& c, const Router& router)
      : config(c),
        access_log(c.access_log ? std::make_unique<AccessLog>() : nullptr),
        context{c.limits, c.timeouts, router, access_log.get()},
        http2_options(c.http2) {
    for (unsigned i = 0; i < c.io_threads; ++i) threads.push_back(std::make_unique<IoThread>());
    // RFC 7540 §3.2: an HTTP/1.1 connection that upgrades to h2c goes on as an Http2Connection
    // on the same thread, spawned like any other connection.
    http2::enable_h2c_upgrade<Socket>(context, http2_options, [this](std::shared_ptr<Http2> h2) {
      auto& thread = thread_of(h2->get_executor());
      ++live;
      spawn(thread, std::move(h2));
    });
  }

  IoThread& thread_of(const Executor& executor) {
    for (auto& thread : threads)
      if (&thread->context == &executor.context()) return *thread;
    return *threads.front();
  }

  asio::io_context& main_context() { return threads.front()->context; }

  void open(const BindAddress& bind) {
    auto listener =
        std::make_unique<Listener>(Listener{Acceptor(main_context()), bind.text, {}, {}});
    auto& acceptor = listener->acceptor;
    error_code ec;
    Protocol::endpoint endpoint;
    if (bind.kind == BindAddress::Kind::unix_socket) {
      // A stale socket file from an earlier run would make bind fail; remove only sockets.
      struct stat st {};
      if (::stat(bind.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(bind.path.c_str());
      endpoint = asio::local::stream_protocol::endpoint(bind.path);
      listener->unix_path = bind.path;
    } else {
      asio::ip::tcp::resolver resolver(main_context());
      auto results = resolver.resolve(bind.host, std::to_string(bind.port),
                                      asio::ip::tcp::resolver::passive, ec);
      if (ec || results.empty())
        throw StartupError(fmt::format("cannot resolve '{}': {}", bind.text, ec.message()));
      endpoint = results.begin()->endpoint();
    }
    acceptor.open(endpoint.protocol(), ec);
    if (!ec && bind.kind == BindAddress::Kind::tcp)
      acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw StartupError(fmt::format("cannot listen on {}: {}", bind.text, ec.message()));
    auto local = acceptor.local_endpoint(ec);
    listener->name = bind.kind == BindAddress::Kind::unix_socket
                         ? "unix:" + bind.path
                         : describe(local, tls_contexts != nullptr);
    listener->address =
        bind.kind == BindAddress::Kind::unix_socket ? Address{bind.path, 0} : to_address(local);
    spdlog::info("Listening on {}", listener->name);
    listeners.push_back(std::move(listener));
  }

  // The accept loop never dies: errors are logged (once a second at most) and, when a resource
  // such as file descriptors ran out, retried after a pause.
  asio::awaitable<void> async_accept_loop(Listener& listener) {
    Timer backoff(main_context());
    auto last_report = std::chrono::steady_clock::time_point{};
    for (;;) {
      auto& target = *threads[next_thread];
      next_thread = (next_thread + 1) % threads.size();
      auto [ec, socket] = co_await listener.acceptor.async_accept(
          target.context, asio::as_tuple(asio::use_awaitable));
      if (stopping) {
        spdlog::debug("accept loop on {} stopped", listener.name);
        co_return;
      }
      if (ec) {
        auto now = std::chrono::steady_clock::now();
        if (now - last_report > std::chrono::seconds(1)) {
          spdlog::error("accept on {} failed: {}; retrying", listener.name, ec.message());
          last_report = now;
        }
        if (is_resource_exhaustion(ec)) {
          backoff.expires_after(std::chrono::milliseconds(100));
          co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        continue;
      }
      start_connection(target, std::move(socket), listener);
    }
  }

  void start_connection(IoThread& thread, Socket socket, const Listener& listener) {
    error_code ec;
    if (listener.unix_path.empty()) socket.set_option(asio::ip::tcp::no_delay(true), ec);
    auto remote = socket.remote_endpoint(ec);
    Address client = ec ? Address{} : to_address(remote);
    Address server = listener.address;
    if (listener.unix_path.empty()) {
      auto local = socket.local_endpoint(ec);
      if (!ec) server = to_address(local);
    }
    ++live;
    if (tls_contexts) {
      auto ssl = tls_contexts->new_ssl();
      if (!ssl) {
        spdlog::error("cannot make a TLS session for a connection from {}", client.host);
        --live;
        return;
      }
      TlsSocket stream(std::move(socket), std::move(ssl));
      asio::co_spawn(thread.context,
                     async_handshake(thread, std::move(stream), tls_contexts, std::move(client),
                                     std::move(server)),
                     [this](std::exception_ptr e) {
                       if (e) --live;
                       log_failure(e);
                     });
      return;
    }
    switch (config.http2.mode) {
      case Http2Options::Mode::http1:
        return spawn(thread, std::make_shared<Http1>(std::move(socket), context, std::move(client),
                                                     std::move(server)));
      case Http2Options::Mode::http2:
        return spawn(thread, std::make_shared<Http2>(std::move(socket), context, http2_options,
                                                     std::move(client), std::move(server)));
      case Http2Options::Mode::automatic:
        break;
    }
    asio::co_spawn(thread.context,
                   async_detect(thread, std::move(socket), std::move(client), std::move(server)),
                   [this](std::exception_ptr e) {
                     if (e) --live;
                     log_failure(e);
                   });
  }

  // A connection whose protocol is not known yet (its first bytes, or its TLS handshake, are
  // still to come): it is closed (not cut mid-request) by a shutdown, and by a deadline when
  // the client is too slow.
  template <class S>
  struct Pending final : Connection {
    explicit Pending(S s) : socket(std::move(s)) {}
    void on_shutdown() override { stop(); }
    void terminate() override { stop(); }
    void stop() {
      if (done) return;
      error_code ignored;
      socket.cancel(ignored);
      stopped = true;
    }
    S socket;
    bool done = false;
    bool stopped = false;
  };
  using Detecting = Pending<Socket>;

  // Registers `pending` for shutdown and stops it after `timeout`; the timer is returned so
  // the caller cancels it once the connection is known.
  template <class P>
  Timer watch_pending(IoThread& thread, const std::shared_ptr<P>& pending, seconds_d timeout) {
    thread.connections.insert(pending.get());
    if (stopping) pending->stop();
    Timer deadline(thread.context);
    deadline.expires_after(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout));
    deadline.async_wait([pending](error_code ec) {
      if (!ec) pending->stop();
    });
    return deadline;
  }

  // The TLS handshake, then HTTP/2 or HTTP/1.1 as ALPN settled (RFC 7301; RFC 9113 §3.2: h2
  // is only ever chosen by ALPN over TLS; no ALPN means HTTP/1.1, or HTTP/2 under --http 2).
  asio::awaitable<void, Executor> async_handshake(
      IoThread& thread, TlsSocket stream, std::shared_ptr<const tls::ServerContexts> contexts,
      Address client, Address server) {
    using Handshaking = Pending<TlsSocket>;
    auto handshaking = std::make_shared<Handshaking>(std::move(stream));
    auto deadline = watch_pending(thread, handshaking, config.tls.handshake_timeout);
    auto [ec] = co_await handshaking->socket.async_handshake(
        asio::as_tuple(asio::use_awaitable_t<Executor>{}));
    handshaking->done = true;
    deadline.cancel();
    thread.connections.erase(handshaking.get());
    if (!ec && handshaking->stopped) ec = asio::error::operation_aborted;
    if (ec) {
      if (tls::is_plain_http(ec) && !handshaking->stopped)
        co_await async_refuse_plain_http(thread, handshaking);
      spdlog::debug("TLS handshake with {} failed: {}", client.host, ec.message());
      error_code ignored;
      handshaking->socket.next_layer().close(ignored);
      --live;
      co_return;
    }
    // OpenSSL counts its references to the contexts; the set itself (its callbacks) is needed
    // only until here.
    auto* ssl = handshaking->socket.native_handle();
    auto info = contexts->describe(ssl);
    auto alpn = tls::ServerContexts::negotiated(ssl);
    bool http2 = alpn == tls::Alpn::http2 ||
                 (alpn == tls::Alpn::none && config.http2.mode == Http2Options::Mode::http2);
    if (http2) {
      auto connection =
          std::make_shared<Http2Tls>(std::move(handshaking->socket), context, http2_options,
                                     std::move(client), std::move(server));
      connection->set_tls(std::move(info));
      spawn(thread, std::move(connection));
    } else {
      auto connection = std::make_shared<Http1Tls>(std::move(handshaking->socket), context,
                                                   std::move(client), std::move(server));
      connection->set_tls(std::move(info));
      spawn(thread, std::move(connection));
    }
  }

  // A plain HTTP request on a TLS port: a 400 that says so (as nginx answers), then a short
  // lingering close so that the rest of the request does not turn the answer into a reset.
  // The linger timer's handler holds the connection, not a reference into this frame: it may
  // run after the frame has ended (the timer expired just as the last read completed).
  asio::awaitable<void, Executor> async_refuse_plain_http(
      IoThread& thread, std::shared_ptr<Pending<TlsSocket>> connection) {
    auto& socket = connection->socket.next_layer();
    error_code ec;
    asio::write(socket, asio::buffer(tls::kPlainHttpAnswer), ec);  // non-blocking: fits at once
    if (ec) co_return;
    socket.shutdown(asio::socket_base::shutdown_send, ec);
    Timer linger(thread.context);
    linger.expires_after(std::chrono::seconds(1));
    linger.async_wait([connection](error_code e) {
      error_code ignored;
      if (!e) connection->socket.next_layer().cancel(ignored);
    });
    char sink[4096];
    for (int reads = 0; reads < 256; ++reads) {
      auto [read_ec, n] = co_await socket.async_read_some(
          asio::buffer(sink), asio::as_tuple(asio::use_awaitable_t<Executor>{}));
      if (read_ec) break;
    }
    linger.cancel();
  }

  // h2c with prior knowledge (RFC 9113 §3.3) shares the listener with HTTP/1.1: the first bytes
  // tell them apart. They come from one read that HTTP/1.1 then parses as its own (prefill),
  // so its fast path costs no extra read; only a client that sends a piece of the preface
  // makes us read again.
  asio::awaitable<void, Executor> async_detect(IoThread& thread, Socket socket, Address client,
                                               Address server) {
    static_assert(Http1::kReadBufferSize >= http2::kClientPreface.size());
    auto detecting = std::make_shared<Detecting>(std::move(socket));
    auto deadline = watch_pending(thread, detecting, config.timeouts.request_header);
    std::unique_ptr<char[]> buffer(new char[Http1::kReadBufferSize]);
    std::size_t n = 0;
    error_code ec;
    bool http2 = false;
    while (!detecting->stopped) {
      auto [read_ec, got] = co_await detecting->socket.async_read_some(
          asio::buffer(buffer.get() + n, Http1::kReadBufferSize - n),
          asio::as_tuple(asio::use_awaitable_t<Executor>{}));
      n += got;
      ec = read_ec;
      if (ec) break;
      auto seen = std::string_view(buffer.get(), n);
      auto compared = std::min(n, http2::kClientPreface.size());
      if (seen.substr(0, compared) != http2::kClientPreface.substr(0, compared)) break;
      if (n >= http2::kClientPreface.size()) {
        http2 = true;
        break;
      }
    }
    detecting->done = true;
    deadline.cancel();
    thread.connections.erase(detecting.get());
    auto bytes = std::string_view(buffer.get(), n);
    if (ec || detecting->stopped || n == 0) {
      error_code ignored;
      detecting->socket.close(ignored);
      --live;
      co_return;
    }
    if (http2) {
      auto connection =
          std::make_shared<Http2>(std::move(detecting->socket), context, http2_options,
                                  std::move(client), std::move(server));
      connection->prefill(bytes);
      spawn(thread, std::move(connection));
    } else {
      auto connection = std::make_shared<Http1>(std::move(detecting->socket), context,
                                                std::move(client), std::move(server));
      connection->prefill(bytes);
      spawn(thread, std::move(connection));
    }
  }

  static void log_failure(std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("connection failed: {}", ex.what());
    }
  }

  // Runs a connection coroutine; `live` already counts it. Its frame owns the connection; no
  // cancellation slot is bound to the coroutine, since a slot bound to a signal inside the
  // connection would outlive it when a handler drops the last reference first (the h2c crash).
  template <class C>
  void spawn(IoThread& thread, std::shared_ptr<C> connection) {
    asio::co_spawn(thread.context, async_run_connection(thread, std::move(connection)),
                   [this](std::exception_ptr e) {
                     --live;
                     log_failure(e);
                   });
  }

  template <class C>
  asio::awaitable<void, Executor> async_run_connection(IoThread& thread,
                                                       std::shared_ptr<C> connection) {
    thread.connections.insert(connection.get());
    if (stopping) connection->on_shutdown();
    struct Unregister {
      IoThread& thread;
      Connection* connection;
      ~Unregister() { thread.connections.erase(connection); }
    } unregister{thread, connection.get()};
    co_await connection->async_run();
  }

  // Runs `f(connection)` for every connection, each on its own thread.
  template <class F>
  void for_each_connection(F f) {
    for (auto& thread : threads) {
      asio::post(thread->context, [&t = *thread, f] {
        std::vector<Connection*> snapshot(t.connections.begin(), t.connections.end());
        for (auto* connection : snapshot)
          if (t.connections.contains(connection)) f(*connection);
      });
    }
  }

  // Loads the certificate set (replacing the one in use only once it loaded) and logs what
  // each certificate serves. Throws tls::LoadError.
  void load_tls() {
    tls_contexts = tls::ServerContexts::load(config.tls, config.http2.mode, ticket_keys);
    for (const auto& line : tls_contexts->summary()) spdlog::info("{}", line);
  }

  // SIGHUP: every certificate and key is read again. New connections get the new set; open
  // ones keep theirs. A file that does not load keeps the whole old set.
  void reload() {
    if (!tls_contexts) {
      spdlog::info("SIGHUP: no TLS certificates to reload");
      return;
    }
    try {
      load_tls();
      spdlog::info("SIGHUP: TLS certificates reloaded");
    } catch (const tls::LoadError& e) {
      spdlog::error("SIGHUP: TLS reload failed, the previous certificates stay in use: {}",
                    e.what());
    }
  }

  void on_signal(int number) {
    if (number == SIGHUP) {
      if (!stopping) reload();
      signals->async_wait([this](error_code ec, int n) {
        if (!ec) on_signal(n);
      });
      return;
    }
    if (stopping) {
      spdlog::warn("{} again: closing every connection now", strsignal(number));
      for_each_connection([](Connection& c) { c.terminate(); });
      return;
    }
    stopping = true;
    spdlog::info("{}: shutting down; {} connection(s) open, grace period {:g}s", strsignal(number),
                 live.load(), config.timeouts.graceful.count());
    for (auto& listener : listeners) {
      error_code ignored;
      listener->acceptor.close(ignored);
    }
    for_each_connection([](Connection& c) { c.on_shutdown(); });
    // A second signal cuts the grace period short. Wait for it before the drain starts: the
    // drain may finish inline and cancel this wait.
    signals->async_wait([this](error_code ec, int n) {
      if (!ec) on_signal(n);
    });
    asio::co_spawn(main_context(), async_drain(), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::critical("shutdown failed: {}", ex.what());
      }
    });
  }

  asio::awaitable<void> async_drain() {
    Timer tick(main_context());
    auto poll = std::chrono::milliseconds(20);
    auto deadline =
        std::chrono::steady_clock::now() +
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(config.timeouts.graceful);
    while (live > 0 && std::chrono::steady_clock::now() < deadline) {
      tick.expires_after(poll);
      co_await tick.async_wait(asio::use_awaitable);
    }
    if (live > 0) {
      spdlog::warn("grace period over: closing {} connection(s)", live.load());
      for_each_connection([](Connection& c) { c.terminate(); });
      // Connections close at once once cut; the bound only guards against a stuck one.
      for (int i = 0; live > 0 && i < 100; ++i) {
        tick.expires_after(poll);
        co_await tick.async_wait(asio::use_awaitable);
      }
    }
    spdlog::debug("connections drained");
    // Requests whose connections are gone fail their next write at once; give them at least a
    // moment past the grace period to get there.
    auto apps_deadline =
        std::max(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(2000));
    while (app_work && app_work() > 0 && std::chrono::steady_clock::now() < apps_deadline) {
      tick.expires_after(poll);
      co_await tick.async_wait(asio::use_awaitable);
    }
    error_code ignored;
    signals->cancel(ignored);
    // Every connection is closed; what apps still hold (an answer waiting on a timer, say)
    // has no client left to go to.
    for (auto& thread : threads) {
      thread->work.reset();
      thread->context.stop();
    }
  }
};

Server::Server(const Config& config, const Router& router)
    : impl_(std::make_unique<Impl>(config, router)) {}

Server::~Server() {
  if (!impl_) return;
  for (auto& listener : impl_->listeners)
    if (!listener->unix_path.empty()) ::unlink(listener->unix_path.c_str());
}

void Server::set_app_work(std::function<std::size_t()> pending) {
  impl_->app_work = std::move(pending);
}

void Server::listen() {
  auto& impl = *impl_;
  // Signals are caught (and queued for run()) before the first `Listening on` line: a
  // supervisor that signals as soon as it sees it must not kill the process.
  impl.signals.emplace(impl.main_context(), SIGINT, SIGTERM, SIGHUP);
  if (impl.config.tls.enabled()) {
    impl.ticket_keys = std::make_shared<tls::TicketKeys>();
    try {
      impl.load_tls();
    } catch (const tls::LoadError& e) {
      throw StartupError(e.what());
    }
  }
  for (const auto& bind : impl.config.binds) impl.open(bind);
}

int Server::run() {
  auto& impl = *impl_;
  impl.signals->async_wait([&impl](error_code ec, int n) {
    if (!ec) impl.on_signal(n);
  });
  for (auto& listener : impl.listeners) {
    asio::co_spawn(impl.main_context(), impl.async_accept_loop(*listener),
                   [](std::exception_ptr e) {
                     if (!e) return;
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       spdlog::critical("accept loop ended: {}", ex.what());
                     }
                   });
  }
  for (std::size_t i = 1; i < impl.threads.size(); ++i) {
    auto& thread = *impl.threads[i];
    thread.thread = std::thread([&thread] { thread.context.run(); });
  }
  impl.main_context().run();
  for (std::size_t i = 1; i < impl.threads.size(); ++i) impl.threads[i]->thread.join();
  spdlog::info("shutdown complete");
  return 0;
}

}  // namespace junction::gateway
