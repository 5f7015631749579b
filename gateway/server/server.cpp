#include "gateway/server/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
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
#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>
#include <set>
#include <thread>
#include <unordered_set>

#include "gateway/access_log.hpp"
#include "gateway/connection.hpp"
#include "gateway/logging.hpp"
#include "gateway/server/privileges.hpp"
#include "gateway/server/serve_connection.hpp"
#include "gateway/server/systemd.hpp"
#include "tls/context.hpp"

namespace junction::gateway {

namespace {

using Protocol = asio::generic::stream_protocol;
using Acceptor = asio::basic_socket_acceptor<Protocol, Executor>;

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

// Logs what escaped a coroutine (a bug: the data plane reports errors as values).
auto log_escaped(const char* what) {
  return [what](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::critical("{} failed: {}", what, ex.what());
    }
  };
}

struct Server::Impl {
  struct IoThread final : ConnectionRegistry {
    explicit IoThread(const std::atomic<bool>& stopping) : stopping_(stopping) {}
    void add(ConnectionSlot& slot) override { slots.insert(&slot); }
    void remove(ConnectionSlot& slot) noexcept override { slots.erase(&slot); }
    bool stopping() const noexcept override { return stopping_; }

    // Declared before the context: frames the context still holds when it is destroyed (a
    // connection stuck past the grace period) unregister from it as they go.
    std::unordered_set<ConnectionSlot*> slots;  // touched only on this thread
    asio::io_context context{1};
    asio::executor_work_guard<asio::io_context::executor_type> work{context.get_executor()};
    std::thread thread;
    const std::atomic<bool>& stopping_;
  };

  struct Listener {
    Acceptor acceptor;
    std::string name;
    std::string unix_path;  // removed at exit
    Address address;
    bool tls = false;
    bool admin = false;                   // --admin-bind: served by the admin router
    const ServeContext* serve = nullptr;  // its protocols and PROXY protocol
  };

  const Config& config;
  std::unique_ptr<AccessLog> access_log;
  ByteBudget response_budget;  // --response-buffer-total; outlives every connection
  ConnectionContext context;
  ServeContext serve;
  std::atomic<bool> stopping{false};  // read by connection threads
  LiveCounter live;                   // accepted connections whose coroutine is not over
  std::vector<std::unique_ptr<IoThread>> threads;
  std::vector<std::unique_ptr<Listener>> listeners;
  std::size_t next_thread = 0;
  std::optional<asio::signal_set> signals;
  std::function<std::size_t()> app_work;       // see Server::set_app_work
  std::function<std::string()> recycle_check;  // see Server::set_recycle_check
  std::function<void()> on_drain;              // see Server::set_on_drain
  std::function<void()> on_reload;             // see Server::set_on_reload
  std::function<bool()> accept_yield;          // see Server::set_accept_balance
  // see Server::every (and set_sampler): run on the first I/O thread while serving
  std::vector<std::pair<std::chrono::microseconds, std::function<void()>>> periodic;
  // --admin-bind: its own contexts, with no access log, metrics or proxy headers.
  std::unique_ptr<ConnectionContext> admin_context;
  std::unique_ptr<ServeContext> admin_serve;
  std::chrono::milliseconds heartbeat_period{0};
  std::function<void(std::size_t)> heartbeat;  // see Server::set_heartbeat
  // TLS (null: plain text). The contexts are replaced by a reload; both are touched only on
  // the main thread (accepts, signals), and a connection keeps the set it started with.
  std::shared_ptr<tls::TicketKeys> ticket_keys;
  // One set per protocol mode a TLS listener serves (ALPN offers what its mode allows):
  // --http's, and a [[listen]] table's own.
  std::map<HttpMode, std::shared_ptr<const tls::ServerContexts>> tls_contexts;
  // [[listen]] tables with protocols or a PROXY protocol of their own.
  std::vector<std::unique_ptr<ServeContext>> listener_serves;

  Impl(const Config& c, const Router& router)
      : config(c),
        response_budget(c.response_buffer_total),
        context{c.limits, c.timeouts,          router,
                nullptr,  &c.edge.forwarded,   c.edge.hsts,
                {},       c.request_id_header, &response_budget},
        serve{
            context,          c.http2, c.http_mode, c.tls.handshake_timeout, c.edge.proxy_protocol,
            &c.edge.forwarded} {
    for (unsigned i = 0; i < c.io_threads; ++i)
      threads.push_back(std::make_unique<IoThread>(stopping));
  }

  asio::io_context& main_context() { return threads.front()->context; }

  // The access log opens with the listeners (in a worker: after the fork and after --user), so
  // that a file it cannot write stops the start with one line.
  void open_access_log() {
    if (!config.access_log) return;
    try {
      access_log = std::make_unique<AccessLog>(config.access_log_options);
      access_log->set_routes(context.router.routes());
    } catch (const std::runtime_error& e) {
      throw StartupError(e.what());
    }
    context.access_log = access_log.get();
  }

  void start_tls() {
    if (!config.tls.enabled()) return;
    ticket_keys = std::make_shared<tls::TicketKeys>();
    try {
      load_tls();
    } catch (const tls::LoadError& e) {
      throw StartupError(e.what());
    }
  }

  bool speaks_tls(const BindAddress& bind) const { return config.speaks_tls(bind); }

  void open(const BindAddress& bind, bool admin = false) {
    if (bind.fd >= 0) {  // systemd opened it (socket activation)
      adopt(bind.fd, bind, admin);
      log_listening(*listeners.back());
      return;
    }
    auto listener = std::make_unique<Listener>(Listener{Acceptor(main_context()),
                                                        bind.text,
                                                        {},
                                                        {},
                                                        !admin && speaks_tls(bind),
                                                        admin,
                                                        serve_for(bind, admin)});
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
    if (ec) throw StartupError(fmt::format("cannot listen on {}: {}", bind.text, ec.message()));
    if (bind.kind == BindAddress::Kind::unix_socket) restrict_socket_file(bind.path);
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw StartupError(fmt::format("cannot listen on {}: {}", bind.text, ec.message()));
    describe_listener(*listener, bind);
    log_listening(*listener);
    listeners.push_back(std::move(listener));
  }

  static void log_listening(const Listener& listener) {
    if (listener.admin)
      spdlog::info(
          "Admin listener on {} (/metrics, /metrics.json, /status, /migration, dashboard at /)",
          listener.name);
    else
      spdlog::info("Listening on {}", listener.name);
  }

  // --uds-mode, before listen(2) so that no client connects before the mode is set (bind(2)
  // creates the file with the umask's mode); with --user/--group the file changes owner too, so
  // that the socket belongs to whom the server runs as (gunicorn does the same).
  void restrict_socket_file(const std::string& path) {
    if (::chmod(path.c_str(), static_cast<mode_t>(config.edge.uds_mode)) != 0)
      throw StartupError(fmt::format("cannot set the mode of {}: {}", path, std::strerror(errno)));
    if (config.edge.user.empty() && config.edge.group.empty()) return;
    auto ids = resolve_identity(config.edge.user, config.edge.group);
    if (::chown(path.c_str(), ids.uid, ids.gid) != 0)
      throw StartupError(fmt::format(
          "cannot give {} to {}: {}", path,
          config.edge.user.empty() ? config.edge.group : config.edge.user, std::strerror(errno)));
  }

  // A worker's listener: the master's descriptor for `bind`. The socket file of a unix
  // listener is the master's to remove, so unix_path stays empty.
  void adopt(int fd, const BindAddress& bind, bool admin = false) {
    auto listener = std::make_unique<Listener>(Listener{Acceptor(main_context()),
                                                        bind.text,
                                                        {},
                                                        {},
                                                        !admin && speaks_tls(bind),
                                                        admin,
                                                        serve_for(bind, admin)});
    error_code ec;
    Protocol protocol = bind.kind == BindAddress::Kind::unix_socket
                            ? Protocol(asio::local::stream_protocol())
                            : Protocol(asio::ip::tcp::v4());
    if (bind.kind == BindAddress::Kind::tcp) {
      sockaddr_storage address{};
      socklen_t length = sizeof address;
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0 &&
          address.ss_family == AF_INET6)
        protocol = Protocol(asio::ip::tcp::v6());
    }
    listener->acceptor.assign(protocol, fd, ec);
    if (ec) throw StartupError(fmt::format("cannot serve {}: {}", bind.text, ec.message()));
    describe_listener(*listener, bind);
    listeners.push_back(std::move(listener));
  }

  // What a listener's connections start from: the server's, unless a [[listen]] table gives
  // the listener protocols or a PROXY protocol of its own.
  const ServeContext* serve_for(const BindAddress& bind, bool admin) {
    if (admin) return admin_serve.get();
    HttpMode mode = bind.http.value_or(serve.mode);
    bool proxy = bind.proxy_protocol.value_or(serve.proxy_protocol);
    if (mode == serve.mode && proxy == serve.proxy_protocol) return &serve;
    for (const auto& own : listener_serves)
      if (own->mode == mode && own->proxy_protocol == proxy) return own.get();
    listener_serves.push_back(std::make_unique<ServeContext>(ServeContext{
        context, config.http2, mode, config.tls.handshake_timeout, proxy, &config.edge.forwarded}));
    return listener_serves.back().get();
  }

  void describe_listener(Listener& listener, const BindAddress& bind) {
    error_code ec;
    auto local = listener.acceptor.local_endpoint(ec);
    listener.name = bind.kind == BindAddress::Kind::unix_socket ? "unix:" + bind.path
                                                                : describe(local, listener.tls);
    listener.address =
        bind.kind == BindAddress::Kind::unix_socket ? Address{bind.path, 0} : to_address(local);
  }

  // The accept loop never dies: errors are logged (once a second at most) and, when a resource
  // such as file descriptors ran out, retried: at once when closing idle keep-alive
  // connections made room, else after a pause.
  asio::awaitable<void> async_accept_loop(Listener& listener) {
    Timer backoff(main_context());
    auto last_report = std::chrono::steady_clock::time_point{};
    std::uint64_t idle_closed = 0;  // since the last report
    for (;;) {
      for (int i = 0; accept_yield && i < kAcceptYields && !stopping && accept_yield(); ++i) {
        backoff.expires_after(std::chrono::milliseconds(1));
        co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
      }
      auto& target = *threads[next_thread];
      next_thread = (next_thread + 1) % threads.size();
      auto [ec, socket] = co_await listener.acceptor.async_accept(
          target.context, asio::as_tuple(asio::use_awaitable));
      if (stopping) {
        // A connection accepted just before the acceptor closed is a client the kernel already
        // answered: dropping the socket would reset it. It is served like any connection open
        // when the shutdown began (its request, if it comes soon, gets Connection: close).
        if (!ec) start_connection(target, std::move(socket), listener);
        spdlog::debug("accept loop on {} stopped", listener.name);
        co_return;
      }
      if (ec) {
        // Out of descriptors, a new client is worth more than one that has been idle longest:
        // it goes (at least one per failed accept), and the accept is tried again at once.
        std::size_t closed = 0;
        if (ec.value() == EMFILE || ec.value() == ENFILE) closed = co_await async_close_idle();
        idle_closed += closed;
        auto now = std::chrono::steady_clock::now();
        if (now - last_report > std::chrono::seconds(1)) {
          if (idle_closed > 0)
            spdlog::warn(
                "accept on {} failed: {}; closed {} idle keep-alive connection(s) to "
                "make room",
                listener.name, ec.message(), std::exchange(idle_closed, 0));
          else
            spdlog::error("accept on {} failed: {}; retrying", listener.name, ec.message());
          last_report = now;
        }
        if (closed == 0 && is_resource_exhaustion(ec)) {
          backoff.expires_after(std::chrono::milliseconds(100));
          co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        continue;
      }
      start_connection(target, std::move(socket), listener);
    }
  }

  // Closes the connection of each I/O thread that has been idle between requests longest (on
  // that thread, which owns it); returns how many it closed.
  asio::awaitable<std::size_t> async_close_idle() {
    std::size_t closed = 0;
    for (auto& thread : threads) {
      auto close_oldest = [&t = *thread]() -> asio::awaitable<std::size_t> {
        ConnectionSlot* oldest = nullptr;
        std::chrono::steady_clock::time_point oldest_since;
        for (auto* slot : t.slots) {
          auto since = slot->idle_since();
          if (since && (!oldest || *since < oldest_since)) {
            oldest = slot;
            oldest_since = *since;
          }
        }
        if (!oldest) co_return 0;
        oldest->terminate();
        co_return 1;
      };
      closed += co_await asio::co_spawn(thread->context, close_oldest(), asio::use_awaitable);
    }
    co_return closed;
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
    asio::co_spawn(
        thread.context,
        async_serve_connection(std::move(socket), *listener.serve,
                               listener.tls ? tls_contexts.at(listener.serve->mode) : nullptr,
                               std::move(client), std::move(server), thread, live.enter()),
        log_escaped("connection"));
  }

  // Runs `f(connection)` for every connection, each on its own thread.
  template <class F>
  void for_each_connection(F f) {
    for (auto& thread : threads) {
      asio::post(thread->context, [&t = *thread, f] {
        std::vector<ConnectionSlot*> snapshot(t.slots.begin(), t.slots.end());
        for (auto* slot : snapshot)
          if (t.slots.contains(slot)) f(*slot);
      });
    }
  }

  // Loads the certificate set (replacing the one in use only once it loaded) and logs what
  // each certificate serves. Throws tls::LoadError.
  void load_tls() {
    // Every set loads before any replaces the one in use.
    std::map<HttpMode, std::shared_ptr<const tls::ServerContexts>> loaded;
    for (HttpMode mode : tls_modes())
      loaded[mode] = tls::ServerContexts::load(config.tls, mode, ticket_keys);
    tls_contexts = std::move(loaded);
    for (const auto& line : tls_contexts.at(config.http_mode)->summary()) spdlog::info("{}", line);
  }

  // --http's mode, and that of every [[listen]] table that speaks TLS with a mode of its own.
  std::set<HttpMode> tls_modes() const {
    std::set<HttpMode> modes{config.http_mode};
    for (const auto& bind : config.binds)
      if (speaks_tls(bind)) modes.insert(bind.http.value_or(config.http_mode));
    return modes;
  }

  // SIGHUP: every certificate and key is read again. New connections get the new set; open
  // ones keep theirs. A file that does not load keeps the whole old set.
  void reload() {
    if (tls_contexts.empty()) {
      spdlog::info("SIGHUP: no TLS certificates to reload");
      return;
    }
    const auto& systemd = SystemdNotify::instance();
    systemd.reloading();
    try {
      load_tls();
      spdlog::info("SIGHUP: TLS certificates reloaded");
      systemd.ready("serving (TLS certificates reloaded)");
    } catch (const tls::LoadError& e) {
      spdlog::error("SIGHUP: TLS reload failed, the previous certificates stay in use: {}",
                    e.what());
      systemd.ready("serving (TLS reload failed: the previous certificates stay in use)");
    }
  }

  void reopen_logs() {
    std::string error;
    if (!log_file().empty()) {
      if (reopen_log_file(error))
        spdlog::info("SIGUSR1: log file {} reopened", log_file());
      else
        spdlog::error("SIGUSR1: {}; the log stays on the file it had", error);
    }
    if (!access_log || access_log->file().empty()) {
      if (log_file().empty())
        spdlog::info("SIGUSR1: no log file to reopen (logs go to stdout and stderr)");
      return;
    }
    if (access_log->reopen(error))
      spdlog::info("SIGUSR1: access log {} reopened", access_log->file());
    else
      spdlog::error("SIGUSR1: {}; the access log stays on the file it had", error);
  }

  void on_signal(int number) {
    if (number == SIGUSR1) {
      // gunicorn's and nginx's "reopen the logs", for logrotate's postrotate: the access log's
      // file, if it has one; stdout and stderr belong to whatever started us.
      reopen_logs();
      signals->async_wait([this](error_code ec, int n) {
        if (!ec) on_signal(n);
      });
      return;
    }
    if (number == SIGHUP) {
      // The routes are re-read by a master, which starts workers that serve them, or by the
      // single process's own hook, which swaps its router.
      if (!stopping && on_reload)
        on_reload();
      else if (!stopping && !config.config_file.empty())
        spdlog::warn(
            "SIGHUP: {} is re-read by a master with workers (--workers 2, or any "
            "supervised setting); this process keeps its routes",
            config.config_file);
      if (!stopping) reload();
      signals->async_wait([this](error_code ec, int n) {
        if (!ec) on_signal(n);
      });
      return;
    }
    if (stopping) {
      spdlog::warn("{} again: closing every connection now", strsignal(number));
      for_each_connection([](ConnectionSlot& c) { c.terminate(); });
      return;
    }
    begin_shutdown(strsignal(number));
  }

  // Stops accepting, lets every connection finish its request, and drains.
  void begin_shutdown(const std::string& why) {
    stopping = true;
    if (on_drain) on_drain();
    spdlog::info("{}: shutting down; {} connection(s) open, grace period {:g}s", why, live.count(),
                 config.timeouts.graceful.count());
    for (auto& listener : listeners) {
      error_code ignored;
      listener->acceptor.close(ignored);
    }
    for_each_connection([](ConnectionSlot& c) { c.on_shutdown(); });
    // A second signal cuts the grace period short. Wait for it before the drain starts: the
    // drain may finish inline and cancel this wait.
    signals->async_wait([this](error_code ec, int n) {
      if (!ec) on_signal(n);
    });
    asio::co_spawn(main_context(), async_drain(), log_escaped("shutdown"));
  }

  // Recycling is polled, so that counting requests stays one relaxed increment per request.
  asio::awaitable<void> async_watch_recycling() {
    Timer tick(main_context());
    while (!stopping) {
      if (auto why = recycle_check(); !why.empty()) {
        begin_shutdown(why);
        co_return;
      }
      tick.expires_after(kRecycleCheck);
      co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }

  asio::awaitable<void> async_every(std::chrono::microseconds period, std::function<void()> f) {
    Timer tick(main_context());
    while (!stopping) {
      f();
      tick.expires_after(period);
      co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }

  // One per I/O thread, until its context stops.
  asio::awaitable<void> async_heartbeat(std::size_t index) {
    Timer tick(threads[index]->context);
    for (;;) {
      heartbeat(index);
      tick.expires_after(heartbeat_period);
      auto [ec] = co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
    }
  }

  asio::awaitable<void> async_drain() {
    Timer tick(main_context());
    auto poll = std::chrono::milliseconds(20);
    auto deadline =
        std::chrono::steady_clock::now() +
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(config.timeouts.graceful);
    while (live.count() > 0 && std::chrono::steady_clock::now() < deadline) {
      tick.expires_after(poll);
      co_await tick.async_wait(asio::use_awaitable);
    }
    if (live.count() > 0) {
      spdlog::warn("grace period over: closing {} connection(s)", live.count());
      for_each_connection([](ConnectionSlot& c) { c.terminate(); });
      // Connections close at once once cut; the bound only guards against a stuck one.
      for (int i = 0; live.count() > 0 && i < 100; ++i) {
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

std::uint64_t Server::response_buffered() const noexcept {
  return impl_->response_budget.used();
}

std::uint16_t Server::tls_port() const noexcept {
  for (const auto& listener : impl_->listeners)
    if (listener->tls && listener->address.port != 0)  // unix listeners have port 0
      return static_cast<std::uint16_t>(listener->address.port);
  return 0;
}

void Server::set_app_work(std::function<std::size_t()> pending) {
  impl_->app_work = std::move(pending);
}

void Server::set_recycle_check(std::function<std::string()> check) {
  impl_->recycle_check = std::move(check);
}

void Server::set_heartbeat(std::chrono::milliseconds period,
                           std::function<void(std::size_t)> beat) {
  impl_->heartbeat_period = period;
  impl_->heartbeat = std::move(beat);
}

void Server::set_on_drain(std::function<void()> on_drain) {
  impl_->on_drain = std::move(on_drain);
}

void Server::set_accept_balance(std::atomic<std::int64_t>* gauge, std::function<bool()> yield) {
  impl_->live.mirror_to(gauge);
  impl_->accept_yield = std::move(yield);
}

void Server::set_admin_router(const Router& admin) {
  auto& impl = *impl_;
  const auto& c = impl.config;
  impl.admin_context = std::make_unique<ConnectionContext>(
      ConnectionContext{c.limits, c.timeouts, admin, nullptr, nullptr, {}, {}});
  impl.admin_serve = std::make_unique<ServeContext>(ServeContext{
      *impl.admin_context, c.http2, HttpMode::automatic, c.tls.handshake_timeout, false, nullptr});
}

void Server::set_on_reload(std::function<void()> reread) {
  impl_->on_reload = std::move(reread);
}

void Server::set_route_labels(std::vector<RouteLabel> routes) {
  if (impl_->access_log) impl_->access_log->set_routes(std::move(routes));
}

void Server::set_metrics(ProcessMetrics metrics) {
  impl_->context.metrics = metrics;
}

void Server::set_sampler(std::function<void()> sample) {
  every(kSamplePeriod, std::move(sample));
}

void Server::every(std::chrono::microseconds period, std::function<void()> f) {
  impl_->periodic.emplace_back(period, std::move(f));
}

std::vector<AdminListener> Server::listeners() const {
  std::vector<AdminListener> result;
  for (const auto& listener : impl_->listeners)
    result.push_back({listener->name, listener->admin ? "admin" : "app"});
  return result;
}

void Server::listen() {
  auto& impl = *impl_;
  // Signals are caught (and queued for run()) before the first `Listening on` line: a
  // supervisor that signals as soon as it sees it must not kill the process.
  impl.signals.emplace(impl.main_context(), SIGINT, SIGTERM, SIGHUP);
  impl.signals->add(SIGUSR1);
  impl.start_tls();
  impl.open_access_log();
  for (const auto& bind : impl.config.binds) impl.open(bind);
  if (impl.config.admin_bind && impl.admin_serve) impl.open(*impl.config.admin_bind, true);
}

std::vector<int> Server::listen_for_workers() {
  auto& impl = *impl_;
  impl.start_tls();  // a bad certificate stops the start before any worker exists
  std::vector<int> listening;
  for (const auto& bind : impl.config.binds) {
    impl.open(bind);
    listening.push_back(impl.listeners.back()->acceptor.native_handle());
  }
  if (impl.config.admin_bind) {
    impl.open(*impl.config.admin_bind, true);
    listening.push_back(impl.listeners.back()->acceptor.native_handle());
  }
  return listening;
}

void Server::check_tls_readable() const {
  const auto& config = impl_->config;
  if (!config.tls.enabled()) return;
  try {
    tls::ServerContexts::load(config.tls, config.http_mode, std::make_shared<tls::TicketKeys>());
  } catch (const tls::LoadError& e) {
    throw StartupError(
        fmt::format("as {}: {} (the workers read the certificates after the "
                    "switch: make them readable by the user or its group)",
                    config.edge.user.empty() ? config.edge.group : config.edge.user, e.what()));
  }
}

void Server::adopt(const std::vector<int>& listening) {
  auto& impl = *impl_;
  std::signal(SIGINT, SIG_IGN);
  impl.signals.emplace(impl.main_context(), SIGTERM, SIGHUP, SIGUSR1);
  impl.start_tls();
  impl.open_access_log();
  const auto& binds = impl.config.binds;
  for (std::size_t i = 0; i < listening.size() && i < binds.size(); ++i)
    impl.adopt(listening[i], binds[i]);
  if (impl.config.admin_bind && impl.admin_serve && listening.size() > binds.size())
    impl.adopt(listening[binds.size()], *impl.config.admin_bind, true);
}

namespace {

// Runs the calling I/O thread as SCHED_BATCH (sched(7)): a woken batch thread does not preempt
// the thread it finds on its core, it runs when that one blocks or its slice ends. On a core
// shared with an app's threads, a request's events then wait a moment and are handled
// together, instead of each one preempting the thread running the app: with a Flask app on one
// core that was four context switches a request (0.3 after), 150 -> 96-111 µs of CPU a
// request and a lower p99 (docs/benchmarks.md, "I/O threads as SCHED_BATCH"). The app's threads
// keep the normal policy. A thread that was given another policy (chrt, systemd's
// CPUSchedulingPolicy=) keeps it.
void run_io_as_batch() noexcept {
  int policy = 0;
  sched_param param{};
  if (::pthread_getschedparam(::pthread_self(), &policy, &param) != 0 || policy != SCHED_OTHER)
    return;
  param.sched_priority = 0;
  if (int error = ::pthread_setschedparam(::pthread_self(), SCHED_BATCH, &param); error != 0)
    spdlog::debug("could not run an I/O thread as SCHED_BATCH: {}", std::strerror(error));
}

}  // namespace

int Server::run() {
  auto& impl = *impl_;
  impl.signals->async_wait([&impl](error_code ec, int n) {
    if (!ec) impl.on_signal(n);
  });
  for (auto& listener : impl.listeners) {
    asio::co_spawn(impl.main_context(), impl.async_accept_loop(*listener),
                   log_escaped("accept loop"));
  }
  if (impl.recycle_check)
    asio::co_spawn(impl.main_context(), impl.async_watch_recycling(), log_escaped("recycling"));
  for (auto& [period, f] : impl.periodic)
    asio::co_spawn(impl.main_context(), impl.async_every(period, f), log_escaped("periodic"));
  if (impl.heartbeat) {
    for (std::size_t i = 0; i < impl.threads.size(); ++i)
      asio::co_spawn(impl.threads[i]->context, impl.async_heartbeat(i), log_escaped("heartbeat"));
  }
  for (std::size_t i = 1; i < impl.threads.size(); ++i) {
    auto& thread = *impl.threads[i];
    thread.thread = std::thread([&thread] {
      run_io_as_batch();
      thread.context.run();
    });
  }
  // The main thread serves as the first I/O thread. Threads it starts from here on (a
  // single-process reload's pool) inherit the policy; they serve alike under it.
  run_io_as_batch();
  impl.main_context().run();
  for (std::size_t i = 1; i < impl.threads.size(); ++i) impl.threads[i]->thread.join();
  spdlog::info("shutdown complete");
  return 0;
}

}  // namespace junction::gateway
