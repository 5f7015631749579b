// --user and --group: the master binds as root (ports below 1024, sockets under /run), then runs
// as an unprivileged user before any app is imported (gunicorn's and nginx's order).
#pragma once

#include <sys/types.h>

#include <string>

namespace junction::gateway {

struct Identity {
  uid_t uid;
  gid_t gid;
  std::string user;  // the user's name, for initgroups and the log; empty: the uid has none
};

// The ids `user` and `group` name (a name or a number; empty: keep the current one; a user's
// group is its primary group unless `group` is given). Throws StartupError.
Identity resolve_identity(const std::string& user, const std::string& group);

// Becomes `user` and `group` for good: supplementary groups, then gid, then uid (in that order:
// after setuid there is no right left to change the others). Checks that root cannot be regained.
// Throws StartupError.
void drop_privileges(const std::string& user, const std::string& group);

}  // namespace junction::gateway
