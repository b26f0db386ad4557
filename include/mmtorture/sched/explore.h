// Systematic exploration of schedules by iterative context bounding (Musuvathi &
// Qadeer, PLDI 2007, as CHESS does it).
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
// Partial-order reduction (sleep sets, Godefroid 1996; ExploreOptions::sleep_sets).
// A step is what runs from one decision to the next: the picked thread's code up to its
// next scheduling point where another thread could run, and whatever runs without a
// decision after it (a thread left alone, RCU callbacks on the scheduler's stack).
// Two steps are dependent when their footprints share an object (access.h): the same
// lock, wait queue, completion, RCU, thread (signal flag, exit and join), the lock-order
// graph when a nested acquisition adds to it, the thread table at a spawn — and every
// object the program names with note_access() (a tree, a page, a variable); moving
// virtual time and running RCU callbacks depend on everything. Why this is sound at our
// yield points: threads switch only at scheduling points, so a step is atomic, and two
// steps that touch no common object commute (either order leaves every object, and so
// the world, in the same state) and neither enables or disables the other (enabling
// goes through a wait queue, lock, completion or thread object, which both would
// touch). Hence the rule: a thread whose subtree of schedules was explored stays asleep
// past steps independent of its own step, and a decision does not pick a sleeping
// thread; a run in which every pickable thread is asleep is equivalent to one already
// run (counted as redundant, run to its end since a run cannot stop midway).
//
// With a preemption bound the plain rule is unsound: the explored equivalent of a
// pruned schedule can need more preemptions than the pruned one, and the bound may have
// left it out. So a thread goes to sleep only when its whole subtree was explored with
// no value left out for the bound; the reduction then never drops a schedule within the
// bound that is not equivalent to a schedule run (tested against the unreduced search
// on every footprint assignment of a small program). Objects are numbered per run in
// the order first touched, so footprints compare across runs (explore.cpp says why this
// only ever errs towards dependence); objects a program names before the run starts
// (note_access() on the host; spawn() names each thread) keep one number in every run,
// which keeps steps that touch only those precise.
//
// The reduction is sound only for programs whose shared state outside the scheduler's
// primitives is all named with note_access(): it is off by default. A program that
// does not name its state sets ExploreOptions::unnamed_state: every step is then
// dependent on every other (sound, and it prunes nothing).
//
// Slices (ExploreOptions::slice of slices): the schedules are split into disjoint
// slices that can run apart (a campaign's seeds, over processes and machines). A
// schedule's slice is fixed by the schedule alone: by a hash of the positions and
// values of its first two non-zero decisions (of the fewer it has, for a schedule with
// fewer), mod slices. Two, not one: one subtree below an early first preemption can
// hold most of a world's schedules. Every slice runs the schedules with fewer than two
// non-zero decisions — they lay out where the others begin; another slice's are probes,
// neither counted nor reported — and below the second non-zero decision only its own
// subtrees: a value whose subtree belongs to another slice is skipped without running
// it. The sleep sets of a slice only know what that slice ran, so slices together may
// run more schedules than one search, never fewer distinct ones.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
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
  // Sleep sets over the steps' footprints (see above): only for programs that name all
  // their shared state with note_access().
  bool sleep_sets = false;
  // The program shares state it does not name: every step touches everything.
  bool unnamed_state = false;
  // Run only this slice (0-based) of `slices` (see above).
  uint64_t slice = 0;
  uint64_t slices = 1;
  // Called after each schedule of the slice (not after a probe) with the bound being
  // explored and the run's result.
  std::function<void(uint32_t bound, const RunResult& run)> on_schedule;
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
  // Of those, runs where every thread that could be picked at some decision was asleep
  // (sleep sets only): equivalent to a schedule already run.
  uint64_t redundant_at_bound = 0;
  // Runs of other slices' schedules (explore.h, slices), not counted in `schedules`.
  uint64_t probes = 0;
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
