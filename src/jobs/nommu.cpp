// The nommu job: seed 001's nommu board booting (nommu/boot.cpp), where running out of
// memory fails the seed unless nommu.oom_fails is off.
#include "mmtorture/jobs/nommu.h"

#include <fmt/format.h>

#include <algorithm>

#include "mmtorture/jobs/job.h"
#include "mmtorture/mem/page.h"

namespace mmt::jobs {

namespace {

class NommuJob final : public Job {
 public:
  const char* name() const override { return "nommu"; }
  const char* doc() const override { return "a nommu board booting, ops_per_seed steps of its rc script (seed 001)"; }
  const char* knob_section() const override { return "nommu"; }

  JobResult run(const Config& config, ChoiceSource& choices, const SeedHooks&) const override {
    JobResult out;
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
      out.failure = Failure{"nommu.oom",
                            "out_of_memory",
                            fmt::format("{} MiB board ran out of memory at step {}: {}; {} KiB free, largest free "
                                        "block {} KiB",
                                        options.memory_mib, r.oom_step, r.oom_what, free_kib, largest_kib),
                            "",
                            r.oom_step,
                            0};
    }
    out.metrics.nommu = NommuSeedMetrics{options.memory_mib, r.oom, free_kib, largest_kib, r.free_blocks_1mib};
    out.stats = fmt::format(
        "boot: {} steps, {} processes, {}; {} KiB free, largest free block {} KiB, {} free blocks >= 1 MiB; {} node "
        "slab pages ({} in a freed tail), {} splits",
        r.steps, r.processes, r.oom ? fmt::format("out of memory at step {} ({})", r.oom_step, r.oom_what) : "booted",
        free_kib, largest_kib, r.free_blocks_1mib, r.stats.node_slab_pages, r.stats.node_slab_pages_in_tail,
        r.stats.splits);
    return out;
  }

  uint64_t threads(const Config&) const override { return 1; }

  bool shrink_config(ConfigShrinker& shrinker) const override { return shrink_ops_per_seed(shrinker, 1); }
};

}  // namespace

nommu::NommuBootOptions nommu_options(const Config& config) {
  nommu::NommuBootOptions o;
  o.memory_mib = config.nommu.memory_mib;
  o.prealloc = config.nommu.prealloc == "before" ? nommu::PreallocOrder::Before : nommu::PreallocOrder::After;
  o.exact_free_to_tail = config.nommu.exact_free_to_tail;
  o.pcp = config.nommu.pcp;
  o.boot_steps = static_cast<unsigned>(std::min<uint64_t>(config.run.ops_per_seed, 1'000'000));
  return o;
}

const Job& nommu_job() {
  static const NommuJob job;
  return job;
}

}  // namespace mmt::jobs
