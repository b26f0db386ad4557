// Helpers shared by the sched tests: run one world under a strategy and a seed.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "mmtorture/core/choice.h"
#include "mmtorture/sched/scheduler.h"

namespace mmt::sched::testing {

// Builds a scheduler over `choices`, lets `world` spawn its threads, runs it.
inline RunResult run_world(ChoiceSource& choices, const SchedulerOptions& options,
                           const std::function<void(Scheduler&)>& world) {
  Scheduler scheduler(choices, options);
  world(scheduler);
  return scheduler.run();
}

inline RunResult run_seed(uint64_t seed, const SchedulerOptions& options,
                          const std::function<void(Scheduler&)>& world) {
  SeededChoices choices(seed);
  return run_world(choices, options, world);
}

inline SchedulerOptions preempt_options(double p) {
  SchedulerOptions options;
  options.strategy = StrategyConfig::preempt(p);
  return options;
}

// The failure's check, or "ok".
inline std::string outcome(const RunResult& result) { return result.failure ? result.failure->check : "ok"; }

}  // namespace mmt::sched::testing
