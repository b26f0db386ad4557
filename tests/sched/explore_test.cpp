// Iterative context bounding (explore.h) on programs small enough to count by hand.
//
// Threads that only pass yield points (never block) make a schedule an interleaving of
// their segments (the code between two yield points, and before the first and after
// the last). For two threads of m and n segments, a schedule is a word of m A's and n
// B's, and its preemptions are its runs minus 2: every change of thread is a preemption
// except the one after the first thread to finish has exited. Words with r runs:
//   r = 2k:   2 · C(m-1, k-1) · C(n-1, k-1)
//   r = 2k+1: C(m-1, k) · C(n-1, k-1) + C(m-1, k-1) · C(n-1, k)
// For m = n = 3 (two yield points each): 2 words with 0 preemptions, 4 with 1, 8 with 2,
// 4 with 3, 2 with 4 — 20 = C(6, 3) in all — so the explorer must run 2, 6, 14, 18 and
// 20 schedules at bounds 0..4 and find no schedule left out at 4.
#include "mmtorture/sched/explore.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "mmtorture/sched/access.h"
#include "mmtorture/sched/yield_point.h"
#include "sched_test_util.h"

namespace mmt::sched {
namespace {

using testing::run_world;

constexpr Site kStep{"explore.step"};
constexpr Site kData{"explore.data"};

SchedulerOptions uniform_options() {
  SchedulerOptions options;
  options.strategy = StrategyConfig::uniform();
  return options;
}

// `threads` threads, each passing `yields` yield points; each segment appends the
// thread's letter to the run's log, and `check` (if set) runs at the end of every
// thread with the log so far.
ExploredProgram segments_program(int threads, int yields,
                                 std::function<void(const std::string&)> check = nullptr) {
  return [=](ChoiceSource& choices) {
    auto log = std::make_shared<std::string>();
    return run_world(choices, uniform_options(), [&](Scheduler& scheduler) {
      for (int t = 0; t < threads; ++t)
        scheduler.spawn(std::string(1, static_cast<char>('A' + t)), [log, t, yields, check] {
          for (int i = 0; i < yields; ++i) {
            *log += static_cast<char>('A' + t);
            yield_point(kStep);
          }
          *log += static_cast<char>('A' + t);
          if (check) check(*log);
        });
    });
  };
}

int runs(const std::string& word) {
  int count = word.empty() ? 0 : 1;
  for (size_t i = 1; i < word.size(); ++i) count += word[i] != word[i - 1];
  return count;
}

TEST(Explore, TwoThreadsCountEveryInterleavingWithAtMostCPreemptions) {
  const uint64_t expected[] = {2, 6, 14, 18, 20};  // the runs formula above, summed
  for (uint32_t bound = 0; bound <= 4; ++bound) {
    ExploreOptions options;
    options.preemption_bound = bound;
    const ExploreResult result = explore_bounded(segments_program(2, 2), options);
    EXPECT_TRUE(result.exhausted) << "bound " << bound;
    EXPECT_FALSE(result.failure);
    EXPECT_EQ(result.bound, bound);
    EXPECT_EQ(result.schedules_at_bound, expected[bound]) << "bound " << bound;
    EXPECT_EQ(result.complete, bound == 4) << "bound " << bound;
  }
}

TEST(Explore, EveryScheduleIsADistinctInterleavingAndAllAreReached) {
  // Three threads of two segments: 6!/(2!·2!·2!) = 90 words; at most 3 preemptions (one
  // per yield point), and 3! = 6 with none (each thread runs to its end in turn).
  auto words = std::make_shared<std::set<std::string>>();
  auto total = std::make_shared<int>(0);
  auto record = [words, total](const std::string& log) {
    if (log.size() == 6) {
      words->insert(log);
      ++*total;
    }
  };
  ExploreOptions options;
  options.preemption_bound = 0;
  EXPECT_EQ(explore_bounded(segments_program(3, 1, record), options).schedules_at_bound, 6u);
  words->clear();
  *total = 0;
  options.preemption_bound = 3;
  const ExploreResult result = explore_bounded(segments_program(3, 1, record), options);
  EXPECT_TRUE(result.complete);
  EXPECT_EQ(result.bound, 3u);
  EXPECT_EQ(result.schedules_at_bound, 90u);
  // Levels 0..3 each re-run the levels below: words seen at the last level are all 90.
  EXPECT_EQ(words->size(), 90u);
}

// Fails when the interleaving so far has 4 runs or more: 2 preemptions at least.
void fail_from_two_preemptions(const std::string& log) {
  if (runs(log) >= 4) raise_failure("explore.planted", "explore_test", "interleaved twice: " + log);
}

TEST(Explore, APlantedBugNeedingTwoPreemptionsIsFoundAtBoundTwoAndNotAtOne) {
  ExploreOptions options;
  options.preemption_bound = 1;
  const ExploreResult clean = explore_bounded(segments_program(2, 2, fail_from_two_preemptions), options);
  EXPECT_TRUE(clean.exhausted);
  EXPECT_FALSE(clean.failure);
  EXPECT_EQ(clean.schedules_at_bound, 6u);

  options.preemption_bound = 5;
  const ExploreResult found = explore_bounded(segments_program(2, 2, fail_from_two_preemptions), options);
  ASSERT_TRUE(found.failure);
  EXPECT_FALSE(found.exhausted);
  EXPECT_EQ(found.bound, 2u);
  EXPECT_EQ(found.failing_preemptions, 2u);
  EXPECT_EQ(found.failure->check, "explore.planted");
  // Levels 0 and 1 ran to their end (2 + 6), then bound 2 until the first failure.
  EXPECT_GT(found.schedules, 8u);
  EXPECT_LE(found.schedules, 8u + 14u);
}

// Two unlocked increments, read and write split by a yield point: a lost update.
ExploredProgram lost_update() {
  return [](ChoiceSource& choices) {
    auto x = std::make_shared<int>(0);
    auto done = std::make_shared<int>(0);
    return run_world(choices, uniform_options(), [&](Scheduler& scheduler) {
      for (int t = 0; t < 2; ++t)
        scheduler.spawn("inc", [x, done] {
          const int read = *x;
          yield_point(kStep);
          *x = read + 1;
          if (++*done == 2 && *x != 2) raise_failure("explore.lost_update", "inc", "x is 1 after two increments");
        });
    });
  };
}

TEST(Explore, ALostUpdateIsFoundWithOnePreemptionAndTheScheduleReplays) {
  ExploreOptions options;
  options.preemption_bound = 0;
  const ExploreResult none = explore_bounded(lost_update(), options);
  EXPECT_TRUE(none.exhausted);
  EXPECT_EQ(none.schedules_at_bound, 2u);  // A then B, B then A

  options.preemption_bound = 3;
  const ExploreResult found = explore_bounded(lost_update(), options);
  ASSERT_TRUE(found.failure);
  EXPECT_EQ(found.bound, 1u);
  EXPECT_EQ(found.failing_preemptions, 1u);

  // The failing schedule is an ordinary recording: it replays under the uniform
  // strategy's decisions with the same failure and the same trace.
  ReplayChoices replay(found.failing_choices);
  SchedulerOptions replay_options;
  replay_options.strategy = StrategyConfig::replay_of(StrategyConfig::uniform());
  Scheduler scheduler(replay, replay_options);
  auto x = std::make_shared<int>(0);
  auto done = std::make_shared<int>(0);
  for (int t = 0; t < 2; ++t)
    scheduler.spawn("inc", [x, done] {
      const int read = *x;
      yield_point(kStep);
      *x = read + 1;
      if (++*done == 2 && *x != 2) raise_failure("explore.lost_update", "inc", "x is 1 after two increments");
    });
  const RunResult replayed = scheduler.run();
  ASSERT_TRUE(replayed.failure);
  EXPECT_EQ(replayed.failure->signature(), found.failure->signature());
  EXPECT_EQ(replayed.trace_hash, found.failing_trace_hash);
  EXPECT_FALSE(replayed.replay_divergence);
  EXPECT_TRUE(replay.exhausted());
}

TEST(Explore, DataDrawsComeFromEachThreadsOwnStream) {
  // Each thread's data draw is the same in every schedule, whatever ran before it.
  auto seen = std::make_shared<std::set<std::pair<int, uint64_t>>>();
  ExploredProgram program = [seen](ChoiceSource& choices) {
    return run_world(choices, uniform_options(), [&](Scheduler& scheduler) {
      for (int t = 0; t < 3; ++t)
        scheduler.spawn("t", [seen, t, &choices] {
          yield_point(kStep);
          seen->insert({t, choices.draw(ChoiceKind::Op, kData, 1'000'000)});
        });
    });
  };
  ExploreOptions options;
  options.preemption_bound = 3;
  const ExploreResult result = explore_bounded(program, options);
  EXPECT_TRUE(result.complete);
  EXPECT_EQ(result.schedules_at_bound, 90u);
  EXPECT_EQ(seen->size(), 3u);
}

TEST(Explore, TheScheduleLimitLeavesTheBoundNotExhausted) {
  ExploreOptions options;
  options.preemption_bound = 4;
  options.max_schedules = 10;
  const ExploreResult result = explore_bounded(segments_program(2, 2), options);
  EXPECT_EQ(result.schedules, 10u);
  EXPECT_FALSE(result.exhausted);
  EXPECT_FALSE(result.failure);
  EXPECT_EQ(result.bound, 2u);  // 2 + 6 schedules at bounds 0 and 1, then 2 of bound 2
}

TEST(Explore, AProgramThatIsNotAFunctionOfItsChoicesIsRefused) {
  auto runs_so_far = std::make_shared<int>(0);
  ExploredProgram program = [runs_so_far](ChoiceSource& choices) {
    const int threads = 2 + (++*runs_so_far % 2);  // another world every other run
    return run_world(choices, uniform_options(), [&](Scheduler& scheduler) {
      for (int t = 0; t < threads; ++t) scheduler.spawn("t", [] { yield_point(kStep); });
    });
  };
  ExploreOptions options;
  options.preemption_bound = 1;
  EXPECT_THROW(explore_bounded(program, options), std::logic_error);
}


// ---- Sleep sets ----

// Threads of one segment each (no yield point: every decision is free, so no bound
// ever cuts), each touching only its own object (named before the run, so it has the
// same number in every run: explore.h). By hand, with sleep sets: run 1 is
// A B C, with B and C one step (C runs alone after B: no decision); run 2 A C B; A's
// subtree done, run 3 B then, at the next decision, A asleep (independent of B), so C
// and A; run 4 C, where A and B are both asleep: redundant. 4 runs (1 redundant)
// instead of 3! = 6.
TEST(Explore, SleepSetsSkipOrdersOfIndependentSteps) {
  ExploredProgram program = [](ChoiceSource& choices) {
    auto own = std::make_shared<std::array<int, 3>>();
    return run_world(choices, uniform_options(), [&](Scheduler& scheduler) {
      for (int t = 0; t < 3; ++t) {
        note_access(&(*own)[t]);
        scheduler.spawn("t", [own, t] { note_access(&(*own)[t]); });
      }
    });
  };
  ExploreOptions options;
  options.preemption_bound = 0;
  const ExploreResult plain = explore_bounded(program, options);
  EXPECT_TRUE(plain.complete);
  EXPECT_EQ(plain.schedules_at_bound, 6u);
  EXPECT_EQ(plain.redundant_at_bound, 0u);
  options.sleep_sets = true;
  const ExploreResult reduced = explore_bounded(program, options);
  EXPECT_TRUE(reduced.complete);
  EXPECT_EQ(reduced.schedules_at_bound, 4u);
  EXPECT_EQ(reduced.redundant_at_bound, 1u);
}

TEST(Explore, SleepSetsKeepEveryOrderOfDependentSteps) {
  // Every segment touches the one log: all 20 interleavings are distinct traces.
  ExploredProgram program = [](ChoiceSource& choices) {
    auto log = std::make_shared<std::string>();
    return run_world(choices, uniform_options(), [&](Scheduler& scheduler) {
      for (int t = 0; t < 2; ++t)
        scheduler.spawn("t", [log, t] {
          for (int i = 0; i < 3; ++i) {
            note_access(log.get());
            *log += static_cast<char>('A' + t);
            if (i < 2) yield_point(kStep);
          }
        });
    });
  };
  ExploreOptions options;
  options.preemption_bound = 4;
  options.sleep_sets = true;
  const ExploreResult result = explore_bounded(program, options);
  EXPECT_TRUE(result.complete);
  EXPECT_EQ(result.schedules_at_bound, 20u);
  EXPECT_EQ(result.redundant_at_bound, 0u);
}

// Three threads of two segments; segment s of thread t touches object objects[t][s]
// (0: none of the shared ones, 1: X, 2: Y). A run's trace — its Mazurkiewicz class — is
// the order in which threads touched each shared object.
ExploredProgram footprint_program(const std::array<std::array<int, 2>, 3>& objects,
                                  std::shared_ptr<std::set<std::string>> traces) {
  return [objects, traces](ChoiceSource& choices) {
    auto order = std::make_shared<std::array<std::string, 3>>();
    auto own = std::make_shared<std::array<int, 3>>();
    const RunResult run = run_world(choices, uniform_options(), [&](Scheduler& scheduler) {
      // Named before the run: one number per object in every run (precise footprints).
      note_access(&(*order)[1]);
      note_access(&(*order)[2]);
      for (int t = 0; t < 3; ++t) note_access(&(*own)[t]);
      for (int t = 0; t < 3; ++t)
        scheduler.spawn("t", [order, own, objects, t] {
          for (int s = 0; s < 2; ++s) {
            const int object = objects[t][s];
            note_access(object ? static_cast<const void*>(&(*order)[object]) : &(*own)[t]);
            (*order)[object] += static_cast<char>('A' + t);
            if (s == 0) yield_point(kStep);
          }
        });
    });
    traces->insert((*order)[1] + "|" + (*order)[2]);
    return run;
  };
}

TEST(Explore, SleepSetsReachEveryTraceTheBoundedSearchReaches) {
  // Every assignment of footprints (3^6), every bound: the traces reached with sleep
  // sets are exactly those of the unreduced search with the same bound — a schedule the
  // reduction skips always has an equivalent within the bound that it runs.
  uint64_t plain_runs = 0, reduced_runs = 0;
  for (int code = 0; code < 729; ++code) {
    std::array<std::array<int, 2>, 3> objects{};
    for (int i = 0, c = code; i < 6; ++i, c /= 3) objects[i / 2][i % 2] = c % 3;
    for (uint32_t bound = 0; bound <= 3; ++bound) {
      auto plain_traces = std::make_shared<std::set<std::string>>();
      auto reduced_traces = std::make_shared<std::set<std::string>>();
      ExploreOptions options;
      options.preemption_bound = bound;
      const ExploreResult plain = explore_bounded(footprint_program(objects, plain_traces), options);
      options.sleep_sets = true;
      const ExploreResult reduced = explore_bounded(footprint_program(objects, reduced_traces), options);
      ASSERT_EQ(*reduced_traces, *plain_traces) << "footprints " << code << ", bound " << bound;
      ASSERT_LE(reduced.schedules_at_bound, plain.schedules_at_bound);
      plain_runs += plain.schedules_at_bound;
      reduced_runs += reduced.schedules_at_bound;
    }
  }
  EXPECT_LT(reduced_runs, plain_runs);  // and it does reduce
  std::printf("footprint assignments, bounds 0..3: %llu runs plain, %llu with sleep sets\n",
              static_cast<unsigned long long>(plain_runs), static_cast<unsigned long long>(reduced_runs));
}

// Slices split the schedules: without the reduction every schedule runs in exactly
// one slice (the interleavings of three threads of two segments are words, each
// reached once); with it, the slices together still reach every trace one search does.
TEST(Explore, SlicesPartitionTheSchedulesAndTogetherReachEveryOne) {
  for (uint64_t slices : {1u, 2u, 3u, 7u, 40u}) {
    std::multiset<std::string> words;
    uint64_t schedules = 0, probes = 0;
    for (uint64_t slice = 0; slice < slices; ++slice) {
      auto last = std::make_shared<std::string>();
      auto record = [last](const std::string& log) {
        if (log.size() == 6) *last = log;
      };
      ExploreOptions options;
      options.preemption_bound = 3;
      options.slice = slice;
      options.slices = slices;
      // The slice's own schedules at its last bound (each bound re-runs those below; a
      // slice with nothing left out for its bound stops there).
      std::map<uint32_t, std::vector<std::string>> by_bound;
      options.on_schedule = [&by_bound, last](uint32_t bound, const RunResult&) { by_bound[bound].push_back(*last); };
      const ExploreResult result = explore_bounded(segments_program(3, 1, record), options);
      EXPECT_TRUE(result.exhausted) << slice << " of " << slices;
      words.insert(by_bound[result.bound].begin(), by_bound[result.bound].end());
      schedules += result.schedules_at_bound;
      probes += result.probes;
    }
    EXPECT_EQ(schedules, 90u) << slices << " slices";
    EXPECT_EQ(words.size(), 90u) << slices << " slices";
    EXPECT_EQ(std::set<std::string>(words.begin(), words.end()).size(), 90u) << slices << " slices";
    // Other slices' schedules with fewer than two non-zero decisions, run to lay out the
    // rest; one search runs none.
    EXPECT_EQ(probes == 0, slices == 1) << slices << " slices";
  }
  for (int code : {0, 100, 364, 500, 728}) {
    std::array<std::array<int, 2>, 3> objects{};
    for (int i = 0, c = code; i < 6; ++i, c /= 3) objects[i / 2][i % 2] = c % 3;
    auto whole = std::make_shared<std::set<std::string>>();
    ExploreOptions options;
    options.preemption_bound = 2;
    options.sleep_sets = true;
    explore_bounded(footprint_program(objects, whole), options);
    auto sliced = std::make_shared<std::set<std::string>>();
    options.slices = 3;
    for (options.slice = 0; options.slice < 3; ++options.slice)
      explore_bounded(footprint_program(objects, sliced), options);
    EXPECT_EQ(*sliced, *whole) << "footprints " << code;
  }
}

TEST(Explore, ASliceThatDoesNotExistIsRefused) {
  ExploreOptions options;
  options.slice = 2;
  options.slices = 2;
  EXPECT_THROW(explore_bounded(segments_program(2, 1), options), std::invalid_argument);
}

// With the program's state unnamed, every step depends on every other: nothing pruned.
TEST(Explore, UnnamedStateMakesEveryStepDependent) {
  ExploredProgram program = [](ChoiceSource& choices) {
    return run_world(choices, uniform_options(), [&](Scheduler& scheduler) {
      for (int t = 0; t < 3; ++t) scheduler.spawn("t", [] {});
    });
  };
  ExploreOptions options;
  options.preemption_bound = 0;
  options.sleep_sets = true;
  EXPECT_EQ(explore_bounded(program, options).schedules_at_bound, 4u);  // as SleepSetsSkipOrders...
  options.unnamed_state = true;
  const ExploreResult result = explore_bounded(program, options);
  EXPECT_EQ(result.schedules_at_bound, 6u);
  EXPECT_EQ(result.redundant_at_bound, 0u);
}

TEST(Explore, SleepSetsStillFindTheLostUpdateAtItsBound) {
  ExploredProgram program = [](ChoiceSource& choices) {
    auto x = std::make_shared<int>(0);
    auto done = std::make_shared<int>(0);
    return run_world(choices, uniform_options(), [&](Scheduler& scheduler) {
      for (int t = 0; t < 2; ++t)
        scheduler.spawn("inc", [x, done] {
          note_access(x.get());
          const int read = *x;
          yield_point(kStep);
          note_access(x.get());
          *x = read + 1;
          if (++*done == 2 && *x != 2) raise_failure("explore.lost_update", "inc", "x is 1 after two increments");
        });
    });
  };
  ExploreOptions options;
  options.preemption_bound = 3;
  options.sleep_sets = true;
  const ExploreResult found = explore_bounded(program, options);
  ASSERT_TRUE(found.failure);
  EXPECT_EQ(found.bound, 1u);
  EXPECT_EQ(found.failing_preemptions, 1u);
}

}  // namespace
}  // namespace mmt::sched
