// The world job: the seed's swarm draws, then the VM world (vm_world.cpp) with the
// config's options; its config shrink passes bake the swarm into the config and make
// the workers, the address spaces and the op mix smaller.
#include "mmtorture/jobs/world.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "knob_as.h"
#include "mmtorture/jobs/job.h"

namespace mmt::jobs {

namespace {

// Swarm sites: one per op kind (swarm.<name>, vm_ops.def) and one per fault site.
constexpr std::array<Site, kVmOpCount> kSwarmOpSites = {
#define MMT_VM_OP(id, name, weight, doc) Site{"swarm." #name},
#include "mmtorture/jobs/vm_ops.def"
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

// Bakes the swarm draws into the config: each op kind a Swarm choice switched off gets
// weight 0, NOWAIT injection, kswapd and each sleeping fault class likewise, swarm
// goes off and its draws go.
bool bake_swarm(ConfigShrinker& shrinker) {
  const Config& base = shrinker.config();
  if (!base.workload.swarm && !base.faults.swarm && !base.schedule.swarm) return false;
  Config config = base;
  config.workload.swarm = false;
  config.faults.swarm = false;
  config.schedule.swarm = false;
  std::vector<Choice> rest;
  for (const Choice& c : shrinker.choices()) {
    if (c.kind != ChoiceKind::Swarm) {
      rest.push_back(c);
      continue;
    }
    if (c.value == 0) continue;
    const std::string_view site = c.site.name;
    if (site == kSwarmNowait.name) config.faults.nowait_fail_probability = 0;
    else if (site == kSwarmKswapd.name) config.world.kswapd = false;
    else if (site == kSwarmPreemptSite.name)
      config.schedule.preempt_probability = swarm_preempt_probability(c.value, base.schedule.preempt_probability);
    else if (site == kSwarmFailVma.name) config.faults.vma_fail_probability = 0;
    else if (site == kSwarmFailAnonVma.name) config.faults.anon_vma_fail_probability = 0;
    else if (site == kSwarmFailMapleNode.name) config.faults.maple_node_fail_probability = 0;
    else if (site == kSwarmFailPages.name) config.faults.page_fail_probability = 0;
    else if (site.starts_with("swarm."))
      shrinker.set_knob(config, "workload", fmt::format("mix_{}", site.substr(6)), int64_t{0});
  }
  if (!shrinker.valid(config)) return false;  // every op kind drawn off: the run kept the configured mix
  return shrinker.attempt(config, rest, "swarm baked into the config");
}

// The world's op mix made simpler: every used weight 1, or one kind dropped. Op
// values are remapped so each operation keeps its kind (a dropped kind's operations
// become the first kind left); with one kind left no Op is drawn at all.
bool remix(ConfigShrinker& shrinker, const std::array<uint32_t, kVmOpCount>& next, const std::string& change) {
  const auto mix = world_options(shrinker.config()).op_mix;
  Config config = shrinker.config();
  for (size_t k = 0; k < kVmOpCount; ++k)
    shrinker.set_knob(config, "workload", fmt::format("mix_{}", kVmOpNames[k]), static_cast<int64_t>(next[k]));
  std::vector<Choice> candidate = shrinker.choices();
  for (Choice& c : candidate) {
    if (c.kind != ChoiceKind::Op || c.site.view() != "vm_world.op") continue;
    size_t kind = 0;
    for (uint64_t left = c.value; kind < kVmOpCount; ++kind) {
      if (left < mix[kind]) break;
      left -= mix[kind];
    }
    uint64_t value = 0;
    if (kind < kVmOpCount && next[kind] > 0)
      for (size_t j = 0; j < kind; ++j) value += next[j];
    c.value = value;
  }
  return shrinker.attempt(config, candidate, change);
}

bool reduce_op_mix(ConfigShrinker& shrinker) {
  bool progress = false;
  auto mix = world_options(shrinker.config()).op_mix;
  if (std::any_of(mix.begin(), mix.end(), [](uint32_t w) { return w > 1; })) {
    std::array<uint32_t, kVmOpCount> uniform{};
    for (size_t k = 0; k < kVmOpCount; ++k) uniform[k] = mix[k] ? 1 : 0;
    progress |= remix(shrinker, uniform, "op mix: every used weight 1");
  }
  for (size_t k = 0; k < kVmOpCount && shrinker.budget_left(); ++k) {
    mix = world_options(shrinker.config()).op_mix;
    if (mix[k] == 0 || std::count_if(mix.begin(), mix.end(), [](uint32_t w) { return w > 0; }) < 2) continue;
    std::array<uint32_t, kVmOpCount> next = mix;
    next[k] = 0;
    progress |= remix(shrinker, next, fmt::format("workload.mix_{} {} -> 0", kVmOpNames[k], mix[k]));
  }
  return progress;
}

class WorldJob final : public Job {
 public:
  const char* name() const override { return "world"; }
  const char* doc() const override {
    return "address spaces on simulated memory: mmap, munmap, mprotect, brk, mremap, faults, fork, exit, reclaim";
  }
  const char* knob_section() const override { return "world"; }

  JobResult run(const Config& config, ChoiceSource& choices, const SeedHooks& hooks) const override {
    JobResult out;
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
        "{} -ENOMEM, {} faults, {} forks, {} exits, {} failed page allocations, {} OOM kills, max {} VMAs, {} "
        "reclaimed, "
        "{} swapped out, {} swapped in, {} switches, {} steps; failed allocations: {}",
        r.enomem, r.faults, r.forks, r.exits, r.alloc_failures, r.oom_kills, r.max_vmas, r.pages_reclaimed, r.swap_outs,
        r.swap_ins, r.switches, r.steps, r.failures_by_class);
    if (options.strategy == sched::StrategyKind::Pct)
      out.stats += fmt::format(
          "; pct: n={} threads, k={}, d={}: a depth-{} bug in the first k steps is found with "
          "p >= {:.3g}{}",
          r.threads, options.pct_steps, options.pct_depth, options.pct_depth, r.pct_guarantee,
          r.steps > options.pct_steps ? " (this run took more steps than k)" : "");
    if (config.checks.keep_going && !r.problems.empty()) {
      out.stats += fmt::format("; {} distinct problem{}:", r.problems.size(), r.problems.size() == 1 ? "" : "s");
      for (const Failure& problem : r.problems)
        out.stats += fmt::format(" {} ({})", problem.check, problem.signature_id());
    }
    return out;
  }

  uint64_t threads(const Config& config) const override {
    return config.workload.workers + (config.world.kswapd ? 1 : 0);
  }

  bool shrink_config(ConfigShrinker& shrinker) const override {
    bool progress = shrink_ops_per_seed(shrinker, shrinker.config().workload.workers);
    progress |= bake_swarm(shrinker);
    const uint64_t workers = shrinker.config().workload.workers;
    progress |= shrinker.lower_u64("workload", "workers", workers, {1, workers / 2, workers - 1});
    if (shrinker.config().world.kswapd) progress |= shrinker.set_value("world", "kswapd", false, "true -> false");
    const uint64_t slots = shrinker.config().world.mm_slots;
    progress |= shrinker.lower_u64("world", "mm_slots", slots, {1, slots / 2, slots - 1});
    progress |= reduce_op_mix(shrinker);
    progress |= drop_unused_preemption(shrinker);
    progress |= drop_unused_nowait_failures(shrinker);
    progress |= drop_unused_sleeping_failures(shrinker);
    return progress;
  }

  // Each sleeping class's failure probability to 0 when no allocation of the repro
  // failed: a class left on draws an AllocFail choice at every request of its site
  // (one per mmap for vm_area_struct), which the failure does not need.
  static bool drop_unused_sleeping_failures(ConfigShrinker& shrinker) {
    if (shrinker.has_nonzero(ChoiceKind::AllocFail)) return false;
    using Faults = decltype(Config::faults);
    static constexpr std::pair<const char*, double Faults::*> kClasses[] = {
        {"vma_fail_probability", &Faults::vma_fail_probability},
        {"anon_vma_fail_probability", &Faults::anon_vma_fail_probability},
        {"maple_node_fail_probability", &Faults::maple_node_fail_probability},
        {"page_fail_probability", &Faults::page_fail_probability},
    };
    bool progress = false;
    for (const auto& [name, member] : kClasses)
      if (shrinker.config().faults.*member > 0)
        progress |= shrinker.set_value("faults", name, 0.0, "-> 0 (no injected failures)");
    return progress;
  }

  bool coverage_registry(const Config& config, CoverageRegistry* registry) const override {
    *registry = world_coverage_registry(world_options(config));
    return true;
  }
  bool records_events() const override { return true; }
  bool explores_schedules() const override { return true; }
};

}  // namespace

double swarm_preempt_probability(uint64_t drawn, double configured) {
  if (drawn == 0 || drawn > std::size(kSwarmPreemptProbabilities)) return configured;
  return kSwarmPreemptProbabilities[drawn - 1];
}

VmWorldOptions world_options(const Config& config) {
  VmWorldOptions o;
  o.ops = config.run.ops_per_seed;
  o.workers = knob_as<unsigned>(config.workload.workers, "workload.workers");
  o.mm_slots = knob_as<unsigned>(config.world.mm_slots, "world.mm_slots");
  o.memory_pages = config.world.memory_pages;
  o.min_free_pages = config.world.min_free_pages;
  o.nowait_fail_probability = config.faults.nowait_fail_probability;
  o.vma_fail_probability = config.faults.vma_fail_probability;
  o.anon_vma_fail_probability = config.faults.anon_vma_fail_probability;
  o.maple_node_fail_probability = config.faults.maple_node_fail_probability;
  o.page_fail_probability = config.faults.page_fail_probability;
  o.too_small_to_fail = config.faults.too_small_to_fail;
  o.fault_rules = config.faults.rules;
  o.preempt_probability = config.schedule.preempt_probability;
  // Bounded exploration runs each schedule under uniform's decisions (sched/explore.h).
  o.strategy = bounded_exploration(config)
                   ? sched::StrategyKind::Uniform
                   : sched::strategy_from_name(config.schedule.strategy).value_or(sched::StrategyKind::Preempt);
  o.pct_depth = knob_as<uint32_t>(config.schedule.pct_depth, "schedule.pct_depth");
  o.pct_steps = config.schedule.pct_steps;
  o.hang_ms = config.schedule.hang_ms;
  o.lockdep_order = config.checks.lockdep_order;
  o.keep_going = config.checks.keep_going;
  o.full_check_every = knob_as<unsigned>(config.checks.full_check_every, "checks.full_check_every");
  o.kswapd = config.world.kswapd;
  o.oom_kill = config.world.oom_kill;
  o.per_vma_locks = config.world.per_vma_locks;
  o.stack_guard_gap_pages = config.world.stack_guard_gap_pages;
  o.swap_pages = config.world.swap_pages;
  o.reserved_pages = config.world.reserved_pages;
  o.op_mix = {
#define MMT_VM_OP(id, name, weight, doc) knob_as<uint32_t>(config.workload.mix_##name, "workload.mix_" #name),
#include "mmtorture/jobs/vm_ops.def"
#undef MMT_VM_OP
  };
  o.selftest_plant_fork_after_op = config.checks.selftest_plant_fork_after_op;
  return o;
}

const Job& world_job() {
  static const WorldJob job;
  return job;
}

}  // namespace mmt::jobs
