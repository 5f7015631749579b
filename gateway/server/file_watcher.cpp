#include "gateway/server/file_watcher.hpp"

#include <dirent.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace junction::gateway {
namespace {

// Editors save by writing in place (IN_CLOSE_WRITE) or by renaming a temporary file over the
// original (IN_MOVED_TO); a removed module (IN_DELETE, IN_MOVED_FROM) matters as much.
constexpr std::uint32_t kFileEvents =
    IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE;

bool skipped_directory(const char* name) {
  return name[0] == '.' || std::strcmp(name, "__pycache__") == 0 ||
         std::strcmp(name, "node_modules") == 0;
}

}  // namespace

FileWatcher::FileWatcher(const std::vector<std::string>& roots) {
  fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "inotify_init1");
  for (const auto& root : roots) {
    int wd = ::inotify_add_watch(fd_, root.c_str(), kFileEvents | IN_ONLYDIR);
    if (wd < 0) {
      int error = errno;
      ::close(fd_);
      throw std::system_error(error, std::generic_category(), "cannot watch " + root);
    }
    watches_[wd] = root;
    watch_tree(root);
  }
}

FileWatcher::~FileWatcher() {
  if (fd_ >= 0) ::close(fd_);
}

bool FileWatcher::is_python_source(const std::string& name) noexcept {
  return name.size() > 3 && name.ends_with(".py") && name[0] != '.';
}

void FileWatcher::watch_tree(const std::string& directory) {
  DIR* dir = ::opendir(directory.c_str());
  if (dir == nullptr) return;  // gone or unreadable: nothing below it to import
  while (auto* entry = ::readdir(dir)) {
    if (entry->d_type != DT_DIR || skipped_directory(entry->d_name)) continue;
    std::string path = directory == "." ? entry->d_name : directory + "/" + entry->d_name;
    int wd = ::inotify_add_watch(fd_, path.c_str(), kFileEvents | IN_ONLYDIR | IN_DONT_FOLLOW);
    if (wd < 0) continue;  // out of watches (fs.inotify.max_user_watches): the rest still work
    watches_[wd] = path;
    watch_tree(path);
  }
  ::closedir(dir);
}

std::vector<std::string> FileWatcher::read_changes() {
  std::vector<std::string> changed;
  alignas(inotify_event) char buffer[16384];
  for (;;) {
    auto n = ::read(fd_, buffer, sizeof buffer);
    if (n <= 0) break;  // EAGAIN: nothing more now
    for (char* p = buffer; p < buffer + n;) {
      auto* event = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + event->len;
      if (event->mask & IN_IGNORED) {
        watches_.erase(event->wd);
        continue;
      }
      auto it = watches_.find(event->wd);
      if (it == watches_.end() || event->len == 0) continue;
      std::string name = event->name;
      // "./app.py" reads better as "app.py" in the log.
      std::string path = it->second == "." ? name : it->second + "/" + name;
      if (event->mask & IN_ISDIR) {
        if ((event->mask & (IN_CREATE | IN_MOVED_TO)) && !skipped_directory(name.c_str())) {
          int wd = ::inotify_add_watch(fd_, path.c_str(), kFileEvents | IN_ONLYDIR);
          if (wd >= 0) watches_[wd] = path;
          watch_tree(path);
        }
        continue;
      }
      // IN_CREATE alone is an empty new file; the write that fills it follows.
      if ((event->mask & IN_CREATE) && !(event->mask & IN_MOVED_TO)) continue;
      if (is_python_source(name)) changed.push_back(std::move(path));
    }
  }
  return changed;
}

}  // namespace junction::gateway
