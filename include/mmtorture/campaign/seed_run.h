// One seed of a campaign: the config's job (jobs/job.h) under the config's canary
// defects. A pure function of (config, choices): the campaign, replay and shrink all
// call it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mmtorture/campaign/bounded.h"
#include "mmtorture/campaign/config.h"
#include "mmtorture/core/choice.h"
#include "mmtorture/jobs/job.h"

namespace mmt::campaign {

// What a replay asks of a run (jobs/job.h).
using jobs::SeedHooks;

// One seed's run: its job's result (jobs/job.h), and with schedule.strategy = "bounded"
// the seed's slice of the exploration (explore_seed).
struct SeedResult : jobs::JobResult {
  std::optional<BoundedSlice> bounded;
};

// Runs one seed's job with every decision drawn from `choices`. Never throws for a
// failed check (the failure is in the result). With checks.selftest_crash set, a
// planted failure aborts the process (the crash-capture self-test).
SeedResult run_seed(const Config& config, ChoiceSource& choices, const SeedHooks& hooks = {});

// schedule.strategy = "bounded": explores slice seed-1 of the world's schedules
// (bounded.h), each schedule one run_seed. The result sums the schedules' ops and
// virtual time; with a failure it is the first failing schedule's, whose every draw
// goes to `failing_choices` (a repro's choices: it replays under run_seed). Throws
// std::logic_error when a schedule is not a function of its choices.
SeedResult explore_seed(const Config& config, uint64_t seed, std::vector<Choice>* failing_choices);

}  // namespace mmt::campaign
