// systemd integration, without libsystemd: the two protocols are small and documented.
// * Socket activation (sd_listen_fds(3)): when LISTEN_PID is this process, LISTEN_FDS
//   descriptors from 3 on are listening sockets systemd opened (a .socket unit); they replace
//   --bind. LISTEN_FDNAMES (FileDescriptorName=) says what each is: "admin" is the admin
//   listener, "https" speaks TLS, "http" plain text, any other name as a bare --bind would.
// * Notification (sd_notify(3)): READY=1 once every worker is ready, RELOADING=1 and READY=1
//   around a reload, STOPPING=1, STATUS= lines, and WATCHDOG=1 at half of WATCHDOG_USEC, as
//   datagrams to $NOTIFY_SOCKET. Only the process systemd started (the master) sends.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "gateway/server/config.hpp"

namespace junction::gateway {

// Takes the listeners systemd passed, if any: config.binds (and config.admin_bind, for a socket
// named "admin") become them, each with its descriptor. Returns how many were taken (0: not
// socket-activated). Unsets LISTEN_* so that nothing started from here takes them again.
// Throws std::runtime_error, one line, for a descriptor that is not a listening stream socket.
std::size_t take_systemd_sockets(Config& config);

// $NOTIFY_SOCKET, read once at start-up (and unset: the apps must not talk to systemd for us).
class SystemdNotify {
 public:
  static SystemdNotify& instance();
  // Reads and unsets NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID.
  void init_from_environment();
  // A forked worker: never notifies.
  void disable() { path_.clear(); }
  bool enabled() const { return !path_.empty(); }

  // Sends `state` ("READY=1\nSTATUS=...") as one datagram; nothing when not enabled. Errors
  // are logged at debug: systemd may be gone, the server is not.
  void notify(std::string_view state) const;
  void ready(std::string_view status) const;
  void reloading() const;  // RELOADING=1 with MONOTONIC_USEC (systemd 253's Type=notify-reload)
  void stopping() const { notify("STOPPING=1"); }
  void status(std::string_view status) const;

  // Half of WATCHDOG_USEC (sd_watchdog_enabled(3) advises sending at half the interval); zero
  // when systemd watches nothing.
  std::chrono::microseconds watchdog_period() const { return watchdog_period_; }
  void watchdog() const { notify("WATCHDOG=1"); }

 private:
  std::string path_;
  std::chrono::microseconds watchdog_period_{0};
};

}  // namespace junction::gateway
