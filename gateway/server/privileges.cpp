#include "gateway/server/privileges.hpp"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>

#include "gateway/server/server.hpp"

namespace junction::gateway {
namespace {

std::optional<unsigned> as_number(const std::string& text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

Identity resolve_identity(const std::string& user, const std::string& group) {
  Identity identity{::geteuid(), ::getegid(), {}};
  if (!user.empty()) {
    auto number = as_number(user);
    const passwd* entry = number ? ::getpwuid(*number) : ::getpwnam(user.c_str());
    if (entry) {
      identity.uid = entry->pw_uid;
      identity.gid = entry->pw_gid;
      identity.user = entry->pw_name;
    } else if (number) {
      identity.uid = *number;  // a uid without a passwd entry (containers): its own group
      identity.gid = *number;
    } else {
      throw StartupError(fmt::format("--user: no user named '{}'", user));
    }
  }
  if (!group.empty()) {
    auto number = as_number(group);
    const struct group* entry = number ? ::getgrgid(*number) : ::getgrnam(group.c_str());
    if (entry)
      identity.gid = entry->gr_gid;
    else if (number)
      identity.gid = *number;
    else
      throw StartupError(fmt::format("--group: no group named '{}'", group));
  }
  return identity;
}

void drop_privileges(const std::string& user, const std::string& group) {
  auto identity = resolve_identity(user, group);
  auto fail = [](const char* step) {
    throw StartupError(fmt::format("cannot drop privileges ({}): {}", step, std::strerror(errno)));
  };
  // The user's own supplementary groups (or none), never root's.
  if (!identity.user.empty()) {
    if (::initgroups(identity.user.c_str(), identity.gid) != 0) fail("initgroups");
  } else if (::setgroups(1, &identity.gid) != 0) {
    fail("setgroups");
  }
  if (::setgid(identity.gid) != 0) fail("setgid");
  if (::setuid(identity.uid) != 0) fail("setuid");
  if (identity.uid != 0 && (::setuid(0) == 0 || ::seteuid(0) == 0))
    throw StartupError("cannot drop privileges: root could be regained after setuid");
  spdlog::info("running as uid {} ({}), gid {}", identity.uid,
               identity.user.empty() ? "no user name" : identity.user, identity.gid);
}

}  // namespace junction::gateway
