// --reload: which Python files changed under the watched directories, from inotify(7). The
// master polls fd() with its other descriptors and reads the changes when it is readable.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

namespace junction::gateway {

class FileWatcher {
 public:
  // Watches every directory below each root, skipping the ones no app imports from: hidden
  // ones (.git, .venv), __pycache__ and node_modules. Throws std::system_error.
  explicit FileWatcher(const std::vector<std::string>& roots);
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  int fd() const noexcept { return fd_; }
  std::size_t directories() const noexcept { return watches_.size(); }

  // The .py files written, created, moved in or removed since the last call (paths as the
  // roots were given); directories created meanwhile are watched from now on. Never blocks.
  std::vector<std::string> read_changes();

  // Whether a change to `name` (a file name, no directory) can change what an app imports.
  static bool is_python_source(const std::string& name) noexcept;

 private:
  void watch_tree(const std::string& directory);

  int fd_ = -1;
  std::unordered_map<int, std::string> watches_;  // watch descriptor -> directory
};

}  // namespace junction::gateway
