#include "gateway/server/file_watcher.hpp"

#include <poll.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

using namespace junction::gateway;
namespace fs = std::filesystem;

namespace {

// Waits (bounded) for the watcher's descriptor and returns what changed.
std::vector<std::string> changes(FileWatcher& watcher) {
  pollfd fd{watcher.fd(), POLLIN, 0};
  ::poll(&fd, 1, 2000);
  return watcher.read_changes();
}

struct TempTree {
  fs::path root = fs::temp_directory_path() / ("junction-watch-" + std::to_string(::getpid()));
  TempTree() {
    fs::remove_all(root);
    fs::create_directories(root / "pkg");
    fs::create_directories(root / ".venv/lib");
    fs::create_directories(root / "__pycache__");
  }
  ~TempTree() { fs::remove_all(root); }
};

void write(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

}  // namespace

TEST_CASE("FileWatcher::is_python_source", "[reload]") {
  CHECK(FileWatcher::is_python_source("app.py"));
  CHECK_FALSE(FileWatcher::is_python_source("app.pyc"));
  CHECK_FALSE(FileWatcher::is_python_source(".app.py"));  // an editor's lock or swap file
  CHECK_FALSE(FileWatcher::is_python_source(".py"));
  CHECK_FALSE(FileWatcher::is_python_source("notes.txt"));
}

TEST_CASE("FileWatcher sees .py files written, renamed in and removed", "[reload]") {
  TempTree tree;
  FileWatcher watcher({tree.root.string()});
  CHECK(watcher.directories() == 2);  // the root and pkg/; not .venv or __pycache__

  write(tree.root / "pkg/views.py", "x = 1\n");
  auto seen = changes(watcher);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == (tree.root / "pkg/views.py").string());

  // An editor's save: a temporary file renamed over the original.
  write(tree.root / "tmp1234", "x = 2\n");
  changes(watcher);  // the temporary file is not Python
  fs::rename(tree.root / "tmp1234", tree.root / "app.py");
  seen = changes(watcher);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == (tree.root / "app.py").string());

  fs::remove(tree.root / "app.py");
  CHECK(changes(watcher).size() == 1);

  write(tree.root / "README.txt", "not code\n");
  write(tree.root / ".venv/lib/site.py", "ignored\n");
  write(tree.root / "__pycache__/app.cpython-311.py", "ignored\n");
  CHECK(changes(watcher).empty());
}

TEST_CASE("FileWatcher watches directories created after it started", "[reload]") {
  TempTree tree;
  FileWatcher watcher({tree.root.string()});
  fs::create_directories(tree.root / "newpkg");
  changes(watcher);  // the new directory is watched from here on
  write(tree.root / "newpkg/models.py", "y = 1\n");
  auto seen = changes(watcher);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == (tree.root / "newpkg/models.py").string());
}

TEST_CASE("FileWatcher: a root that does not exist is an error", "[reload]") {
  CHECK_THROWS_AS(FileWatcher({"/no/such/junction/dir"}), std::system_error);
}
