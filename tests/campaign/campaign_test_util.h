// Helpers shared by the campaign tests.
#pragma once

#include <gtest/gtest.h>

#include "mmtorture/campaign/config.h"
#include "mmtorture/campaign/repro.h"
#include "mmtorture/campaign/seed_run.h"

namespace mmt::campaign::testing {

// A world whose fork after op 150 fails on purpose (the planted self-test failure),
// with four workers that interleave and kswapd: what replay's recorders are shown on.
inline Config planted_world() {
  Config config;
  config.run.ops_per_seed = 600;
  config.checks.selftest_plant_fork_after_op = 150;
  config.schedule.strategy = "random";
  config.schedule.preempt_probability = 0.3;  // the workers interleave
  config.workload.workers = 4;
  config.world.kswapd = true;
  return config;
}

// Runs one seed that must fail and returns its repro, as a campaign writes it.
inline Repro record_failure(const Config& config, uint64_t seed) {
  SeededChoices choices(seed);
  const SeedResult result = run_seed(config, choices);
  EXPECT_TRUE(result.failure.has_value());
  const Failure failure = result.failure.value_or(Failure{});
  return make_repro(config, seed, choices.recorded(), failure, result.trace_hash,
                    result.failure ? failure.op_index : result.ops);
}

}  // namespace mmt::campaign::testing
