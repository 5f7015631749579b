// The admin dashboard's files (gateway/server/admin_assets/), compiled into the binary by
// cmake/embed_assets.cmake: served from memory, nothing to install and nothing from a CDN.
#pragma once

#include <span>
#include <string_view>

namespace junction::gateway {

struct AdminAsset {
  std::string_view path;  // "/dashboard.html"
  std::string_view content_type;
  std::string_view body;
};

std::span<const AdminAsset> admin_assets() noexcept;

}  // namespace junction::gateway
