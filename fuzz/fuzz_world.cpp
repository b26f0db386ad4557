// fuzz_world: a small full world — several green threads on a few address spaces with
// faults, fork/exit, reclaim and injected failures — where the input is the whole
// choice sequence: every scheduling decision, every fault and every operation. All
// checks on. A crash file is a choice list: `mmtorture replay` accepts it.
#include <cstdint>

#include "fuzz_options.h"
#include "fuzz_report.h"
#include "mmtorture/campaign/vm_world.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mmt::FuzzChoices choices(data, size);
  const auto result = mmt::campaign::run_vm_world(choices, mmt::fuzz::world_options());
  if (result.failure) mmt::fuzz::crash(*result.failure, result.ops_done);
  return 0;
}
