// One seed of a campaign: the swarm draws (which op kinds and fault sites this seed
// switches off, recorded as Swarm choices at the start), then the configured job.
// A pure function of (config, choices): the campaign, replay and shrink all call it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mmtorture/campaign/bounded.h"
#include "mmtorture/campaign/config.h"
#include "mmtorture/campaign/coverage.h"
#include "mmtorture/campaign/seed_metrics.h"
#include "mmtorture/core/choice.h"
#include "mmtorture/core/failure.h"

namespace mmt::sched {
class EventLog;
}  // namespace mmt::sched

namespace mmt::campaign {

struct SeedResult {
  uint64_t ops = 0;
  uint64_t virtual_ms = 0;
  uint64_t trace_hash = 0;
  std::string stats;      // one human-readable line of job statistics
  SeedMetrics metrics;    // the cma and nommu jobs' numbers for the report's charts
  std::string swarm;      // what the swarm draws switched off or set ("" when nothing)
  double pct_guarantee = 0;  // world job under PCT: 1/(n·k^(d-1)) for this seed's n
  std::optional<Failure> failure;
  // With SeedHooks::capture_trees_dot and a failure in the world or maple job: the
  // maple trees at the failure as one Graphviz digraph (a cluster per tree).
  std::string trees_dot;
  // schedule.strategy = "bounded": the seed's slice of the exploration (explore_seed).
  std::optional<BoundedSlice> bounded;
  // The world and maple (model) jobs: sites reached and failed, each operation's
  // outcomes (coverage.h). Empty for the other jobs.
  Coverage coverage;
};

struct SeedHooks {
  // One line per operation (replay --trace); world job only.
  std::function<void(std::string_view)> trace_ops;
  // Each green thread's last events (replay --last); the world and cma jobs (the
  // maple and page_model jobs run no green threads). Must outlive run_seed.
  sched::EventLog* event_log = nullptr;
  // Draw the maple trees at the failure into SeedResult::trees_dot (replay
  // --dump-tree); the world job (every live mm) and the maple job (its tree).
  bool capture_trees_dot = false;
  // replay --dump-tree-whole: draw every node of a large tree (by default a tree of
  // more than maple::kDotCollapseAboveNodes nodes is drawn as the path to the node
  // the failure names).
  bool whole_trees = false;
};

// schedule.swarm: the Swarm choice at kSwarmPreemptSite picks the seed's preempt
// probability: 0 (the simple choice) keeps `configured`, v ≥ 1 the v-th of
// kSwarmPreemptProbabilities.
inline constexpr double kSwarmPreemptProbabilities[] = {0.01, 0.05, 0.2, 0.5};
inline constexpr Site kSwarmPreemptSite{"swarm.preempt_probability"};
double swarm_preempt_probability(uint64_t drawn, double configured);

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
