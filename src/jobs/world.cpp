// The world job: the seed's swarm draws, then the VM world (vm_world.cpp) with the
// config's options; its config shrink passes bake the swarm into the config and make
// the workers, the address spaces and the op mix smaller.
#include "mmtorture/jobs/world.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <functional>
#include <optional>
#include <string_view>

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

// ---- the world's operations in a repro's choices -----------------------------------

using OpMix = std::array<uint32_t, kVmOpCount>;

// vm_world.cpp's sites of an operation's kind and of its mm slot (its first argument).
constexpr std::string_view kOpSiteName = "vm_world.op";
constexpr std::string_view kSlotSiteName = "vm_world.mm";

bool is_world_op(const Choice& c) { return c.kind == ChoiceKind::Op && c.site.view() == kOpSiteName; }
bool is_slot_arg(const Choice& c) { return c.kind == ChoiceKind::Arg && c.site.view() == kSlotSiteName; }

// The kind a drawn value names under `mix`, as vm_world.cpp's op_from_draw reads it.
size_t kind_of(const OpMix& mix, uint64_t value) {
  size_t kind = 0;
  for (uint64_t left = value; kind < kVmOpCount; ++kind) {
    if (left < mix[kind]) break;
    left -= mix[kind];
  }
  return kind;
}

// The first value that names `kind` under `mix`.
uint64_t first_value(const OpMix& mix, size_t kind) {
  uint64_t value = 0;
  for (size_t j = 0; j < kind && j < kVmOpCount; ++j) value += mix[j];
  return value;
}

size_t kinds_used(const OpMix& mix) {
  return static_cast<size_t>(std::count_if(mix.begin(), mix.end(), [](uint32_t w) { return w > 0; }));
}

// One operation of a repro: its choices [begin, end) (from its Op draw to the next
// one's; with several workers the others' draws in between too), its kind and slot.
struct WorldOp {
  size_t begin, end, kind;
  uint64_t slot;
};

// The operations of `choices` under `mix`; none when the mix draws no Op (one kind of
// weight 1): nothing then marks where an operation starts.
std::vector<WorldOp> world_ops(const std::vector<Choice>& choices, const OpMix& mix) {
  std::vector<WorldOp> ops;
  for (size_t i = 0; i < choices.size(); ++i) {
    if (!is_world_op(choices[i])) continue;
    if (!ops.empty()) ops.back().end = i;
    // The slot is drawn right after the kind, with no scheduling point between.
    const uint64_t slot = i + 1 < choices.size() && is_slot_arg(choices[i + 1]) ? choices[i + 1].value : 0;
    ops.push_back(WorldOp{i, choices.size(), kind_of(mix, choices[i].value), slot});
  }
  return ops;
}

// So many operations that trying each fault class with a failed allocation in the
// repro is not yet worth its replays.
constexpr size_t kManyOps = 128;

// The weight a kind left alone in the mix gets: 1 draws no Op at all (one choice fewer
// per operation), which leaves nothing to mark where an operation starts, so only once
// the shrinker deletes no more operations; 2 keeps the draw (every value names the kind).
uint32_t lone_weight(const ConfigShrinker& shrinker) { return shrinker.settled() ? 1 : 2; }

// The repro's choices rewritten for the op mix `next` and `slots` mm slots: the
// operations `drop` names deleted with every draw they made, each other Op value
// remapped so the operation keeps its kind (one whose kind `next` leaves out becomes
// the first kind left), slot numbers above `dropped_slot` (when set) one lower. With
// one kind of weight 1 no Op is drawn, with one slot no slot: those draws go.
std::vector<Choice> rewrite_ops(const std::vector<Choice>& choices, const OpMix& mix, const OpMix& next, uint64_t slots,
                                const std::function<bool(const WorldOp&)>& drop,
                                std::optional<uint64_t> dropped_slot = std::nullopt) {
  const std::vector<WorldOp> ops = world_ops(choices, mix);
  uint64_t next_total = 0;
  for (uint32_t w : next) next_total += w;
  std::vector<Choice> out(choices.begin(),
                          choices.begin() + static_cast<ptrdiff_t>(ops.empty() ? choices.size() : ops[0].begin));
  for (const WorldOp& op : ops) {
    if (drop(op)) continue;
    for (size_t i = op.begin; i < op.end; ++i) {
      Choice c = choices[i];
      if (i == op.begin) {
        if (next_total <= 1) continue;
        c.value = next[op.kind] > 0 ? first_value(next, op.kind) : 0;
        c.bound = next_total;
      } else if (i == op.begin + 1 && is_slot_arg(c)) {
        if (slots <= 1) continue;
        if (dropped_slot && c.value > *dropped_slot) --c.value;
        c.bound = slots;
      }
      out.push_back(c);
    }
  }
  return out;
}

// The ops of one mm slot deleted and the slot with them (world.mm_slots one lower, the
// slots above renumbered), for each slot but the last operation's (the failing one's,
// with one worker): operations on another address space rarely matter to a failure.
bool drop_slots(ConfigShrinker& shrinker) {
  bool progress = false;
  for (uint64_t s = shrinker.config().world.mm_slots; s-- > 0 && shrinker.budget_left();) {
    const uint64_t slots = shrinker.config().world.mm_slots;
    const OpMix mix = world_options(shrinker.config()).op_mix;
    const std::vector<WorldOp> ops = world_ops(shrinker.choices(), mix);
    if (slots < 2 || ops.empty() || s >= slots || ops.back().slot == s) continue;
    const auto on_slot = [&](const WorldOp& op) { return op.slot == s; };
    const size_t count = static_cast<size_t>(std::count_if(ops.begin(), ops.end(), on_slot));
    Config config = shrinker.config();
    shrinker.set_knob(config, "world", "mm_slots", static_cast<int64_t>(slots - 1));
    progress |= shrinker.attempt(
        config, rewrite_ops(shrinker.choices(), mix, mix, slots - 1, on_slot, s),
        fmt::format("world.mm_slots {} -> {} (slot {} and its {} ops deleted)", slots, slots - 1, s, count));
  }
  return progress;
}

// Tries the op mix `next`: the operations of kinds `next` leaves out deleted when
// `delete_dropped`, else made the first kind left.
bool remix(ConfigShrinker& shrinker, const OpMix& next, bool delete_dropped, const std::string& change) {
  const OpMix mix = world_options(shrinker.config()).op_mix;
  Config config = shrinker.config();
  for (size_t k = 0; k < kVmOpCount; ++k)
    shrinker.set_knob(config, "workload", fmt::format("mix_{}", kVmOpNames[k]), static_cast<int64_t>(next[k]));
  const auto dropped = [&](const WorldOp& op) { return delete_dropped && next[op.kind] == 0; };
  return shrinker.attempt(config, rewrite_ops(shrinker.choices(), mix, next, shrinker.config().world.mm_slots, dropped),
                          change);
}

// The world's op mix made simpler: each kind dropped with its operations, else — once
// no operation can be deleted — with its operations made another kind (a failure that
// needs a number of operations, not their kind); the last operation's kind is kept with
// one worker: the failure happened in it. Then every used weight 1, a kind left alone
// lone_weight.
bool reduce_op_mix(ConfigShrinker& shrinker) {
  bool progress = false;
  for (size_t k = 0; k < kVmOpCount && shrinker.budget_left(); ++k) {
    const OpMix mix = world_options(shrinker.config()).op_mix;
    if (mix[k] == 0 || kinds_used(mix) < 2) continue;
    const std::vector<WorldOp> ops = world_ops(shrinker.choices(), mix);
    if (shrinker.config().workload.workers == 1 && !ops.empty() && ops.back().kind == k) continue;
    const size_t count =
        static_cast<size_t>(std::count_if(ops.begin(), ops.end(), [&](const WorldOp& op) { return op.kind == k; }));
    OpMix next = mix;
    next[k] = 0;
    if (kinds_used(next) == 1)
      for (uint32_t& w : next) w = w ? lone_weight(shrinker) : 0;
    const std::string change = fmt::format("workload.mix_{} {} -> 0", kVmOpNames[k], mix[k]);
    if (remix(shrinker, next, true, count ? fmt::format("{} (its {} ops deleted)", change, count) : change))
      progress = true;
    else if (count && shrinker.settled())  // a failure that needs operations, not their kind
      progress |= remix(shrinker, next, false, fmt::format("{} (its {} ops made the first kind left)", change, count));
  }
  const OpMix mix = world_options(shrinker.config()).op_mix;
  OpMix simple{};
  for (size_t k = 0; k < kVmOpCount; ++k) simple[k] = mix[k] ? (kinds_used(mix) == 1 ? lone_weight(shrinker) : 1) : 0;
  if (simple != mix && shrinker.budget_left()) {
    const size_t lone = kinds_used(mix) == 1 ? kind_of(mix, 0) : kVmOpCount;
    progress |=
        remix(shrinker, simple, false,
              lone < kVmOpCount ? fmt::format("workload.mix_{} {} -> {}", kVmOpNames[lone], mix[lone], simple[lone])
                                : std::string("op mix: every used weight 1"));
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
        "{} swapped out, {} swapped in, {} file pages dropped, {} written back, {} switches, {} steps; failed "
        "allocations: {}",
        r.enomem, r.faults, r.forks, r.exits, r.alloc_failures, r.oom_kills, r.max_vmas, r.pages_reclaimed, r.swap_outs,
        r.swap_ins, r.file_dropped, r.file_writebacks, r.switches, r.steps, r.failures_by_class);
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
    progress |= drop_slots(shrinker);
    const uint64_t slots = shrinker.config().world.mm_slots;
    progress |= shrinker.lower_u64("world", "mm_slots", slots, {1, slots / 2, slots - 1});
    progress |= reduce_op_mix(shrinker);
    progress |= drop_unused_preemption(shrinker);
    progress |= drop_fault_classes(shrinker);
    return progress;
  }

  // Each failure probability (GFP_NOWAIT's, each sleeping class's) to 0. A class left
  // on draws an AllocFail choice at every request of its sites (one per mmap for
  // vm_area_struct) whether or not it fails: when no allocation of the repro failed
  // every class goes; once the operations are few, each is tried even then — the
  // failure needs only the class of its failed allocation, and the others' draws are a
  // good share of a short repro.
  static bool drop_fault_classes(ConfigShrinker& shrinker) {
    const bool failed = shrinker.has_nonzero(ChoiceKind::AllocFail);
    if (failed && world_ops(shrinker.choices(), world_options(shrinker.config()).op_mix).size() > kManyOps)
      return false;
    using Faults = decltype(Config::faults);
    static constexpr std::pair<const char*, double Faults::*> kClasses[] = {
        {"nowait_fail_probability", &Faults::nowait_fail_probability},
        {"vma_fail_probability", &Faults::vma_fail_probability},
        {"anon_vma_fail_probability", &Faults::anon_vma_fail_probability},
        {"maple_node_fail_probability", &Faults::maple_node_fail_probability},
        {"page_fail_probability", &Faults::page_fail_probability},
    };
    bool progress = false;
    for (const auto& [name, member] : kClasses)
      if (shrinker.config().faults.*member > 0 && shrinker.budget_left())
        progress |= shrinker.set_value("faults", name, 0.0, failed ? "-> 0" : "-> 0 (no injected failures)");
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
  o.files = config.world.files;
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
