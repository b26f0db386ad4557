// Systematic exploration of schedules by iterative context bounding (issue 18 item 1;
// Musuvathi & Qadeer, PLDI 2007, as CHESS does it).
//
// A program is a function that builds a fresh world, runs it on a Scheduler under the
// uniform strategy (strategy.h) with the ChoiceSource it is handed, and returns the
// RunResult. The explorer runs it once per schedule, statelessly: every scheduling
// decision — a Pick draw made while a scheduler runs — replays a prefix of values and
// takes the default value 0 after it (keep the running thread at a yield point; the
// first runnable thread where the running one blocked or exited), and the explorer notes
// at each decision how many values it had. Depth-first, the next prefix is the deepest
// decision that still has an untried value, with that value.
//
// A preemption is a decision at a yield point that does not keep the running thread
// (uniform's values 1..n-1 there). Picks where the running thread cannot go on (it
// blocked or exited: the scheduler's loop or a block draws them) cost nothing. With
// bound c the explorer runs every schedule with at most c preemptions, for c = 0, 1, ...
// up to the bound asked for, and stops at the first failing schedule: found at bound c
// it is a schedule with c preemptions, and bound c-1 was explored to the end without a
// failure. (Each level re-runs the schedules of the levels below it: the counts are
// "schedules with ≤ c preemptions", CHESS's numbers.)
//
// Every draw that is not a scheduling decision (workload operations, their arguments,
// the fault plan) comes from a seeded stream of the thread that draws it (the host's
// when no green thread runs), so a thread's k-th data draw is the same in every
// schedule: what differs between schedules is the interleaving alone. Every draw is
// recorded as usual, so a failing schedule's choices are an ordinary repro: they replay
// under StrategyConfig::replay_of(uniform()) and shrink like any other.
//
// No partial-order reduction here: the counts are of distinct decision sequences, every
// one of which is run.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "mmtorture/core/choice.h"
#include "mmtorture/core/failure.h"
#include "mmtorture/sched/scheduler.h"

namespace mmt::sched {

struct ExploreOptions {
  // The largest number of preemptions a schedule may have (c).
  uint32_t preemption_bound = 2;
  // Seed of the per-thread streams that data draws come from.
  uint64_t data_seed = 1;
  // Stop after this many schedules in all (0: no limit); the level being explored when
  // the limit is hit is then not exhausted.
  uint64_t max_schedules = 0;
};

struct ExploreResult {
  // The last bound explored: where the failure was found, where the limit stopped the
  // search, or the bound asked for.
  uint32_t bound = 0;
  // Every schedule with ≤ `bound` preemptions was run and none failed.
  bool exhausted = false;
  // No schedule of the program has more than `bound` preemptions (no decision was left
  // out for the bound): every schedule there is was run, and higher bounds would run
  // the same ones, so the search stopped there.
  bool complete = false;
  uint64_t schedules = 0;           // schedules run in all levels
  uint64_t schedules_at_bound = 0;  // schedules run at level `bound` (≤ bound preemptions)
  // The first failing schedule: its failure, its preemptions and every draw it made
  // (a repro's choice list).
  std::optional<Failure> failure;
  uint32_t failing_preemptions = 0;
  std::vector<Choice> failing_choices;
  uint64_t failing_trace_hash = 0;
};

// One run of the program on the choices given (see the file comment).
using ExploredProgram = std::function<RunResult(ChoiceSource&)>;

// Explores the program's schedules with 0, 1, ... options.preemption_bound preemptions.
// Throws std::logic_error when the program is not a function of its choices (a re-run
// of a prefix met a decision with another number of values than before).
ExploreResult explore_bounded(const ExploredProgram& program, const ExploreOptions& options);

}  // namespace mmt::sched
