// A seeded, single-threaded stress run of the maple tree: every operation, argument
// and GFP_NOWAIT node-allocation failure is drawn from a ChoiceSource; after every
// operation the tree is validated (mt_validate) and diffed against a std::map model.
// This is the first job `mmtorture run` drives; multi-threaded worlds build on it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "mmtorture/core/choice.h"
#include "mmtorture/core/failure.h"

namespace mmt::campaign {

struct MapleStressOptions {
  uint64_t ops = 20000;               // operations per seed
  double nowait_fail_probability = 0.05;  // chance that a GFP_NOWAIT node allocation fails
  bool alloc_range_tree = true;       // MT_FLAGS_ALLOC_RANGE (gap-tracking internal nodes)
  bool rcu = false;                   // RCU mode: replaced nodes die through rcu_barrier
  // Ranges stored before the first operation, drawing nothing: [16i, 16i + 7] = i + 1
  // for i < prefill, at the bottom of the first key region, so the tree starts several
  // levels deep where the operations' keys land (as the test suite's check_seq trees).
  uint64_t prefill = 0;
  bool stop_when_exhausted = false;   // end when the choice source runs out (fuzzing)
  // replay --dump-tree: on a failure, draw the tree (before anything else touches it)
  // into MapleStressResult::trees_dot.
  bool capture_trees_dot = false;
};

struct MapleStressResult {
  uint64_t ops_done = 0;
  uint64_t trace_hash = 0;
  uint64_t allocation_failures = 0;  // injected GFP_NOWAIT failures
  uint64_t max_entries = 0;          // largest tree seen (entries)
  uint64_t max_height = 0;
  std::optional<Failure> failure;    // set when a check failed
  std::string trees_dot;             // with capture_trees_dot and a failure: one cluster, cluster_tree
};

// Runs one stress of `options.ops` operations with decisions from `choices`.
// Never throws for a failed check: the failure is returned with its op index.
MapleStressResult run_maple_stress(ChoiceSource& choices, const MapleStressOptions& options);

}  // namespace mmt::campaign
