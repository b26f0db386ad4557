// The seed-004 experiment: should cma_alloc retry when a page is
// pinned? One CMA world per seed — camera/codec clients allocating from a CMA area
// that movable memory has borrowed, against forks, exits, short pins, LRU batches and
// memory pressure — run under each retry policy and each workload:
//   transient       only transient pins (fork/exit windows, direct-I/O pins, LRU batches)
//   longterm        plus FOLL_LONGTERM pins held for minutes, pinned in place (VFIO, 2020)
//   longterm+migrate  the same pins under "migrate first" (v5.13+)
//   signal          long-term pins, and a fatal signal to every client early on
// The same seed drives every policy, so differences come from the policy. The result
// is a table (policy x workload: success rate, latency, hangs, signals honoured) and
// the numbers behind it.
//
// run_cma_world is one seed of it (for campaign runners); run_cma_policy_experiment
// runs the grid.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mmtorture/cma/actors.h"
#include "mmtorture/cma/cma.h"
#include "mmtorture/cma/stats.h"
#include "mmtorture/core/choice.h"
#include "mmtorture/core/failure.h"
#include "mmtorture/mem/fault_plan.h"

namespace mmt::sched {
class EventLog;
}  // namespace mmt::sched

namespace mmt::cma {

enum class CmaWorkload : uint8_t { Transient, Longterm, LongtermMigrateFirst, FatalSignal };
const char* cma_workload_name(CmaWorkload workload);

struct CmaWorldOptions {
  uint64_t memory_pages = 4096;
  uint64_t cma_base_pfn = 1536;  // the area is the upper 2560 pages: most of the free memory,
  uint64_t cma_pages = 2560;     // so the buddy allocator lends it to movable pages first
  unsigned order_per_bit = 0;
  CmaOptions cma;
  unsigned clients = 2;
  CmaClientOptions client{nullptr, 4, 256, 2048, 6, 8, 200, 100, 0.5};
  unsigned long process_pages = 512;  // the application the pinners, forker and toucher use
  unsigned forkers = 1;
  ForkerOptions forker;
  unsigned short_pinners = 1;
  PinnerOptions pinner;
  unsigned touchers = 1;
  ToucherOptions toucher;
  unsigned hogs = 1;
  HogOptions hog;
  // A second process, a VM whose guest memory the "vfio" thread pins FOLL_LONGTERM
  // (never forked, so its pages are pinned where they were faulted, no COW copy).
  unsigned long vm_pages = 1024;
  unsigned longterm_pins = 0;  // pages of the VM pinned FOLL_LONGTERM (0: none)
  LongtermPinnerOptions longterm;
  uint64_t fatal_signal_at_ms = 0;  // when a "killer" signals every client (0: never)
  // fail_page_alloc at alloc_contig_range's migration targets (kSiteMigrationTarget) and
  // at FOLL_LONGTERM's (kSiteLongtermTarget): each target allocation fails with this
  // probability, a recorded choice (0: never). Two knobs, as a range migrates hundreds
  // of pages where a long-term pin migrates one.
  double migration_fail_probability = 0;
  double longterm_fail_probability = 0;
  // Per-CPU page lists in the world's memory (mem::MemConfig::pcp_batch; 0: none): freed
  // order-0 frames of the CMA area park there and alloc_contig_range must drain them.
  unsigned pcp_batch = 0;
  uint64_t hang_ms = 60'000;
  double preempt_probability = 0.1;
  sched::EventLog* event_log = nullptr;  // replay --last: each thread's last events, when set
  // replay --dump-tree: on a failure, draw the VMA trees of the application and the VM
  // (before anything else touches them) into CmaWorldResult::trees_dot.
  bool capture_trees_dot = false;
  bool whole_trees = false;  // replay --dump-tree-whole: every node, never collapsed
};

struct CmaWorldResult {
  std::optional<Failure> failure;  // first failure (a hang included)
  bool hang = false;               // the failure is the scheduler's hang detector
  std::vector<CmaCall> calls;      // every client call, in client then call order
  CmaStats area_stats;
  Cma::Stats cma_stats;
  uint64_t signal_sent_ms = UINT64_MAX;  // when the killer fired (UINT64_MAX: it did not)
  uint64_t signals_sent = 0;             // signalled calls that were in flight
  uint64_t signals_honoured = 0;         // ... and returned
  uint64_t signal_delay_ms_max = 0;      // longest signal-to-return of those
  uint64_t virtual_ms = 0;
  uint64_t trace_hash = 0;
  // Coverage, counted beside the run: each outcome's count (cma/coverage.h) and the
  // fault plan's requests and failures per allocation site.
  CmaOutcomeCounts outcomes{};
  std::vector<mem::FaultPlan::SiteStats> sites;
  std::string trees_dot;  // with capture_trees_dot and a failure: one cluster per process
};

// One seed: builds the world, runs every actor under the scheduler with checks after
// each operation, tears down and checks for leaks (bits, pins, isolation).
CmaWorldResult run_cma_world(ChoiceSource& choices, const CmaWorldOptions& options);

// The default policy list: none, bounded(5,100ms), forever(100ms), nofail_only(100ms),
// then bounded and forever with uninterruptible sleeps.
std::vector<RetryPolicy> default_retry_policies();

struct CmaExperimentOptions {
  std::vector<RetryPolicy> policies = default_retry_policies();
  std::vector<CmaWorkload> workloads = {CmaWorkload::Transient, CmaWorkload::Longterm,
                                        CmaWorkload::LongtermMigrateFirst, CmaWorkload::FatalSignal};
  uint64_t first_seed = 1;
  uint64_t seeds = 8;
  CmaWorldOptions world;             // workload knobs below override its pin/signal fields
  unsigned longterm_pins = 8;        // for the longterm and signal workloads
  uint64_t fatal_signal_at_ms = 250;
  // Makes the ChoiceSource of one seed (default: SeededChoices(seed)).
  std::function<std::unique_ptr<ChoiceSource>(uint64_t seed)> make_choices;
};

struct CmaPolicyRow {
  std::string policy;
  std::string workload;
  uint64_t runs = 0;
  uint64_t calls = 0;       // cma_alloc calls started (hung ones included)
  uint64_t successes = 0;
  uint64_t failed_busy = 0;    // calls that returned -EBUSY
  uint64_t failed_nomem = 0;   // -ENOMEM (no room in the bitmap, or no migration target)
  uint64_t failed_intr = 0;    // -EINTR
  double success_rate = 0;  // successes / calls
  LatencySummary latency;   // of the calls that returned
  uint64_t retries = 0;
  uint64_t busy = 0;
  uint64_t hangs = 0;
  uint64_t other_failures = 0;  // runs ending in a failure that is not a hang (a bug)
  uint64_t signals_sent = 0;
  uint64_t signals_honoured = 0;
  uint64_t signal_delay_ms_max = 0;
  std::string first_hang;      // the first hang's headline and message
  std::string first_failure;   // the first other failure's
};

struct CmaExperimentResult {
  std::vector<CmaPolicyRow> rows;  // policy-major, in the order asked
  // A fixed-width text table, one line per row, then the first hang message.
  std::string table() const;
};

CmaExperimentResult run_cma_policy_experiment(const CmaExperimentOptions& options);

}  // namespace mmt::cma
