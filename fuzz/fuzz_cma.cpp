// fuzz_cma: the CMA world — CMA clients allocating and releasing aligned buffers,
// short and long-term pinners, a forker and a toucher making transient pins, a memory
// hog, over an area the buddy allocator lends to movable pages — with every decision
// (schedule, sizes, alignments, pins, holds) from the input and the CMA invariants
// (bitmap ⇔ allocations and reservations, no isolated pageblock left behind, available
// count, long-term pins, LRU-cache disable count, frames) checked after every call.
#include <cstdint>

#include "fuzz_report.h"
#include "mmtorture/campaign/fuzz_jobs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const mmt::cma::CmaWorldOptions options = mmt::campaign::fuzz_cma_options();
  mmt::FuzzChoices choices(data, size);
  const auto result = mmt::cma::run_cma_world(choices, options);
  if (result.failure) mmt::fuzz::crash(*result.failure, result.calls.size());
  return 0;
}
