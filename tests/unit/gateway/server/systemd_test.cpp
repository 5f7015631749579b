// systemd: notification datagrams and the watchdog period from the environment; socket
// activation meant for another process is left alone (the e2e tests run the real thing with
// systemd-socket-activate).
#include "gateway/server/systemd.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <string>

namespace junction::gateway {
namespace {

// A datagram socket bound to `path` ("@name": abstract), as systemd's notify socket.
class Listener {
 public:
  explicit Listener(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.data(), path.size());
    if (path[0] == '@')
      address.sun_path[0] = '\0';
    else
      ::unlink(path.c_str());
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address),
                   static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size())) == 0);
  }
  ~Listener() { ::close(fd_); }
  std::string receive() {
    char buffer[512];
    auto n = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
  }

 private:
  int fd_ = -1;
};

TEST_CASE("systemd: notifications reach NOTIFY_SOCKET, and the variables are taken", "[systemd]") {
  auto path = "/tmp/junction-notify-test-" + std::to_string(::getpid());
  Listener listener(path);
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  ::setenv("WATCHDOG_USEC", "3000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  SystemdNotify notify;
  notify.init_from_environment();
  CHECK(std::getenv("NOTIFY_SOCKET") == nullptr);  // the apps must not see it
  CHECK(std::getenv("WATCHDOG_USEC") == nullptr);
  CHECK(notify.enabled());
  CHECK(notify.watchdog_period() == std::chrono::milliseconds(1500));
  notify.ready("2 worker(s) serving");
  CHECK(listener.receive() == "READY=1\nSTATUS=2 worker(s) serving");
  notify.reloading();
  auto reloading = listener.receive();
  CHECK(reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="));
  notify.stopping();
  CHECK(listener.receive() == "STOPPING=1");
  notify.watchdog();
  CHECK(listener.receive() == "WATCHDOG=1");
  notify.disable();  // a forked worker
  notify.watchdog();
  CHECK(listener.receive().empty());
  ::unlink(path.c_str());
}

TEST_CASE("systemd: an abstract socket, and a watchdog meant for another process", "[systemd]") {
  auto name = "@junction-notify-test-" + std::to_string(::getpid());
  Listener listener(name);
  ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
  ::setenv("WATCHDOG_USEC", "3000000", 1);
  ::setenv("WATCHDOG_PID", "1", 1);
  SystemdNotify notify;
  notify.init_from_environment();
  CHECK(notify.watchdog_period().count() == 0);
  notify.status("draining");
  CHECK(listener.receive() == "STATUS=draining");
}

TEST_CASE("systemd: nothing to notify and no sockets without the variables", "[systemd]") {
  ::unsetenv("NOTIFY_SOCKET");
  SystemdNotify notify;
  notify.init_from_environment();
  CHECK_FALSE(notify.enabled());
  notify.ready("ignored");  // no socket: nothing happens

  Config config;
  config.binds.push_back({});
  // Passed to another process (a parent's, inherited): not ours, and gone from the environment.
  ::setenv("LISTEN_PID", "1", 1);
  ::setenv("LISTEN_FDS", "2", 1);
  ::setenv("LISTEN_FDNAMES", "http:admin", 1);
  CHECK(take_systemd_sockets(config) == 0);
  CHECK(config.binds.size() == 1);
  CHECK(std::getenv("LISTEN_FDS") == nullptr);
  CHECK(std::getenv("LISTEN_FDNAMES") == nullptr);
}

}  // namespace
}  // namespace junction::gateway
