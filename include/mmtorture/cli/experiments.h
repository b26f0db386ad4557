// `mmtorture cma-experiment` and `mmtorture nommu-experiment`: the seed-004 and
// seed-001 questions answered with numbers, as a text table and, with --html, as a
// self-contained page of charts (campaign/report_charts.h).
#pragma once

#include <cstdint>
#include <string>

namespace mmt::cli {

// Every retry policy against the same workloads (transient pins; long-term pins pinned
// in place; long-term pins with migrate-first; a fatal signal), over the same seeds.
// Writes `html` when it is not empty (the caller checked that it can be written).
int cma_experiment(uint64_t first, uint64_t seeds, const std::string& html);

// A nommu board booting in 32, 64 and 128 MiB, with the maple nodes preallocated after
// or before the alloc_pages_exact region, and alloc_pages_exact's freed tail at the
// head or the tail of the free list. Exit 1 when a boot failed a check.
int nommu_experiment(uint64_t first, uint64_t seeds, unsigned steps, bool pcp, const std::string& html);

}  // namespace mmt::cli
