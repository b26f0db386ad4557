// fuzz_repro: the repro-file (JSON) reader never crashes, hangs or leaks on any input,
// and rejects bad input with its normal one-line error (a ConfigError naming the key);
// a file it accepts serialises back to a file that parses to the same choices.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mmtorture/campaign/repro.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const mmt::campaign::Repro repro = mmt::campaign::parse_repro(text, "fuzz.repro.json");
    const mmt::campaign::Repro again = mmt::campaign::parse_repro(mmt::campaign::repro_to_json(repro), "again");
    if (again.choices.size() != repro.choices.size() || again.seed != repro.seed) std::abort();
  } catch (const mmt::campaign::ConfigError&) {
    // The normal rejection.
  }
  return 0;
}
