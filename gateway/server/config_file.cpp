// Reading --config FILE.toml (config_file.hpp) with toml++, header-only: the wheel then needs no
// libtomlplusplus beside it.
#include "gateway/server/config_file.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cstdint>

namespace junction::gateway {
namespace {

FilePlace place_of(const toml::source_region& source) {
  return {static_cast<int>(source.begin.line), static_cast<int>(source.begin.column)};
}

std::string flag_name(std::string_view key) {
  std::string name(key);
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

// A scalar as it would be written after --flag; nullopt for a table, an array or a date.
std::optional<std::string> scalar_text(const toml::node& node) {
  if (auto text = node.as_string()) return text->get();
  if (auto integer = node.as_integer()) return std::to_string(integer->get());
  if (auto number = node.as_floating_point()) return fmt::format("{}", number->get());
  if (auto boolean = node.as_boolean()) return boolean->get() ? "true" : "false";
  return std::nullopt;
}

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a number";
    case toml::node_type::boolean:
      return "a boolean";
    default:
      return "a date or time";
  }
}

class Reader {
 public:
  Reader(const std::string& path, const std::vector<FlagShape>& flags,
         std::vector<std::string>& errors)
      : path_(path), flags_(flags), errors_(errors) {
    for (const auto& flag : flags_) names_.push_back(flag.name);
  }

  void read(const toml::table& table, ConfigFile& file) {
    // A toml::table is ordered by key: the file's order is the sources' order.
    std::vector<std::pair<const toml::key*, const toml::node*>> keys;
    for (auto&& [key, node] : table) keys.emplace_back(&key, &node);
    std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
      const auto& x = a.first->source().begin;
      const auto& y = b.first->source().begin;
      return x.line != y.line ? x.line < y.line : x.column < y.column;
    });
    for (auto [key_pointer, node_pointer] : keys) {
      const toml::key& key = *key_pointer;
      const toml::node& node = *node_pointer;
      FilePlace where = place_of(key.source());
      std::string name = flag_name(key.str());
      auto shape = std::find_if(flags_.begin(), flags_.end(),
                                [&](const FlagShape& flag) { return flag.name == name; });
      if (shape == flags_.end()) {
        unknown(key.str(), where);
        continue;
      }
      if (std::any_of(file.settings.begin(), file.settings.end(),
                      [&](const FileSetting& s) { return s.flag == name; })) {
        // TOML itself refuses a key given twice; these are two spellings of one ('-', '_').
        error(where, fmt::format("'{}' is set twice ('-' and '_' spell the same key)", name));
        continue;
      }
      FileSetting setting{name, {}, where};
      if (values(*shape, node, where, setting.values)) file.settings.push_back(std::move(setting));
    }
  }

 private:
  bool values(const FlagShape& shape, const toml::node& node, FilePlace where,
              std::vector<std::string>& out) {
    if (shape.is_switch) {
      if (!node.is_boolean()) {
        error(where,
              fmt::format("'{}' is a switch: true or false, not {}", shape.name, type_name(node)));
        return false;
      }
      out.push_back(*scalar_text(node));
      return true;
    }
    if (auto array = node.as_array()) {
      if (!shape.repeatable) {
        error(where, fmt::format("'{}' takes one value, not an array", shape.name));
        return false;
      }
      for (const auto& element : *array) {
        auto text = scalar_text(element);
        if (!text || element.is_boolean()) {
          error(place_of(element.source()), fmt::format("'{}' takes strings or numbers, not {}",
                                                        shape.name, type_name(element)));
          return false;
        }
        out.push_back(std::move(*text));
      }
      return true;
    }
    auto text = scalar_text(node);
    if (!text || node.is_boolean()) {
      error(where, fmt::format("'{}' takes a value (a string or a number), not {}", shape.name,
                               type_name(node)));
      return false;
    }
    out.push_back(std::move(*text));
    return true;
  }

  void unknown(std::string_view key, FilePlace where) {
    std::string near = nearest_name(flag_name(key), names_);
    if (near.empty())
      error(where, fmt::format("unknown key '{}' (every key is a flag of junction --help, "
                               "without its --)",
                               key));
    else
      error(where, fmt::format("unknown key '{}'; did you mean '{}'?", key, near));
  }

  void error(FilePlace where, std::string_view message) {
    errors_.push_back(fmt::format("{}:{}:{}: {}", path_, where.line, where.column, message));
  }

  const std::string& path_;
  const std::vector<FlagShape>& flags_;
  std::vector<std::string>& errors_;
  std::vector<std::string> names_;
};

}  // namespace

const FileSetting* ConfigFile::find(std::string_view flag) const noexcept {
  auto it = std::find_if(settings.begin(), settings.end(),
                         [&](const FileSetting& setting) { return setting.flag == flag; });
  return it == settings.end() ? nullptr : &*it;
}

std::string ConfigFile::located(const FileSetting& setting, std::string_view message) const {
  return fmt::format("{}:{}:{}: {}", path, setting.place.line, setting.place.column, message);
}

std::optional<ConfigFile> read_config_file(const std::string& path,
                                           const std::vector<FlagShape>& flags,
                                           std::vector<std::string>& errors) {
  auto before = errors.size();
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& begin = e.source().begin;
    if (begin.line == 0)  // not a syntax error: the file could not be read
      errors.push_back(fmt::format("{}: {}", path, e.description()));
    else
      errors.push_back(
          fmt::format("{}:{}:{}: {}", path, begin.line, begin.column, e.description()));
    return std::nullopt;
  }
  ConfigFile file{path, {}};
  Reader(path, flags, errors).read(table, file);
  if (errors.size() != before) return std::nullopt;
  return file;
}

std::string nearest_name(std::string_view name, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = name.size() / 3 + 1;
  std::vector<std::size_t> row, previous;
  for (const auto& candidate : candidates) {
    // Levenshtein distance, one row at a time.
    previous.resize(candidate.size() + 1);
    row.resize(candidate.size() + 1);
    for (std::size_t j = 0; j <= candidate.size(); ++j) previous[j] = j;
    for (std::size_t i = 1; i <= name.size(); ++i) {
      row[0] = i;
      for (std::size_t j = 1; j <= candidate.size(); ++j) {
        std::size_t substitute = previous[j - 1] + (name[i - 1] == candidate[j - 1] ? 0 : 1);
        row[j] = std::min({previous[j] + 1, row[j - 1] + 1, substitute});
      }
      std::swap(row, previous);
    }
    if (previous[candidate.size()] < best_distance) {
      best_distance = previous[candidate.size()];
      best = candidate;
    }
  }
  return best;
}

}  // namespace junction::gateway
