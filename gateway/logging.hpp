// Process logging: the error log on stderr (spdlog), at the level --log-level names.
#pragma once

#include <string>

namespace junction::gateway {

void init_logging(const std::string& level);

}  // namespace junction::gateway
