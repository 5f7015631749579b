#include "gateway/request_id.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>

#include "gateway/text.hpp"

namespace junction::gateway {

bool valid_request_id(std::string_view value) noexcept {
  if (value.empty() || value.size() > kMaxRequestId) return false;
  return std::all_of(value.begin(), value.end(), [](char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte > 0x20 && byte < 0x7f;
  });
}

std::string new_request_id() {
  // Not for secrets: an ID only has to be unique. A 64-bit Mersenne twister per thread,
  // seeded from the OS, costs no lock and no system call per request.
  thread_local std::mt19937_64 random{[] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (std::size_t half = 0; half < 2; ++half) {
    std::uint64_t bits = random();
    for (std::size_t i = 0; i < 16; ++i, bits >>= 4) id[half * 16 + i] = kHex[bits & 0xf];
  }
  return id;
}

void assign_request_id(RequestHead& head, std::string_view name, bool trusted) {
  std::string_view given;
  std::string field_name(name);
  for (const auto& [field, value] : head.headers) {
    if (!iequals(field, name)) continue;
    given = value;
    field_name = field;  // the spelling the request used (lower case in HTTP/2)
  }
  head.request_id = trusted && valid_request_id(given) ? std::string(given) : new_request_id();
  std::erase_if(head.headers, [&](const Header& header) { return iequals(header.first, name); });
  head.headers.emplace_back(std::move(field_name), head.request_id);
}

}  // namespace junction::gateway
