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

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mmtorture/core/choice.h"
#include "mmtorture/core/failure.h"
#include "mmtorture/jobs/coverage.h"
#include "mmtorture/mem/config.h"
#include "mmtorture/mem/fault_plan.h"
#include "mmtorture/sched/scheduler.h"

namespace mmt::sched {
class EventLog;
}  // namespace mmt::sched

namespace mmt::jobs {

// The operation kinds a worker draws from, in draw order (vm_ops.def).
enum class VmOp : uint64_t {
#define MMT_VM_OP(id, name, weight, doc) id,
#include "mmtorture/jobs/vm_ops.def"
#undef MMT_VM_OP
};
// Their names, as the config's op mix (workload.mix_<name>) and --trace output spell them.
inline constexpr std::array kVmOpNames = {
#define MMT_VM_OP(id, name, weight, doc) #name,
#include "mmtorture/jobs/vm_ops.def"
#undef MMT_VM_OP
};
inline constexpr size_t kVmOpCount = kVmOpNames.size();

struct VmWorldOptions {
  uint64_t ops = 2000;                    // operations per seed, over all workers
  unsigned workers = 3;                   // workload green threads
  unsigned mm_slots = 3;                  // address spaces alive at once (fork fills, exit empties)
  uint64_t memory_pages = 4096;           // 16 MiB of simulated frames
  uint64_t min_free_pages = 0;            // min watermark (low and high follow at 5/4 and 3/2); 0 = derived
  uint64_t reserved_pages = 0;            // frames reserved at boot (mem::MemConfig::reserved_pages)
  double nowait_fail_probability = 0.02;  // GFP_NOWAIT allocations failed by the fault plan
  // Sleeping (GFP_KERNEL) requests failed by the fault plan, per object: failslab on the
  // vm_area_struct, anon_vma and maple_node caches, fail_page_alloc on page requests
  // (anonymous and COW faults). 0 = that class is never injected.
  double vma_fail_probability = 0.0;
  double anon_vma_fail_probability = 0.0;
  double maple_node_fail_probability = 0.0;
  double page_fail_probability = 0.0;
  // The kernel's "too small to fail": sleeping requests of order <= 3 are never injected.
  bool too_small_to_fail = false;
  // Further rules, "SITE:CLASS:PROBABILITY" (mem::parse_fault_rule), set after the above.
  std::vector<std::string> fault_rules;
  double preempt_probability = 0.1;                             // preempt strategy: chance to switch at a yield point
  sched::StrategyKind strategy = sched::StrategyKind::Preempt;  // preempt, uniform or pct
  bool lockdep_order = true;                                    // sched::SchedulerOptions::lockdep_order
  bool keep_going = false;                                      // sched::SchedulerOptions::keep_going
  uint32_t pct_depth = sched::StrategyConfig{}.pct_depth;       // pct: bug depth d
  uint64_t pct_steps = sched::StrategyConfig{}.pct_steps;       // pct: estimated steps k
  uint64_t hang_ms = sched::SchedulerOptions{}.hang_ms;         // virtual time without progress = hang
  // The operation mix, in draws out of the sum (vm_ops.def's weights by default; a 0
  // turns a kind off).
  std::array<uint32_t, kVmOpCount> op_mix = {
#define MMT_VM_OP(id, name, weight, doc) weight,
#include "mmtorture/jobs/vm_ops.def"
#undef MMT_VM_OP
  };
  // Self-test: the first fork at or after this operation raises "selftest.planted"
  // (0 = off). Gives the campaign, replay and shrink tests a real, choice-dependent failure.
  uint64_t selftest_plant_fork_after_op = 0;
  // Called with one line per operation ("op 12 worker1 fault -> 0") when set (replay --trace).
  std::function<void(std::string_view)> trace_ops;
  unsigned full_check_every = 16;  // frame/slab consistency every N operations (0: end only)
  bool kswapd = true;
  uint64_t swap_pages = mem::MemConfig::kMaxSwapPages;  // swap slots; 0 = no swap device
  // A GFP_KERNEL allocation that still fails after direct reclaim OOM-kills the process
  // with the largest rss + swap entries and no operation in flight (an oom_reaper green
  // thread tears it down while the allocation waits), instead of failing with -ENOMEM.
  bool oom_kill = false;
  // Per-VMA locks (vma/vma_lock.h): faults look their VMA up under RCU and lock only it,
  // writers write-lock each VMA they change, VMAs are freed after a grace period.
  bool per_vma_locks = false;
  // The stack guard gap in pages (the kernel's stack_guard_gap, 256 by default), scaled
  // to the world's 256-page window so the stack op's growths are not all refused.
  uint64_t stack_guard_gap_pages = 4;
  // Simulated files the mmap_file op maps (set as vma::VmConfig::files).
  uint64_t files = 2;
  // replay --last: records each thread's last events (sched/event_log.h) when set.
  sched::EventLog* event_log = nullptr;
  // replay --dump-tree: at the first failure, before any thread unwinds or any address
  // space is abandoned, every live mm's VMA tree is drawn into VmWorldResult::trees_dot.
  bool capture_trees_dot = false;
  bool whole_trees = false;  // replay --dump-tree-whole: every node, never collapsed
};

struct VmWorldResult {
  uint64_t ops_done = 0;
  uint64_t enomem = 0;  // operations that returned -ENOMEM
  uint64_t faults = 0;  // page faults served
  uint64_t forks = 0;
  uint64_t exits = 0;
  uint64_t max_vmas = 0;  // largest map_count seen
  uint64_t switches = 0;
  uint64_t virtual_ms = 0;
  uint64_t pages_reclaimed = 0;
  uint64_t oom_kills = 0;       // processes the OOM killer reaped
  uint64_t alloc_failures = 0;  // page allocations that returned null (any GFP, any reason)
  // Failed allocations per object and GFP class ("pages/nowait 3 pages/kernel 0 ..."):
  // page requests (slab refills excluded), then each slab cache's requests.
  std::string failures_by_class;
  uint64_t swap_outs = 0;                // anonymous pages reclaim wrote to a swap slot
  uint64_t file_dropped = 0;             // page-cache pages reclaim dropped from their file's cache
  uint64_t file_writebacks = 0;          // dirty page-cache pages reclaim wrote back first
  uint64_t swap_ins = 0;                 // swap ptes faulted back in
  uint64_t min_free_pages = UINT64_MAX;  // lowest free-page count seen after an operation
  uint64_t trace_hash = 0;
  uint64_t steps = 0;        // scheduling points (PCT's k)
  uint32_t threads = 0;      // green threads spawned
  double pct_guarantee = 0;  // PCT: 1/(n·k^(d-1)) with this run's n and the configured k, d
  std::optional<Failure> failure;
  // keep_going: every distinct failure signature the scheduler's run showed.
  std::vector<Failure> problems;
  // With capture_trees_dot and a failure: a Graphviz digraph with one cluster per live
  // address space (cluster_mm<id>), as the trees were when the failure was recorded.
  std::string trees_dot;
  // Which allocation sites the fault plan reached and failed, and each operation's
  // outcomes (coverage.h); counted beside the run, never read by it.
  Coverage coverage;
};

VmWorldResult run_vm_world(ChoiceSource& choices, const VmWorldOptions& options);

// The simulated machine the world runs on (watermarks from min_free_pages, reserved
// frames, swap, OOM killing), before mem::resolve_mem_config checks and derives it.
mem::MemConfig world_memory_config(const VmWorldOptions& options);

// The world's fault plan from its options: the GFP_NOWAIT rule, one GFP_KERNEL rule per
// sleeping object class asked for, then fault_rules, and the too-small-to-fail switch.
// Throws ConfigError for a bad rule.
void set_fault_rules(mem::FaultPlan& plan, const VmWorldOptions& options);

// What the world's code can do (coverage.h): the allocation sites the fault plan decides
// (each marked off when these options' plan never fails it) and every outcome of each
// operation kind (marked off when the op mix never draws the kind).
CoverageRegistry world_coverage_registry(const VmWorldOptions& options);

}  // namespace mmt::jobs
