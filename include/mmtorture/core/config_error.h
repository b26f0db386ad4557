// Bad input, in one type for every layer: "file:line: key: reason" (line 0 omits the
// line, an empty file omits the file). A simulation layer validating its own options
// (mem::MemConfig, a CMA area, a nommu board) knows only the field and why
// (ConfigError(key, reason)); the campaign, which knows the file and the knob the value
// came from, rethrows it naming them. Whatever reaches the command line is printed as
// one line and exits 2.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace mmt {

class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, uint64_t line, std::string key, std::string reason);
  // A field of a layer's own options: no file or line yet.
  ConfigError(std::string key, std::string reason) : ConfigError({}, 0, std::move(key), std::move(reason)) {}
  std::string file, key, reason;
  uint64_t line;
};

}  // namespace mmt
