// The evidence of the shadow routes (docs/migration.md, "The report"): for each, its counters
// and its last 100 mismatches. In anonymous memory that the master maps before it forks, so
// that every worker adds to the same figures and any worker's admin listener shows them all.
//
// A mismatch is a JSON object, written into a ring of fixed-size records under a sequence
// number (a seqlock): a reader copies a record and keeps it only if the number did not change
// meanwhile, so it never shows half of one; writers never wait.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace junction::gateway {

class ShadowReport {
 public:
  static constexpr std::size_t kMismatches = 100;
  static constexpr std::size_t kRecordBytes = 2000;

  enum Counter : std::size_t {
    compared,   // both answers were compared
    matched,    // ...and did not differ
    busy,       // not shadowed: shadow_max_in_flight were running
    too_large,  // not compared: a body over shadow_max_body, or a request body not kept whole
    failed,     // the shadow app raised or broke its response off
    kCounters
  };

  // `routes`: how many shadow routes there are. Throws std::system_error when the mapping fails.
  ShadowReport(std::size_t routes, bool shared);
  ~ShadowReport();
  ShadowReport(const ShadowReport&) = delete;
  ShadowReport& operator=(const ShadowReport&) = delete;

  std::size_t routes() const noexcept { return routes_; }
  void add(std::size_t route, Counter counter) noexcept;
  std::uint64_t count(std::size_t route, Counter counter) const noexcept;

  // Keeps `json_object` (at most kRecordBytes) as the route's newest mismatch.
  void record(std::size_t route, std::string_view json_object) noexcept;
  // The route's last mismatches, newest first.
  std::vector<std::string> mismatches(std::size_t route) const;

 private:
  struct Record {
    std::atomic<std::uint64_t> sequence;  // 2n+1 while record n is written, 2n+2 once it is
    std::uint32_t length;
    char text[kRecordBytes];
  };
  struct Route {
    std::atomic<std::uint64_t> counters[kCounters];
    std::atomic<std::uint64_t> next;  // records written so far
    Record records[kMismatches];
  };
  std::size_t routes_;
  std::size_t bytes_;
  Route* table_ = nullptr;
};

}  // namespace junction::gateway
