#include "mmtorture/core/config_error.h"

namespace mmt {

namespace {

std::string error_text(const std::string& file, uint64_t line, const std::string& key, const std::string& reason) {
  std::string text;
  if (!file.empty()) text += file + ":";
  if (line) text += std::to_string(line) + ":";
  if (!text.empty()) text += " ";
  if (!key.empty()) text += key + ": ";
  return text + reason;
}

}  // namespace

ConfigError::ConfigError(std::string file_name, uint64_t line_number, std::string key_name, std::string why)
    : std::runtime_error(error_text(file_name, line_number, key_name, why)),
      file(std::move(file_name)),
      key(std::move(key_name)),
      reason(std::move(why)),
      line(line_number) {}

}  // namespace mmt
