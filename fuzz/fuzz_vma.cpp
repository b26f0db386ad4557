// fuzz_vma: one address space, one thread: mmap (fixed and anywhere), munmap,
// mprotect, page faults, mremap, brk and fork+exit with allocation failures (fail-nth)
// drawn from the input; validate_mm, committed accounting, frame consistency and a
// page-granular model diff after every operation (vma/page_model.h).
#include <cstdint>

#include "mmtorture/campaign/fuzz_jobs.h"
#include "fuzz_report.h"
#include "mmtorture/vma/page_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mmt::FuzzChoices choices(data, size);
  const auto result = mmt::vma::run_page_model(choices, mmt::campaign::fuzz_vma_options());
  if (result.failure) mmt::fuzz::crash(*result.failure, result.ops_done);
  return 0;
}
