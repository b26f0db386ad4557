// fuzz_maple: the maple-tree stress with its choices read from the input — stores,
// store_range with entries or NULL, insert, erase, load, forward and reverse iteration,
// empty_area(_rev), alloc_range, preallocate + store_prealloc, store_gfp — and
// GFP_NOWAIT node allocation failures also drawn from the input; mt_validate and a
// std::map model diff after every operation.
#include <cstdint>

#include "fuzz_report.h"
#include "mmtorture/campaign/fuzz_jobs.h"
#include "mmtorture/jobs/maple_stress.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mmt::FuzzChoices choices(data, size);
  const auto result = mmt::jobs::run_maple_stress(choices, mmt::campaign::fuzz_maple_options());
  if (result.failure) mmt::fuzz::crash(*result.failure, result.ops_done);
  return 0;
}
