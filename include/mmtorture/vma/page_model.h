// The VMA manager against a page-granular model, driven by a ChoiceSource: one mm,
// one thread, operations (mmap fixed and anywhere, munmap, mprotect, page faults,
// mremap, brk, fork+exit of a child) with allocation failures injected (fail-nth drawn
// per operation). After every operation the mm must be valid (validate_mm, committed
// accounting, page frames) and describe exactly the model's pages; an operation that
// returns -ENOMEM must leave every page as it was (mprotect, applied VMA by VMA, may
// have changed a prefix of its range; a move whose old range could not be removed
// leaves it mapped and empty, as the kernel does).
//
// The same run serves the seeded differential tests and the fuzz_vma fuzzer.
#pragma once

#include <cstdint>
#include <optional>

#include "mmtorture/core/choice.h"
#include "mmtorture/core/failure.h"

namespace mmt::vma {

struct PageModelOptions {
  uint64_t ops = 1000;              // upper bound on operations
  bool inject_failures = true;      // draw fail-nth before operations
  bool stop_when_exhausted = false; // end when the choice source runs out (fuzzing)
  uint64_t memory_pages = 16384;
  // Also map the context's files (mmap_file: shared or private, at a drawn offset); the
  // model then compares each page's file and file offset too. Off, the run draws as
  // before file mappings existed.
  bool file_mappings = false;
};

struct PageModelResult {
  uint64_t ops_done = 0;
  uint64_t enomem = 0;
  std::optional<Failure> failure;
};

PageModelResult run_page_model(ChoiceSource& choices, const PageModelOptions& options);

}  // namespace mmt::vma
