// One seed: swarm draws, then the job (seed_run.h).
#include "mmtorture/campaign/seed_run.h"

#include <fmt/format.h>

#include <array>
#include <cstdlib>
#include <map>

#include "mmtorture/cma/experiment.h"
#include "mmtorture/core/defects.h"
#include "mmtorture/core/trace_hash.h"
#include "mmtorture/nommu/boot.h"
#include "mmtorture/vma/page_model.h"

#if defined(MMT_SANITIZED)
#include <sanitizer/lsan_interface.h>
#endif

namespace mmt::campaign {

namespace {

// Swarm sites: one per op kind (swarm.<name>, vm_ops.def) and one per fault site.
constexpr std::array<Site, kVmOpCount> kSwarmOpSites = {
#define MMT_VM_OP(id, name, weight, doc) Site{"swarm." #name},
#include "mmtorture/campaign/vm_ops.def"
#undef MMT_VM_OP
};
constexpr Site kSwarmNowait{"swarm.nowait_injection"};
constexpr Site kSwarmKswapd{"swarm.kswapd"};
// One per sleeping allocation class (VmWorldOptions' *_fail_probability), drawn only
// for a class whose probability is above 0.
constexpr Site kSwarmFailVma{"swarm.fail_vm_area_struct"};
constexpr Site kSwarmFailAnonVma{"swarm.fail_anon_vma"};
constexpr Site kSwarmFailMapleNode{"swarm.fail_maple_node"};
constexpr Site kSwarmFailPages{"swarm.fail_pages"};

// Draws this seed's swarm: 1 switches a feature off, 0 (the simple choice) keeps it.
std::string draw_swarm(const Config& config, ChoiceSource& choices, VmWorldOptions& options) {
  std::string off;
  if (config.workload.swarm) {
    const auto mix = options.op_mix;
    uint64_t left = 0;
    for (size_t op = 0; op < kVmOpCount; ++op) {
      if (mix[op] == 0) continue;
      if (choices.draw(ChoiceKind::Swarm, kSwarmOpSites[op], 2)) {
        options.op_mix[op] = 0;
        off += fmt::format("{}{}", off.empty() ? "" : ",", kVmOpNames[op]);
      }
      left += options.op_mix[op];
    }
    if (left == 0) {  // everything drawn off: keep the configured mix
      options.op_mix = mix;
      off.clear();
    }
  }
  if (config.schedule.swarm && options.strategy == sched::StrategyKind::Preempt) {
    const uint64_t drawn =
        choices.draw(ChoiceKind::Swarm, kSwarmPreemptSite, std::size(kSwarmPreemptProbabilities) + 1);
    if (drawn) {
      options.preempt_probability = swarm_preempt_probability(drawn, options.preempt_probability);
      off += fmt::format("{}preempt_probability={}", off.empty() ? "" : ",", options.preempt_probability);
    }
  }
  if (config.faults.swarm) {
    if (choices.draw(ChoiceKind::Swarm, kSwarmNowait, 2)) {
      options.nowait_fail_probability = 0;
      off += fmt::format("{}nowait_injection", off.empty() ? "" : ",");
    }
    if (choices.draw(ChoiceKind::Swarm, kSwarmKswapd, 2)) {
      options.kswapd = false;
      off += fmt::format("{}kswapd", off.empty() ? "" : ",");
    }
    const std::pair<Site, double*> sleeping[] = {{kSwarmFailVma, &options.vma_fail_probability},
                                                 {kSwarmFailAnonVma, &options.anon_vma_fail_probability},
                                                 {kSwarmFailMapleNode, &options.maple_node_fail_probability},
                                                 {kSwarmFailPages, &options.page_fail_probability}};
    for (const auto& [site, probability] : sleeping) {
      if (*probability <= 0 || !choices.draw(ChoiceKind::Swarm, site, 2)) continue;
      *probability = 0;
      off += fmt::format("{}{}", off.empty() ? "" : ",", site.view().substr(6));
    }
  }
  return off;
}

// The config's canary defects for the length of one seed, the previous set restored
// after: the set is process-wide, so every run (campaign worker, replay, shrink
// candidate, selftest) gets exactly the defects its config names and no others.
class ConfigDefects {
 public:
  explicit ConfigDefects(const Config& config) : saved_(enabled_defects()) {
    clear_defects();
    for (const auto& name : config.run.defects)
      if (const auto defect = defect_from_name(name)) enable_defect(*defect);
  }
  ~ConfigDefects() {
    clear_defects();
    for (Defect defect : saved_) enable_defect(defect);
  }
  ConfigDefects(const ConfigDefects&) = delete;
  ConfigDefects& operator=(const ConfigDefects&) = delete;

 private:
  std::vector<Defect> saved_;
};

// Folds every draw into a trace hash: the page-model job keeps no trace of its own, and
// its sequence of (kind, site, bound, value) follows its control flow op by op.
class HashingChoices final : public ChoiceSource {
 public:
  explicit HashingChoices(ChoiceSource& inner) : inner_(inner) {}
  bool exhausted() const override { return inner_.exhausted(); }
  uint64_t hash() const { return hash_.value(); }

 protected:
  uint64_t produce(ChoiceKind kind, Site site, uint64_t bound, Bias bias, double p) override {
    const uint64_t value =
        bias == Bias::Probability ? (inner_.flip(kind, site, p) ? 1 : 0) : inner_.draw(kind, site, bound);
    hash_.fold_string(TraceEvent::Choice, site.name);
    hash_.fold(TraceEvent::Choice, static_cast<uint64_t>(kind), bound, value);
    return value;
  }

 private:
  ChoiceSource& inner_;
  TraceHash hash_;
};

// The cma job's numbers for the report: its policy, counts and every call's latency.
CmaSeedMetrics cma_seed_metrics(const cma::CmaWorldOptions& options, const cma::CmaStats& stats) {
  CmaSeedMetrics m;
  m.policy = options.cma.retry.name();
  m.calls = stats.alloc_calls;
  m.failed = stats.alloc_calls_fail;
  m.retries = stats.retries;
  m.busy = stats.busy;
  m.interrupted = stats.interrupted;
  m.enomem = stats.enomem;
  std::map<uint64_t, uint64_t> calls_by_ms;
  for (uint64_t ms : stats.latency_ms) ++calls_by_ms[ms];
  m.latency_ms.assign(calls_by_ms.begin(), calls_by_ms.end());
  return m;
}

}  // namespace

double swarm_preempt_probability(uint64_t drawn, double configured) {
  if (drawn == 0 || drawn > std::size(kSwarmPreemptProbabilities)) return configured;
  return kSwarmPreemptProbabilities[drawn - 1];
}

// Long because it is the one dispatch from a config to the job that runs the seed, with
// each job's options and result fields side by side (the jobs layer will split it).
SeedResult run_seed(const Config& config, ChoiceSource& choices, const SeedHooks& hooks) {
#if defined(MMT_SANITIZED)
  // A failed world abandons its address spaces on purpose (their locks and structures
  // may be broken), which LeakSanitizer would report at exit of every replay and shrink.
  // The world's own teardown leak checks (nodes, VMAs, pages) still run in clean seeds.
  __lsan::ScopedDisabler abandoned_worlds_are_not_leaks;
#endif
  ConfigDefects defects(config);
  SeedResult out;
  if (config.workload.job == "page_model") {
    HashingChoices hashing(choices);
    const auto r = vma::run_page_model(hashing, page_model_options(config));
    out.ops = r.ops_done;
    out.failure = r.failure;
    out.trace_hash = hashing.hash();
    out.stats = fmt::format("{} -ENOMEM (injected)", r.enomem);
  } else if (config.workload.job == "cma") {
    cma::CmaWorldOptions options = cma_options(config);
    options.event_log = hooks.event_log;
    options.capture_trees_dot = hooks.capture_trees_dot;
    options.whole_trees = hooks.whole_trees;
    const auto r = cma::run_cma_world(choices, options);
    out.trees_dot = r.trees_dot;
    out.ops = r.calls.size();
    out.virtual_ms = r.virtual_ms;
    out.trace_hash = r.trace_hash;
    out.failure = r.failure;
    const cma::LatencySummary latency = r.area_stats.latency();
    out.stats = fmt::format(
        "cma: {} calls ({} failed), alloc_pages_success {}, alloc_pages_fail {}, release_pages_success {}, "
        "retries {}, busy {}, interrupted {}, latency p50 {} ms p99 {} ms max {} ms, signals {}/{} honoured",
        r.area_stats.alloc_calls, r.area_stats.alloc_calls_fail, r.area_stats.alloc_pages_success,
        r.area_stats.alloc_pages_fail, r.area_stats.release_pages_success, r.area_stats.retries, r.area_stats.busy,
        r.area_stats.interrupted, latency.p50_ms, latency.p99_ms, latency.max_ms, r.signals_honoured, r.signals_sent);
    out.metrics.cma = cma_seed_metrics(options, r.area_stats);
  } else if (config.workload.job == "nommu") {
    const nommu::NommuBootOptions options = nommu_options(config);
    const auto r = nommu::run_nommu_boot(choices, options);
    out.ops = r.steps;
    out.trace_hash = r.trace_hash;
    out.failure = r.failure;
    const uint64_t free_kib = r.free_pages * mem::kPageSize / 1024;
    const uint64_t largest_kib = (mem::kPageSize << r.largest_free_order) / 1024;
    if (!out.failure && r.oom && config.nommu.oom_fails) {
      // The thread's failure: the board could not boot. Numbers (sizes, steps) are
      // normalised out of the signature, so the same request failing is one bug.
      out.failure = Failure{"nommu.oom", "out_of_memory",
                            fmt::format("{} MiB board ran out of memory at step {}: {}; {} KiB free, largest free "
                                        "block {} KiB",
                                        options.memory_mib, r.oom_step, r.oom_what, free_kib, largest_kib),
                            "", r.oom_step, 0};
    }
    out.metrics.nommu = NommuSeedMetrics{options.memory_mib, r.oom, free_kib, largest_kib, r.free_blocks_1mib};
    out.stats = fmt::format(
        "boot: {} steps, {} processes, {}; {} KiB free, largest free block {} KiB, {} free blocks >= 1 MiB; {} node "
        "slab pages ({} in a freed tail), {} splits",
        r.steps, r.processes, r.oom ? fmt::format("out of memory at step {} ({})", r.oom_step, r.oom_what) : "booted",
        free_kib, largest_kib, r.free_blocks_1mib, r.stats.node_slab_pages, r.stats.node_slab_pages_in_tail,
        r.stats.splits);
  } else if (config.workload.job == "maple") {
    MapleStressOptions options = maple_options(config);
    options.capture_trees_dot = hooks.capture_trees_dot;
    options.whole_trees = hooks.whole_trees;
    const auto r = run_maple_stress(choices, options);
    out.ops = r.ops_done;
    out.trace_hash = r.trace_hash;
    out.failure = r.failure;
    out.trees_dot = r.trees_dot;
    out.coverage = r.coverage;
    out.stats = fmt::format("{} NOWAIT failures injected, max {} entries, height {}", r.allocation_failures,
                            r.max_entries, r.max_height);
    if (options.readers)
      out.stats += fmt::format(", {} lock-free reads checked by {} readers, {} switches", r.reads, options.readers,
                               r.switches);
  } else {
    VmWorldOptions options = world_options(config);
    out.swarm = draw_swarm(config, choices, options);
    options.trace_ops = hooks.trace_ops;
    options.event_log = hooks.event_log;
    options.capture_trees_dot = hooks.capture_trees_dot;
    options.whole_trees = hooks.whole_trees;
    const auto r = run_vm_world(choices, options);
    out.trees_dot = r.trees_dot;
    out.ops = r.ops_done;
    out.virtual_ms = r.virtual_ms;
    out.trace_hash = r.trace_hash;
    out.failure = r.failure;
    out.pct_guarantee = r.pct_guarantee;
    out.coverage = r.coverage;
    out.stats = fmt::format(
        "{} -ENOMEM, {} faults, {} forks, {} exits, {} failed page allocations, {} OOM kills, max {} VMAs, {} reclaimed, "
        "{} swapped out, {} swapped in, {} switches, {} steps; failed allocations: {}",
        r.enomem, r.faults, r.forks, r.exits, r.alloc_failures, r.oom_kills, r.max_vmas, r.pages_reclaimed, r.swap_outs,
        r.swap_ins, r.switches, r.steps, r.failures_by_class);
    if (options.strategy == sched::StrategyKind::Pct)
      out.stats += fmt::format("; pct: n={} threads, k={}, d={}: a depth-{} bug in the first k steps is found with "
                               "p >= {:.3g}{}",
                               r.threads, options.pct_steps, options.pct_depth, options.pct_depth, r.pct_guarantee,
                               r.steps > options.pct_steps ? " (this run took more steps than k)" : "");
    if (config.checks.keep_going && !r.problems.empty()) {
      out.stats += fmt::format("; {} distinct problem{}:", r.problems.size(), r.problems.size() == 1 ? "" : "s");
      for (const Failure& problem : r.problems)
        out.stats += fmt::format(" {} ({})", problem.check, problem.signature_id());
    }
  }
  if (out.failure && config.checks.selftest_crash && out.failure->check == "selftest.planted") std::abort();
  return out;
}

}  // namespace mmt::campaign
