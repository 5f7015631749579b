// --static PREFIX=DIR: the files under DIR answer GET and HEAD requests under PREFIX, before any
// app (docs/configuration.md, "Static files"). An App like the health endpoint: it answers on
// the I/O thread through the Exchange, so every protocol, the access log and the limits apply
// as to any response.
//
// A request path is percent-decoded and refused unless it is a list of plain names
// (static_rules.hpp), then opened beneath the root with openat2(RESOLVE_BENEATH); a symbolic
// link is followed only when the file it resolves to lies under the root. The response carries
// validators (ETag, Last-Modified; RFC 9110 §8.8), honours conditional requests (§13) and one
// byte range (§14), and serves a precompressed `FILE.br` / `FILE.gz` sibling to a client that
// accepts it. The body leaves by sendfile(2) where the transport allows (plain TCP, HTTP/1.1),
// else in bounded pread(2) pieces with backpressure (TLS, HTTP/2).
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "gateway/exchange.hpp"
#include "gateway/server/config.hpp"

namespace junction::gateway {

class StaticFiles final : public App {
 public:
  // A body up to this size is read at once and leaves in one write with its head: for a
  // small file that is one syscall fewer than a head followed by sendfile(2).
  static constexpr std::size_t kInlineLimit = 64 * 1024;
  // The piece read and written at a time where sendfile(2) is not available; one piece is in
  // flight per response, so memory stays bounded whatever the file's size.
  static constexpr std::size_t kChunkSize = 256 * 1024;

  // Resolves mount.directory (realpath) once; a symbolic link swapped later is seen after a
  // reload. Throws std::runtime_error, one line, when it is not a searchable directory or
  // `index` is not a plain file name.
  StaticFiles(const StaticMount& mount, std::string index, std::optional<std::uint64_t> max_age);
  ~StaticFiles() override;
  StaticFiles(const StaticFiles&) = delete;
  StaticFiles& operator=(const StaticFiles&) = delete;

  void handle(std::shared_ptr<Exchange> exchange) override;

  const std::string& root() const noexcept { return root_; }

 private:
  // Answers with the open regular file `fd` (which it takes over) or a sibling of it.
  void serve(std::shared_ptr<Exchange> exchange, const std::string& path, int fd,
             const struct stat& st) const;

  std::string prefix_;
  std::string root_;  // the resolved directory
  int root_fd_ = -1;  // O_PATH descriptor of root_, what files are opened beneath
  std::string index_;
  std::string cache_control_;  // empty: no Cache-Control
};

namespace statics {

// Opens `relative` (plain names joined by '/', "" for the root itself) read-only beneath the
// directory `root_fd`, whose resolved path is `root`: a descriptor, or -errno. Symbolic links
// are followed only to a file whose resolved path lies under `root` (else -ENOENT).
// `realpath_only` skips openat2(2), to test the fallback kernels without it take.
int open_beneath(int root_fd, const std::string& root, const std::string& relative,
                 bool realpath_only = false);

}  // namespace statics
}  // namespace junction::gateway
