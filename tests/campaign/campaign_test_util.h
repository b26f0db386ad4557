// Helpers shared by the campaign tests.
#pragma once

#include <gtest/gtest.h>

#include "mmtorture/campaign/config.h"
#include "mmtorture/campaign/repro.h"
#include "mmtorture/campaign/seed_run.h"

namespace mmt::campaign::testing {

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
