#include "gateway/server/systemd.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <vector>

#include "gateway/text.hpp"

namespace junction::gateway {
namespace {

// sd_listen_fds(3): the first passed descriptor.
constexpr int kListenFdsStart = 3;

std::optional<long> env_number(const char* name) {
  const char* text = std::getenv(name);
  if (!text || !*text) return std::nullopt;
  long value = 0;
  auto end = text + std::strlen(text);
  auto [ptr, ec] = std::from_chars(text, end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// What the socket is, as --bind would have said it.
BindAddress describe_socket(int fd, const std::string& name) {
  int type = 0, listening = 0;
  socklen_t size = sizeof type;
  bool stream = ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) == 0 && type == SOCK_STREAM;
  size = sizeof listening;
  bool accepts =
      ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) == 0 && listening != 0;
  if (!stream || !accepts)
    throw std::runtime_error("socket activation: descriptor " + std::to_string(fd) + " (" + name +
                             ") is not a listening stream socket (ListenStream= in the "
                             ".socket unit)");
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    throw std::runtime_error("socket activation: descriptor " + std::to_string(fd) + ": " +
                             std::strerror(errno));
  BindAddress bind;
  bind.fd = fd;
  bind.text = "systemd:" + name;
  if (address.ss_family == AF_UNIX) {
    bind.kind = BindAddress::Kind::unix_socket;
    const auto* un = reinterpret_cast<const sockaddr_un*>(&address);
    auto max =
        length > offsetof(sockaddr_un, sun_path) ? length - offsetof(sockaddr_un, sun_path) : 0;
    bind.path = std::string(un->sun_path, strnlen(un->sun_path, max));
  } else {
    char text[INET6_ADDRSTRLEN] = {};
    if (address.ss_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address);
      inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
      bind.port = ntohs(in6->sin6_port);
    } else {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&address);
      inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
      bind.port = ntohs(in->sin_port);
    }
    bind.host = text;
  }
  if (name == "https") bind.security = BindAddress::Security::tls;
  if (name == "http" || name == "admin") bind.security = BindAddress::Security::plain;
  return bind;
}

}  // namespace

std::size_t take_systemd_sockets(Config& config) {
  auto pid = env_number("LISTEN_PID");
  auto count = env_number("LISTEN_FDS");
  const char* names_text = std::getenv("LISTEN_FDNAMES");
  std::string names_copy = names_text ? names_text : "";
  // Not ours (a parent's, inherited by accident), or none: --bind as usual.
  bool ours = pid && count && *pid == static_cast<long>(::getpid()) && *count > 0;
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (!ours) return 0;
  std::vector<std::string> names;
  for_each_list_element_sep(names_copy, ':', [&](std::string_view n) { names.emplace_back(n); });
  std::vector<BindAddress> binds;
  std::optional<BindAddress> admin;
  for (long i = 0; i < *count; ++i) {
    int fd = kListenFdsStart + static_cast<int>(i);
    // systemd passes them without FD_CLOEXEC; the workers inherit the master's by fork, an
    // app's subprocess must not.
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    auto name = static_cast<std::size_t>(i) < names.size() && !names[i].empty()
                    ? names[i]
                    : "fd" + std::to_string(fd);
    auto bind = describe_socket(fd, name);
    if (name == "admin")
      admin = std::move(bind);
    else
      binds.push_back(std::move(bind));
  }
  if (binds.empty())
    throw std::runtime_error(
        "socket activation: systemd passed no socket to serve apps on (only 'admin')");
  config.binds = std::move(binds);
  if (admin) config.admin_bind = std::move(admin);
  return static_cast<std::size_t>(*count);
}

SystemdNotify& SystemdNotify::instance() {
  static SystemdNotify notifier;
  return notifier;
}

void SystemdNotify::init_from_environment() {
  const char* path = std::getenv("NOTIFY_SOCKET");
  path_ = path ? path : "";
  auto usec = env_number("WATCHDOG_USEC");
  auto pid = env_number("WATCHDOG_PID");
  if (usec && *usec > 0 && (!pid || *pid == static_cast<long>(::getpid())))
    watchdog_period_ = std::chrono::microseconds(*usec / 2);
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  ::unsetenv("WATCHDOG_PID");
}

void SystemdNotify::notify(std::string_view state) const {
  if (path_.empty()) return;
  // A path, or an abstract socket given as "@name" (sd_notify(3)).
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path_.size() >= sizeof address.sun_path) return;
  std::memcpy(address.sun_path, path_.data(), path_.size());
  if (address.sun_path[0] == '@') address.sun_path[0] = '\0';
  auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size());
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  auto sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                       reinterpret_cast<const sockaddr*>(&address), length);
  if (sent < 0) spdlog::debug("sd_notify to {} failed: {}", path_, std::strerror(errno));
  ::close(fd);
}

void SystemdNotify::ready(std::string_view status) const {
  notify("READY=1\nSTATUS=" + std::string(status));
}

void SystemdNotify::reloading() const {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  auto usec = static_cast<long long>(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
  notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void SystemdNotify::status(std::string_view status) const {
  notify("STATUS=" + std::string(status));
}

}  // namespace junction::gateway
