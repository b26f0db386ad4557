// One seed of a campaign: the swarm draws (which op kinds and fault sites this seed
// switches off, recorded as Swarm choices at the start), then the configured job.
// A pure function of (config, choices): the campaign, replay and shrink all call it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "mmtorture/campaign/config.h"
#include "mmtorture/core/choice.h"
#include "mmtorture/core/failure.h"

namespace mmt::campaign {

struct SeedResult {
  uint64_t ops = 0;
  uint64_t virtual_ms = 0;
  uint64_t trace_hash = 0;
  std::string stats;      // one human-readable line of job statistics
  std::string swarm;      // what the swarm draws switched off ("" when nothing)
  std::optional<Failure> failure;
};

struct SeedHooks {
  // One line per operation (replay --trace); world job only.
  std::function<void(std::string_view)> trace_ops;
};

// Runs one seed's job with every decision drawn from `choices`. Never throws for a
// failed check (the failure is in the result). With checks.selftest_crash set, a
// planted failure aborts the process (the crash-capture self-test).
SeedResult run_seed(const Config& config, ChoiceSource& choices, const SeedHooks& hooks = {});

}  // namespace mmt::campaign
