#include "gateway/http_date.hpp"

#include <ctime>

namespace junction::gateway {

std::string_view http_date_now() noexcept {
  // CLOCK_REALTIME_COARSE is a vDSO read: cheap enough for every response.
  thread_local std::time_t cached_second = -1;
  thread_local char text[32];
  thread_local std::size_t length = 0;
  timespec now{};
  clock_gettime(CLOCK_REALTIME_COARSE, &now);
  if (now.tv_sec != cached_second) {
    cached_second = now.tv_sec;
    std::tm tm{};
    gmtime_r(&now.tv_sec, &tm);
    length = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  }
  return {text, length};
}

}  // namespace junction::gateway
