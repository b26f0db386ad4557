// fuzz_world: a small full world — several green threads on a few address spaces with
// faults, fork/exit, reclaim and injected failures — where the input is the whole
// choice sequence: every scheduling decision, every fault and every operation. All
// checks on. A crash file is a choice list: `mmtorture replay` accepts it.
#include <cstdint>

#include "fuzz_report.h"
#include "mmtorture/campaign/fuzz_jobs.h"
#include "mmtorture/campaign/seed_run.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const mmt::campaign::Config config = mmt::campaign::fuzz_world_config();
  mmt::FuzzChoices choices(data, size);
  const auto result = mmt::campaign::run_seed(config, choices);
  if (result.failure) mmt::fuzz::crash(*result.failure, result.ops);
  return 0;
}
