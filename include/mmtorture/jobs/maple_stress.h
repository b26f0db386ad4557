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
#include "mmtorture/jobs/coverage.h"
#include "mmtorture/sched/strategy.h"

namespace mmt::jobs {

// Which tree the maple job drives: the model (src/maple), the kernel's own
// lib/maple_tree.c (src/kernel; builds configured with MMT_KERNEL_SRC), or both from
// one choice stream with every answer compared (maple.diverged on the first difference).
enum class MapleBackend : uint8_t { Model, Kernel, Differential };
// "model", "kernel", "differential".
const char* maple_backend_name(MapleBackend backend);
// True when this build has the kernel backend.
bool maple_kernel_backend_available();
// The kernel version the backend was built from ("6.12.118"); "" without it.
const char* maple_kernel_backend_version();

struct MapleStressOptions {
  uint64_t ops = 20000;                   // operations per seed
  double nowait_fail_probability = 0.05;  // chance that a GFP_NOWAIT node allocation fails
  bool alloc_range_tree = true;           // MT_FLAGS_ALLOC_RANGE (gap-tracking internal nodes)
  bool rcu = false;                       // RCU mode: replaced nodes die through rcu_barrier
  // Ranges stored before the first operation, drawing nothing: [16i, 16i + 7] = i + 1
  // for i < prefill, at the bottom of the first key region, so the tree starts several
  // levels deep where the operations' keys land (as the test suite's check_seq trees).
  uint64_t prefill = 0;
  bool stop_when_exhausted = false;  // end when the choice source runs out (fuzzing)
  // replay --dump-tree: on a failure, draw the tree (before anything else touches it)
  // into MapleStressResult::trees_dot.
  bool capture_trees_dot = false;
  bool whole_trees = false;  // replay --dump-tree-whole: every node, never collapsed
  MapleBackend backend = MapleBackend::Model;
  // differential: also compare the trees' shape after every op (height, and nodes
  // in use: the slab's live nodes once no cursor holds any) and the number of nodes
  // each mas_preallocate asks its node allocator for (maple.diverged naming both).
  bool compare_shape = false;
  // Lock-free RCU readers (any backend, RCU mode; on the differential each lookup runs
  // on both trees): with readers > 0 the writer's operations run as a green thread
  // under the scheduler beside `readers` threads that look entries up without the tree
  // lock (mtree_load, and mas_find under rcu_read_lock) until the writer is done. Each
  // read must return a value that was stored at that index at some point while it ran
  // (maple.rcu_reader) and never walk a freed node (maple.rcu_freed_node). Stored
  // values then carry their op number, so a stale or foreign value is told from a
  // current one.
  uint32_t readers = 0;
  // mt_set_rcu_access_points for the run: every rcu_dereference on a walk and every
  // write into the live RCU tree is a yield point (readers interleave inside writes).
  bool rcu_access_points = false;
  // Weights of the cursor and bulk operations beside the ten classic ones (each of
  // which weighs 10). All 0: the classic mix, drawn as before (one draw of 10).
  //  - paused store: mas_walk, then mas_pause (or mas_reset), the lock dropped and
  //    retaken, then mas_store_gfp through that state over the walked range or a drawn one;
  //  - spanning store: one store over up to a whole key region (many entries and nodes);
  //  - dup: copy the tree into a fresh one (mtree_dup, or mas_expected_entries and
  //    in-order mas_store, as fork does per version), checked against the source.
  uint32_t mix_paused_store = 0;
  uint32_t mix_spanning_store = 0;
  uint32_t mix_dup = 0;
  // The checks after each op (model backend): the whole tree (mt_validate and the diff
  // against the model) every full_check_every ops and at the end of the run; between
  // them the part of the tree the op could have changed (maple/validate.h's
  // validate_tree_range, the model over the leaves it visits). 1: whole after every op.
  uint64_t full_check_every = 64;
  // A whole-tree check after every partial one too: a failure only it finds is
  // check.incremental_missed (the partial checks missed what the whole one sees).
  bool verify_incremental = false;
  // How the scheduler interleaves the writer and the readers (readers > 0 only).
  sched::StrategyConfig strategy = sched::StrategyConfig::preempt(0.05);
  uint64_t hang_ms = 60'000;
};

struct MapleStressResult {
  uint64_t ops_done = 0;
  uint64_t trace_hash = 0;
  uint64_t allocation_failures = 0;  // injected GFP_NOWAIT failures
  uint64_t max_entries = 0;          // largest tree seen (entries)
  uint64_t max_height = 0;
  uint64_t reads = 0;              // lock-free reads checked (readers > 0)
  uint64_t switches = 0;           // thread switches (readers > 0)
  std::optional<Failure> failure;  // set when a check failed
  std::string trees_dot;           // with capture_trees_dot and a failure: one cluster, cluster_tree
  // The model backend: the GFP_NOWAIT node requests it decided and failed, each
  // operation's outcomes (coverage.h); counted beside the run, never read by it.
  Coverage coverage;
};

// What the model backend's code can do (coverage.h): its one injection site (GFP_NOWAIT
// node requests; off when nowait_fail_probability is 0) and each operation's outcomes
// (mtree_alloc_range off without alloc_range_tree, the -ENOMEM returns off when nothing
// is injected).
CoverageRegistry maple_coverage_registry(const MapleStressOptions& options);

// The maple job's operations, in draw order: the ten classic ones (a draw of 10 picks
// among them), then the cursor and bulk ones the mix_ weights add. The value is what
// the trace folds, so the order is part of every recorded seed.
enum class MapleOp : uint8_t {
  StoreRange,     // mtree_store_range (an entry or NULL)
  InsertRange,    // mtree_insert_range
  Erase,          // mtree_erase
  Load,           // mtree_load
  FindForward,    // mas_find then a few mas_next
  FindReverse,    // mas_find_rev then mas_prev
  EmptyArea,      // mas_empty_area / mas_empty_area_rev within a window
  AllocRange,     // mtree_alloc_range (alloc-range trees)
  PreallocStore,  // mas_preallocate(GFP_NOWAIT) then mas_store_prealloc
  StoreGfp,       // mas_store_gfp(GFP_NOWAIT)
  PausedStore,    // a store through a paused or reset state
  SpanningStore,  // one store over up to a whole key region
  Dup,            // copy the tree (mtree_dup or a bulk load)
};
static_assert(static_cast<int>(MapleOp::StoreGfp) == 9, "a draw of 10 (or of 100, by tens) picks a classic op");
// Draws the next op kind (site maple_stress.op): with every mix_ weight 0 one draw of 10,
// as before the weights existed (old seeds replay unchanged); else one draw over 100 +
// the weights, the classic ops 10 each (smaller draws stay the classic ops).
MapleOp draw_maple_op(ChoiceSource& choices, const MapleStressOptions& options);

// Runs one stress of `options.ops` operations with decisions from `choices`.
// Never throws for a failed check: the failure is returned with its op index.
MapleStressResult run_maple_stress(ChoiceSource& choices, const MapleStressOptions& options);

// The kernel and differential backends (maple_kernel_stress.cpp, kernel builds only):
// the same operation mix and draws as the model job. Kernel: node requests fail through
// the fault plan (GFP_NOWAIT with nowait_fail_probability, one AllocFail choice per
// request); checks are the kernel's own mt_validate, the std::map model, a false
// -ENOMEM check (maple.false_enomem: -ENOMEM while every node request was granted) and
// node accounting at teardown. Differential: per writing op one AllocFail choice fails
// every GFP_NOWAIT node request of that op on both trees; any difference in return
// value, entry, index/last or gap found is maple.diverged with both answers.
MapleStressResult run_maple_stress_kernel(ChoiceSource& choices, const MapleStressOptions& options);

}  // namespace mmt::jobs
