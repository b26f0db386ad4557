// The VM world: several address spaces (Mm) on simulated memory, worked on by green
// threads under the deterministic scheduler — mmap, munmap, mprotect, brk, mremap, page
// faults, fork and exit, with node and page allocations that fail under pressure or
// by the fault plan, and kswapd reclaiming in the background. Every operation, argument,
// interleaving and injected failure is drawn from the run's ChoiceSource.
//
// Checks: after every operation, the operated mm is validated (validate_mm) under its
// mmap_lock; every `full_check_every` operations the frames and slabs are checked; at
// the end, with every thread finished, the whole world is cross-checked (committed
// accounting, mapcount = ptes mapping each page across all mms) and torn down, and
// nothing may leak.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "mmtorture/core/choice.h"
#include "mmtorture/core/failure.h"

namespace mmt::campaign {

struct VmWorldOptions {
  uint64_t ops = 2000;               // operations per seed, over all workers
  unsigned workers = 3;              // workload green threads
  unsigned mm_slots = 3;             // address spaces alive at once (fork fills, exit empties)
  uint64_t memory_pages = 4096;      // 16 MiB of simulated frames
  uint64_t min_free_pages = 0;       // min watermark (low and high follow at 5/4 and 3/2); 0 = derived
  double nowait_fail_probability = 0.02;  // GFP_NOWAIT allocations failed by the fault plan
  double preempt_probability = 0.1;  // random strategy: chance to switch at a yield point
  unsigned full_check_every = 16;    // frame/slab consistency every N operations (0: end only)
  bool kswapd = true;
};

struct VmWorldResult {
  uint64_t ops_done = 0;
  uint64_t enomem = 0;        // operations that returned -ENOMEM
  uint64_t faults = 0;        // page faults served
  uint64_t forks = 0;
  uint64_t exits = 0;
  uint64_t max_vmas = 0;      // largest map_count seen
  uint64_t switches = 0;
  uint64_t virtual_ms = 0;
  uint64_t pages_reclaimed = 0;
  uint64_t min_free_pages = UINT64_MAX;  // lowest free-page count seen after an operation
  uint64_t trace_hash = 0;
  std::optional<Failure> failure;
};

VmWorldResult run_vm_world(ChoiceSource& choices, const VmWorldOptions& options);

}  // namespace mmt::campaign
