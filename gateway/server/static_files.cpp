#include "gateway/server/static_files.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/openat2.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "gateway/errors.hpp"
#include "gateway/server/static_rules.hpp"

namespace junction::gateway {
namespace {

// O_NONBLOCK: a FIFO under the root must not hang the I/O thread in open(2) (nginx opens
// with it too); it does nothing to a regular file's reads.
constexpr int kOpenFlags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;

// Closes its descriptor when the last handler that may still use it is gone.
class FileHandle {
 public:
  FileHandle() = default;
  explicit FileHandle(int fd) noexcept : fd_(fd) {}
  FileHandle(FileHandle&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileHandle& operator=(FileHandle&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  ~FileHandle() { reset(); }

  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// A small answer of our own (a refusal, an error): the whole body in one write.
void answer(Exchange& exchange, int status, std::string body, Headers headers = {}) {
  headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  exchange.start({status, std::move(headers)});
  exchange.async_write(std::move(body), true, nullptr);
}

void not_found(Exchange& exchange) {
  answer(exchange, 404, "Not Found\n");
}

// What opening a file ended with, as a status: a file the server may not read is 403 (as
// nginx answers), running out of descriptors or memory is 503, an I/O error is 500, and every
// other way a name fails to be a servable file (absent, not a directory, a loop, a link out of
// the root, too long) is 404.
void refuse(Exchange& exchange, int error) {
  switch (error) {
    case EACCES:
    case EPERM:
      return answer(exchange, 403, "Forbidden\n");
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      spdlog::warn("static files: cannot open {}: {}", exchange.request().path,
                   std::strerror(error));
      return answer(exchange, 503, "Service Unavailable\n", {{"Retry-After", "1"}});
    case EIO:
      spdlog::warn("static files: cannot open {}: {}", exchange.request().path,
                   std::strerror(error));
      return answer(exchange, 500, "Internal Server Error\n");
    default:
      return not_found(exchange);
  }
}

std::int64_t mtime_ns(const struct stat& st) noexcept {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// Sends bytes [offset, offset + count) of a file as the whole body of a started response:
// sendfile(2) when the transport takes it, else one pread(2) piece at a time, the next read
// only once the previous write was accepted (the Exchange's backpressure). Each handler holds
// the sender, so the file stays open until the last of them has run.
class FileBody : public std::enable_shared_from_this<FileBody> {
 public:
  FileBody(std::shared_ptr<Exchange> exchange, FileHandle file, std::uint64_t offset,
           std::uint64_t count)
      : exchange_(std::move(exchange)), file_(std::move(file)), offset_(offset), left_(count) {}

  void start() {
    if (left_ <= StaticFiles::kInlineLimit) return write_next();
    exchange_->async_send_file(file_.get(), offset_, left_, true,
                               [self = shared_from_this()](error_code ec) { self->on_sent(ec); });
  }

 private:
  void on_sent(error_code ec) {
    // TLS and HTTP/2 refuse before touching the response, so the same response goes on.
    if (ec == errc::unsupported) return write_next();
    if (ec) report(ec);
  }

  void write_next() {
    auto size = static_cast<std::size_t>(std::min<std::uint64_t>(left_, StaticFiles::kChunkSize));
    std::string piece(size, '\0');
    std::size_t got = 0;
    while (got < size) {
      auto n =
          ::pread(file_.get(), piece.data() + got, size - got, static_cast<off_t>(offset_ + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // The file shrank (or failed) under us: the client must see a cut response, not a
        // complete one padded with nothing.
        spdlog::warn("static files: {}: {}", exchange_->request().path,
                     n == 0 ? "the file shrank while it was being sent" : std::strerror(errno));
        exchange_->abort();
        return;
      }
      got += static_cast<std::size_t>(n);
    }
    offset_ += size;
    left_ -= size;
    exchange_->async_write(std::move(piece), left_ == 0,
                           [self = shared_from_this()](error_code ec) { self->on_written(ec); });
  }

  void on_written(error_code ec) {
    if (ec) return report(ec);
    if (left_ > 0) write_next();
  }

  void report(error_code ec) {
    // A client that goes away is normal; anything else is the connection's to log.
    spdlog::debug("static files: {} not sent: {}", exchange_->request().path, ec.message());
  }

  std::shared_ptr<Exchange> exchange_;
  FileHandle file_;
  std::uint64_t offset_;
  std::uint64_t left_;
};

// The representations a file may have (RFC 9110 §8.4.1): its precompressed siblings.
struct Coding {
  std::string_view name;    // Content-Encoding
  std::string_view suffix;  // of the sibling file
  std::string_view tag;     // in its ETag
};
constexpr Coding kBrotli{"br", ".br", "br"};
constexpr Coding kGzip{"gzip", ".gz", "gz"};

}  // namespace

namespace statics {

int open_beneath(int root_fd, const std::string& root, const std::string& relative,
                 bool realpath_only) {
  const char* name = relative.empty() ? "." : relative.c_str();
  // openat2 resolves the whole name in one call and refuses, in the kernel and without a race,
  // any step that leaves the root. It also refuses absolute symbolic links (EXDEV), even to a
  // file under the root: those take the realpath way below, which judges by where they lead.
  static std::atomic<bool> have_openat2{true};
  if (!realpath_only && have_openat2.load(std::memory_order_relaxed)) {
    open_how how{};
    how.flags = kOpenFlags;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long fd;
    do {
      fd = ::syscall(SYS_openat2, root_fd, name, &how, sizeof how);
    } while (fd < 0 && errno == EINTR);
    if (fd >= 0) return static_cast<int>(fd);
    int error = errno;
    // ENOSYS: a kernel before 5.6, or a seccomp filter that does not know the call.
    if (error == ENOSYS) have_openat2.store(false, std::memory_order_relaxed);
    if (error != ENOSYS && error != EXDEV && error != EPERM) return -error;
  }
  std::string joined = relative.empty() ? root : root + "/" + relative;
  char resolved[PATH_MAX];
  if (::realpath(joined.c_str(), resolved) == nullptr) return -errno;
  std::string_view path(resolved);
  bool beneath = path == root || root == "/" ||
                 (path.starts_with(root) && path.size() > root.size() && path[root.size()] == '/');
  if (!beneath) return -ENOENT;
  int fd;
  do {
    fd = ::open(resolved, kOpenFlags | O_NOFOLLOW);
  } while (fd < 0 && errno == EINTR);
  return fd >= 0 ? fd : -errno;
}

}  // namespace statics

StaticFiles::StaticFiles(const StaticMount& mount, std::string index,
                         std::optional<std::uint64_t> max_age)
    : prefix_(mount.prefix), index_(std::move(index)) {
  while (prefix_.size() > 1 && prefix_.back() == '/') prefix_.pop_back();
  if (prefix_.empty()) prefix_ = "/";
  auto fail = [&](std::string_view why) {
    throw std::runtime_error(fmt::format("--static {}={}: {}", mount.prefix, mount.directory, why));
  };
  char resolved[PATH_MAX];
  if (mount.directory.empty()) fail("no directory given");
  if (::realpath(mount.directory.c_str(), resolved) == nullptr) fail(std::strerror(errno));
  root_ = resolved;
  root_fd_ = ::open(resolved, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd_ < 0) fail(errno == ENOTDIR ? "not a directory" : std::strerror(errno));
  if (::access(resolved, X_OK) != 0) {
    int error = errno;
    ::close(root_fd_);
    root_fd_ = -1;
    fail(std::strerror(error));
  }
  if (!index_.empty() &&
      (index_ == "." || index_ == ".." ||
       index_.find_first_of(std::string_view("/\\\0", 3)) != std::string::npos)) {
    ::close(root_fd_);
    root_fd_ = -1;
    throw std::runtime_error(fmt::format("--static-index {}: must be a plain file name", index_));
  }
  if (max_age) cache_control_ = fmt::format("public, max-age={}", *max_age);
}

StaticFiles::~StaticFiles() {
  if (root_fd_ >= 0) ::close(root_fd_);
}

void StaticFiles::handle(std::shared_ptr<Exchange> exchange) {
  const auto& request = exchange->request();
  // RFC 9110 §15.5.6: a 405 lists the methods the resource has.
  if (request.method != "GET" && request.method != "HEAD")
    return answer(*exchange, 405, "Method Not Allowed\n", {{"Allow", "GET, HEAD"}});
  auto target = statics::relative_path(request.path, prefix_);
  if (!target) return not_found(*exchange);
  int fd = statics::open_beneath(root_fd_, root_, target->path);
  if (fd < 0) return refuse(*exchange, -fd);
  FileHandle file(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return refuse(*exchange, errno);
  std::string path = std::move(target->path);
  if (S_ISDIR(st.st_mode)) {
    if (index_.empty()) return not_found(*exchange);
    if (!target->directory) {
      // As nginx does: the index page's relative links need the directory's slash.
      std::string location = request.path + "/";
      if (!request.query.empty()) location += "?" + request.query;
      return answer(*exchange, 301, "Moved Permanently\n", {{"Location", std::move(location)}});
    }
    path = path.empty() ? index_ : path + "/" + index_;
    fd = statics::open_beneath(root_fd_, root_, path);
    if (fd < 0) return refuse(*exchange, -fd);
    file = FileHandle(fd);
    if (::fstat(fd, &st) != 0) return refuse(*exchange, errno);
  } else if (target->directory) {
    return not_found(*exchange);  // "file.txt/" names a directory that is not there
  }
  if (!S_ISREG(st.st_mode)) return not_found(*exchange);  // FIFOs, sockets, devices
  serve(std::move(exchange), path, file.release(), st);
}

void StaticFiles::serve(std::shared_ptr<Exchange> exchange, const std::string& path, int fd,
                        const struct stat& original) const {
  const auto& request = exchange->request();
  bool head = request.method == "HEAD";

  // Content negotiation (RFC 9110 §12.5.3): the better-liked of br and gzip that the client
  // accepts and that has a sibling file; br on a tie, as it is the smaller. A client that
  // sends no Accept-Encoding gets the file as it is (curl without --compressed), although
  // §12.5.3 would allow any coding, and without a look for siblings: two failed opens were
  // a sixth of the cost of a small file (bench/static.sh). Its answer then says no Vary, which
  // is safe: the plain file is acceptable to every client, and every encoded answer does say
  // Vary, so no cache can hand an encoded body to a client that did not ask for it.
  FileHandle chosen(fd);  // ours from here
  struct stat st = original;
  const Coding* coding = nullptr;
  bool has_sibling = false;
  if (auto accept = statics::field_value(request.headers, "Accept-Encoding")) {
    std::pair<const Coding*, double> candidates[] = {
        {&kBrotli, statics::coding_quality(*accept, "br")},
        {&kGzip, statics::coding_quality(*accept, "gzip")}};
    if (candidates[1].second > candidates[0].second) std::swap(candidates[0], candidates[1]);
    for (auto [candidate, quality] : candidates) {
      // Stop once nothing more is to be learnt: a coding is chosen, or this one is not
      // acceptable and Vary is already known to be needed.
      if (coding || (has_sibling && quality <= 0)) break;
      int sibling_fd =
          statics::open_beneath(root_fd_, root_, path + std::string(candidate->suffix));
      if (sibling_fd < 0) continue;
      FileHandle sibling(sibling_fd);
      struct stat sibling_st {};
      if (::fstat(sibling_fd, &sibling_st) != 0 || !S_ISREG(sibling_st.st_mode)) continue;
      has_sibling = true;
      if (quality > 0) {
        coding = candidate;
        chosen = std::move(sibling);
        st = sibling_st;
      }
    }
  }

  auto size = static_cast<std::uint64_t>(st.st_size);
  std::string etag = statics::make_etag(size, mtime_ns(st), coding ? coding->tag : "");
  std::time_t last_modified = st.st_mtim.tv_sec;

  // What a 304 repeats of the 200 it stands for (RFC 9110 §15.4.5).
  Headers headers{{"ETag", etag}, {"Last-Modified", statics::format_http_date(last_modified)}};
  if (!cache_control_.empty()) headers.emplace_back("Cache-Control", cache_control_);
  // RFC 9110 §12.5.5: the answer depends on Accept-Encoding wherever a sibling exists, even
  // for a client that got the plain file, so a shared cache keeps them apart.
  if (has_sibling) headers.emplace_back("Vary", "Accept-Encoding");

  switch (statics::evaluate_preconditions(request.headers, etag, last_modified)) {
    case statics::Precondition::not_modified:
      exchange->start({304, std::move(headers)});
      exchange->async_finish({}, nullptr);
      return;
    case statics::Precondition::failed:
      return answer(*exchange, 412, "Precondition Failed\n");
    case statics::Precondition::proceed:
      break;
  }

  // RFC 9110 §14.2: GET is the only method with ranges; If-Range that does not hold means
  // the whole (changed) representation instead (§13.1.5).
  statics::RangeAnswer range;
  if (!head) {
    if (auto value = statics::field_value(request.headers, "Range")) {
      auto if_range = statics::field_value(request.headers, "If-Range");
      if (!if_range || statics::if_range_holds(*if_range, etag, last_modified))
        range = statics::evaluate_range(*value, size);
    }
  }
  if (range.kind == statics::RangeAnswer::Kind::unsatisfiable) {
    // §15.5.17: the current length, so the client can ask again.
    headers.emplace_back("Content-Range", fmt::format("bytes */{}", size));
    return answer(*exchange, 416, "Range Not Satisfiable\n", std::move(headers));
  }

  int status = 200;
  std::uint64_t offset = 0, length = size;
  headers.emplace_back("Content-Type", statics::content_type(path));
  if (coding) headers.emplace_back("Content-Encoding", coding->name);
  headers.emplace_back("Accept-Ranges", "bytes");
  if (range.kind == statics::RangeAnswer::Kind::partial) {
    status = 206;
    offset = range.first;
    length = range.last - range.first + 1;
    headers.emplace_back("Content-Range",
                         fmt::format("bytes {}-{}/{}", range.first, range.last, size));
  }
  // Declared up front, so HTTP/1.1 frames the body by length and never chunks it, and a HEAD
  // tells the length it would have.
  headers.emplace_back("Content-Length", std::to_string(length));
  exchange->start({status, std::move(headers)});
  if (head || length == 0) {
    exchange->async_finish({}, nullptr);
    return;
  }
  std::make_shared<FileBody>(std::move(exchange), std::move(chosen), offset, length)->start();
}

}  // namespace junction::gateway
