// The seed-001 experiment: does the order of "preallocate the tree's nodes"
// and "allocate the region" decide whether a small nommu board boots, and how much
// does Liam's alloc_pages_exact change (freeing the tail to the tail of the free list)
// help? Every combination of memory size x preallocation order x tail placement boots
// the same seeds; the table gives the OOM rate per combination and the state of free
// memory at the end of the boot (or at the OOM): free pages, the largest free block,
// how many free blocks of 1 MiB or more are left, and where the maple_node slab's
// pages went.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mmtorture/core/choice.h"
#include "mmtorture/nommu/boot.h"

namespace mmt::nommu {

struct NommuExperimentOptions {
  std::vector<uint64_t> memory_mib = {32, 64, 128};
  std::vector<PreallocOrder> orders = {PreallocOrder::After, PreallocOrder::Before};
  std::vector<bool> exact_free_to_tail = {false, true};
  uint64_t first_seed = 1;
  uint64_t seeds = 50;
  NommuBootOptions boot;  // memory_mib, prealloc and exact_free_to_tail are set per row
  // Makes the ChoiceSource of one seed (default: SeededChoices(seed)).
  std::function<std::unique_ptr<ChoiceSource>(uint64_t seed)> make_choices;
};

struct NommuExperimentRow {
  uint64_t memory_mib = 0;
  PreallocOrder prealloc = PreallocOrder::After;
  bool exact_free_to_tail = false;
  uint64_t boots = 0;
  uint64_t ooms = 0;
  uint64_t failures = 0;  // boots that ended in a failed check (a bug, not an OOM)
  double oom_rate = 0;    // ooms / boots
  // Medians over the boots, measured at the end of the script or at the OOM.
  uint64_t free_kib_median = 0;
  uint64_t largest_free_kib_median = 0;
  uint64_t blocks_1mib_median = 0;
  uint64_t oom_step_median = 0;  // of the boots that ran out of memory
  // Totals over the boots.
  uint64_t node_slab_pages = 0;
  uint64_t node_slab_pages_in_tail = 0;
  uint64_t late_node_allocations = 0;
  std::string first_oom;      // what the first OOM could not allocate
  std::string first_failure;  // the first failed check's headline
};

struct NommuExperimentResult {
  std::vector<NommuExperimentRow> rows;  // memory-major, then order, then tail placement
  // A fixed-width text table, one line per row, then the first OOM and failure.
  std::string table() const;
};

NommuExperimentResult run_nommu_experiment(const NommuExperimentOptions& options);

}  // namespace mmt::nommu
