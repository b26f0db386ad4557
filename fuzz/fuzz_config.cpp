// fuzz_config: the TOML config reader never crashes, hangs or leaks on any input, and
// rejects bad input with its normal one-line error (a ConfigError); anything else
// escaping it is a bug.
#include <cstdint>
#include <string_view>

#include "mmtorture/campaign/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const mmt::campaign::Config config = mmt::campaign::parse_config_text(text, "fuzz.toml");
    mmt::campaign::validate_config(config, "fuzz.toml");
  } catch (const mmt::campaign::ConfigError&) {
    // The normal rejection.
  }
  return 0;
}
