// The maple job: the maple tree stress (maple_stress.cpp; the kernel and differential
// backends in maple_kernel_stress.cpp) with the config's options.
#include "mmtorture/jobs/maple.h"

#include <fmt/format.h>

#include "knob_as.h"
#include "mmtorture/jobs/job.h"
#include "mmtorture/jobs/world.h"

namespace mmt::jobs {

namespace {

class MapleJob final : public Job {
 public:
  const char* name() const override { return "maple"; }
  const char* doc() const override {
    return "one maple tree under a writer (and lock-free readers), diffed against a model after every op";
  }
  const char* knob_section() const override { return ""; }

  JobResult run(const Config& config, ChoiceSource& choices, const SeedHooks& hooks) const override {
    JobResult out;
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
      out.stats +=
          fmt::format(", {} lock-free reads checked by {} readers, {} switches", r.reads, options.readers, r.switches);
    return out;
  }

  // The writer: the readers' count is a knob, not something the shrinker lowers.
  uint64_t threads(const Config&) const override { return 1; }

  bool shrink_config(ConfigShrinker& shrinker) const override {
    bool progress = shrink_ops_per_seed(shrinker, 1);
    progress |= drop_unused_nowait_failures(shrinker);
    return progress;
  }

  // Only the model backend counts coverage.
  bool coverage_registry(const Config& config, CoverageRegistry* registry) const override {
    if (config.workload.maple_backend != "model") return false;
    *registry = maple_coverage_registry(maple_options(config));
    return true;
  }

  // The kernel's own tree may take the process down with it.
  bool shrinks_in_workers(const Config& config) const override { return config.workload.maple_backend != "model"; }
};

}  // namespace

MapleStressOptions maple_options(const Config& config) {
  MapleStressOptions o;
  o.ops = config.run.ops_per_seed;
  o.nowait_fail_probability = config.faults.nowait_fail_probability;
  o.alloc_range_tree = config.workload.maple_alloc_range;
  o.rcu = config.workload.maple_rcu;
  o.prefill = config.workload.maple_prefill;
  o.full_check_every = config.checks.maple_full_check_every;
  o.verify_incremental = config.checks.maple_verify_incremental;
  o.backend = config.workload.maple_backend == "kernel"         ? MapleBackend::Kernel
              : config.workload.maple_backend == "differential" ? MapleBackend::Differential
                                                                : MapleBackend::Model;
  o.compare_shape = config.workload.maple_compare_shape;
  o.readers = knob_as<uint32_t>(config.workload.maple_readers, "workload.maple_readers");
  o.rcu_access_points = config.workload.maple_rcu_access_points;
  o.mix_paused_store = knob_as<uint32_t>(config.workload.maple_mix_paused_store, "workload.maple_mix_paused_store");
  o.mix_spanning_store =
      knob_as<uint32_t>(config.workload.maple_mix_spanning_store, "workload.maple_mix_spanning_store");
  o.mix_dup = knob_as<uint32_t>(config.workload.maple_mix_dup, "workload.maple_mix_dup");
  const VmWorldOptions world = world_options(config);  // the [schedule] section, read once
  o.strategy = world.strategy == sched::StrategyKind::Pct ? sched::StrategyConfig::pct(world.pct_depth, world.pct_steps)
               : world.strategy == sched::StrategyKind::Uniform
                   ? sched::StrategyConfig::uniform()
                   : sched::StrategyConfig::preempt(world.preempt_probability);
  o.hang_ms = world.hang_ms;
  return o;
}

const Job& maple_job() {
  static const MapleJob job;
  return job;
}

}  // namespace mmt::jobs
