// Per-area CMA statistics, as the kernel exports them (sysfs
// /sys/kernel/mm/cma/<name>/alloc_pages_success, alloc_pages_fail,
// release_pages_success: counted in pages) plus what the 2020 thread argued about
// without numbers: how often allocations retried, how often a candidate range was
// busy, and how long allocations took in virtual time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mmt::cma {

// Nearest-rank percentiles of a set of virtual-ms samples (0 for an empty set).
struct LatencySummary {
  uint64_t samples = 0;
  uint64_t p50_ms = 0;
  uint64_t p99_ms = 0;
  uint64_t max_ms = 0;
};
LatencySummary summarize_latency(std::vector<uint64_t> samples_ms);

struct CmaStats {
  uint64_t alloc_pages_success = 0;    // pages handed out
  uint64_t alloc_pages_fail = 0;       // pages asked for by calls that failed
  uint64_t release_pages_success = 0;  // pages released
  uint64_t alloc_calls = 0;            // cma_alloc calls that searched (count > 0)
  uint64_t alloc_calls_fail = 0;
  uint64_t retries = 0;                // extra sweeps after a sleep (retry policy)
  uint64_t busy = 0;                   // alloc_contig_range returning -EBUSY
  uint64_t interrupted = 0;            // calls ended by a fatal signal (-EINTR)
  uint64_t enomem = 0;                 // calls ended by -ENOMEM (no room, or no migration target)
  std::vector<uint64_t> latency_ms;    // per call, success or not, in call order

  LatencySummary latency() const { return summarize_latency(latency_ms); }
  // Multi-line "name value" text (sysfs names first), for run summaries.
  std::string text() const;
};

}  // namespace mmt::cma
