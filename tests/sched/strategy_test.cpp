// Strategies: preempt (uniform picks, preemption probability), uniform (textbook random), PCT (its guarantee on a
// planted depth-2 bug), replay (record a failing run, replay it: same signature, same
// trace hash), determinism over 1,000 seeds, and rejection of bad parameters.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <memory>
#include <set>
#include <stdexcept>

#include "mmtorture/sched/clock.h"
#include "mmtorture/sched/mutex.h"
#include "mmtorture/sched/rcu.h"
#include "mmtorture/sched/rwsem.h"
#include "mmtorture/sched/spinlock.h"
#include "mmtorture/sched/wait_queue.h"
#include "mmtorture/sched/yield_point.h"
#include "sched_test_util.h"

namespace mmt::sched {
namespace {

using testing::preempt_options;
using testing::run_world;

constexpr Site kStep{"test.step"};

TEST(Strategy, BadParametersAreRejectedWithAClearMessage) {
  SeededChoices choices(1);
  auto message_of = [&](const StrategyConfig& config) -> std::string {
    try {
      Scheduler scheduler(choices, SchedulerOptions{.strategy = config});
    } catch (const std::invalid_argument& error) {
      return error.what();
    }
    return "accepted";
  };
  EXPECT_EQ(message_of(StrategyConfig::preempt(1.5)), "strategy preempt: preempt probability 1.5 is outside [0, 1]");
  EXPECT_EQ(message_of(StrategyConfig::preempt(-0.1)), "strategy preempt: preempt probability -0.1 is outside [0, 1]");
  EXPECT_NE(message_of(StrategyConfig::preempt(std::nan(""))), "accepted");
  EXPECT_EQ(message_of(StrategyConfig::pct(0, 100)), "strategy pct: depth must be at least 1 (got 0)");
  EXPECT_EQ(message_of(StrategyConfig::pct(2, 0)), "strategy pct: estimated steps k must be at least 1 (got 0)");
  StrategyConfig replay_of_replay = StrategyConfig::replay_of(StrategyConfig::preempt(0.1));
  replay_of_replay.replayed = StrategyKind::Replay;
  EXPECT_NE(message_of(replay_of_replay), "accepted");
  EXPECT_EQ(message_of(StrategyConfig::preempt(0.0)), "accepted");
  EXPECT_EQ(message_of(StrategyConfig::preempt(1.0)), "accepted");
  EXPECT_EQ(StrategyConfig::replay_of(StrategyConfig::pct(3, 50)).describe(), "replay(pct(d=3, k=50))");
  EXPECT_EQ(message_of(StrategyConfig::pct(4, 2)),
            "strategy pct: estimated steps k (2) leave no room for d-1 = 3 distinct change points");
  EXPECT_EQ(message_of(StrategyConfig::pct(4, 3)), "accepted");
  EXPECT_EQ(StrategyConfig::uniform().describe(), "uniform");
  EXPECT_EQ(StrategyConfig::preempt(0.25).describe(), "preempt(p=0.25)");
  EXPECT_EQ(strategy_from_name("pct"), StrategyKind::Pct);
  EXPECT_EQ(strategy_from_name("uniform"), StrategyKind::Uniform);
  EXPECT_EQ(strategy_from_name("preempt"), StrategyKind::Preempt);
  EXPECT_EQ(strategy_from_name("random"), StrategyKind::Preempt);  // the old name still reads
  EXPECT_FALSE(strategy_from_name("dfs").has_value());
}

// Which of four threads runs first, over many seeds: uniform under preempt.
TEST(Strategy, PreemptPicksUniformly) {
  std::array<int, 4> first{};
  for (uint64_t seed = 0; seed < 4000; ++seed) {
    SeededChoices choices(seed);
    int winner = -1;
    run_world(choices, preempt_options(0.0), [&](Scheduler& scheduler) {
      for (int t = 0; t < 4; ++t)
        scheduler.spawn("t", [&winner, t] {
          if (winner < 0) winner = t;
        });
    });
    ++first[static_cast<size_t>(winner)];
  }
  for (int count : first) {
    EXPECT_GT(count, 850);
    EXPECT_LT(count, 1150);
  }
}

TEST(Strategy, PreemptWithoutPreemptionRunsEachThreadToItsNextBlock) {
  SeededChoices choices(5);
  std::string trace;
  const RunResult result = run_world(choices, preempt_options(0.0), [&](Scheduler& scheduler) {
    for (char name : {'a', 'b', 'c'})
      scheduler.spawn(std::string(1, name), [&trace, name] {
        for (int i = 0; i < 4; ++i) {
          trace += name;
          yield_point(kStep);
        }
      });
  });
  ASSERT_TRUE(result.ok());
  // Never preempted: each thread's four steps are contiguous.
  for (char name : {'a', 'b', 'c'}) EXPECT_NE(trace.find(std::string(4, name)), std::string::npos) << trace;
  // Only the picks after each exit were choices: no Preempt draws at all.
  for (const Choice& choice : choices.recorded()) EXPECT_EQ(choice.kind, ChoiceKind::Pick);
}

TEST(Strategy, PreemptPreemptsAtTheConfiguredRateAndLabelsEveryDecision) {
  SeededChoices choices(6);
  const RunResult result = run_world(choices, preempt_options(0.25), [&](Scheduler& scheduler) {
    for (int t = 0; t < 2; ++t)
      scheduler.spawn("t", [] {
        for (int i = 0; i < 2000; ++i) yield_point(kStep);
      });
  });
  ASSERT_TRUE(result.ok());
  size_t flips = 0, preemptions = 0;
  for (const Choice& choice : choices.recorded()) {
    if (choice.kind != ChoiceKind::Preempt) continue;
    EXPECT_EQ(choice.site, kStep);
    ++flips;
    preemptions += choice.value;
  }
  EXPECT_GT(flips, 2000u);
  EXPECT_NEAR(static_cast<double>(preemptions) / static_cast<double>(flips), 0.25, 0.03);
}

// Uniform: every yield point with two runnable threads is a Pick over both (0 keeps the
// running thread), and nothing else is drawn; all zeros is the schedule without switches.
TEST(Strategy, UniformPicksAmongAllRunnableThreadsAtEveryYieldPoint) {
  auto world = [](std::string* trace) {
    return [trace](Scheduler& scheduler) {
      for (char name : {'a', 'b'})
        scheduler.spawn(std::string(1, name), [trace, name] {
          for (int i = 0; i < 200; ++i) {
            *trace += name;
            yield_point(kStep);
          }
        });
    };
  };
  const SchedulerOptions options{.strategy = StrategyConfig::uniform()};
  SeededChoices choices(11);
  std::string trace;
  const RunResult result = run_world(choices, options, world(&trace));
  ASSERT_TRUE(result.ok());
  size_t at_yield = 0, switched = 0;
  for (const Choice& choice : choices.recorded()) {
    EXPECT_EQ(choice.kind, ChoiceKind::Pick);
    if (choice.site != kStep) continue;
    EXPECT_EQ(choice.bound, 2u);
    ++at_yield;
    switched += choice.value;
  }
  EXPECT_GT(at_yield, 200u);
  EXPECT_NEAR(static_cast<double>(switched) / static_cast<double>(at_yield), 0.5, 0.07);
  EXPECT_EQ(result.steps, 400u + 2u);  // every yield point, the first pick and the pick after an exit
  ReplayChoices zeros({});
  std::string simple;
  ASSERT_TRUE(run_world(zeros, SchedulerOptions{.strategy = StrategyConfig::replay_of(StrategyConfig::uniform())},
                        world(&simple))
                  .ok());
  EXPECT_EQ(simple, std::string(200, 'a') + std::string(200, 'b'));
}

// PCT's change points: d-1 distinct steps, drawn with shrinking bounds k, k-1, ...
TEST(Pct, ChangePointsAreDistinctStepsDrawnWithoutReplacement) {
  auto world = [](Scheduler& scheduler) {
    for (int t = 0; t < 2; ++t)
      scheduler.spawn("t", [] {
        for (int i = 0; i < 3; ++i) yield_point(kStep);
      });
  };
  for (uint64_t seed = 0; seed < 200; ++seed) {
    SeededChoices choices(seed);
    ASSERT_TRUE(run_world(choices, SchedulerOptions{.strategy = StrategyConfig::pct(5, 4)}, world).ok());
    std::vector<uint64_t> bounds;
    for (const Choice& choice : choices.recorded())
      if (choice.site == Site{"pct.change_point"}) bounds.push_back(choice.bound);
    // k = 4, d-1 = 4 change points: the last one has a single step left (no draw).
    EXPECT_EQ(bounds, (std::vector<uint64_t>{4, 3, 2}));
  }
}

// A workload touching every primitive; fails (lost update) under some schedules.
void busy_world(Scheduler& scheduler, int* counter) {
  static Mutex* mutex = nullptr;
  static RwSem* sem = nullptr;
  static SpinLock* spin = nullptr;
  static WaitQueue* queue = nullptr;
  static Mutex m("world.mutex");
  static RwSem s("world.rwsem");
  static SpinLock sp("world.spin");
  static WaitQueue q("world.queue");
  mutex = &m, sem = &s, spin = &sp, queue = &q;
  static RcuHead head;
  for (int t = 0; t < 3; ++t) {
    scheduler.spawn("worker", [counter, t] {
      for (int i = 0; i < 4; ++i) {
        switch ((t + i) % 4) {
          case 0: {
            MutexGuard guard(*mutex);
            msleep(static_cast<uint64_t>(t + 1));
            break;
          }
          case 1:
            sem->down_read();
            yield_point(kStep);
            sem->up_read();
            break;
          case 2: {
            SpinGuard guard(*spin);
            rcu_read_lock();
            yield_point(kStep);
            rcu_read_unlock();
            break;
          }
          default:
            queue->wait_event_timeout([] { return false; }, 2);
        }
        const int read = *counter;  // unprotected on purpose: a lost update is "the bug"
        yield_point(Site{"world.race"});
        *counter = read + 1;
      }
    });
  }
  scheduler.spawn("rcu_user", [] {
    call_rcu(&head, [](RcuHead*) {});
    synchronize_rcu();
    queue->wake_up();
  });
}

RunResult run_busy(ChoiceSource& choices, const SchedulerOptions& options) {
  int counter = 0;
  RunResult result = run_world(choices, options, [&](Scheduler& scheduler) { busy_world(scheduler, &counter); });
  if (result.ok() && counter != 12) result.failure = Failure{"test.lost_update", "world.race", "lost update", "", 0, 0};
  return result;
}

TEST(Determinism, ThousandSeedsTwiceGiveIdenticalTraceHashes) {
  std::set<uint64_t> distinct;
  for (uint64_t seed = 0; seed < 1000; ++seed) {
    for (const SchedulerOptions& options :
         {preempt_options(0.3), SchedulerOptions{.strategy = StrategyConfig::pct(3, 60)}}) {
      SeededChoices first_choices(seed), second_choices(seed);
      const RunResult first = run_busy(first_choices, options);
      const RunResult second = run_busy(second_choices, options);
      ASSERT_EQ(first.trace_hash, second.trace_hash) << "seed " << seed << " " << options.strategy.describe();
      ASSERT_EQ(first.switches, second.switches);
      ASSERT_EQ(first.virtual_ms, second.virtual_ms);
      ASSERT_EQ(first.failure.has_value(), second.failure.has_value());
      if (first.failure) {
        ASSERT_EQ(first.failure->signature(), second.failure->signature());
      }
      distinct.insert(first.trace_hash);
    }
  }
  EXPECT_GT(distinct.size(), 500u);  // the seeds really explore different schedules
}

TEST(Replay, AFailingRunReplaysWithTheSameSignatureAndHash) {
  for (const StrategyConfig& strategy : {StrategyConfig::preempt(0.3), StrategyConfig::pct(3, 60)}) {
    const SchedulerOptions options{.strategy = strategy};
    for (uint64_t seed = 0;; ++seed) {
      ASSERT_LT(seed, 500u) << "no failing seed for " << strategy.describe();
      SeededChoices recorded(seed);
      const RunResult original = run_busy(recorded, options);
      if (original.ok()) continue;

      ReplayChoices replay(recorded.recorded());
      const RunResult replayed = run_busy(replay, SchedulerOptions{.strategy = StrategyConfig::replay_of(strategy)});
      ASSERT_FALSE(replayed.ok());
      EXPECT_EQ(replayed.failure->signature(), original.failure->signature());
      EXPECT_EQ(replayed.trace_hash, original.trace_hash);
      EXPECT_EQ(replayed.switches, original.switches);
      EXPECT_FALSE(replayed.replay_divergence.has_value());
      EXPECT_TRUE(replay.exhausted());
      break;
    }
  }
}

TEST(Replay, AnEmptyRecordingRunsTheSimplestSchedule) {
  ReplayChoices nothing({});
  SeededChoices zero_source(0);
  const RunResult result = run_busy(nothing, SchedulerOptions{.strategy = StrategyConfig::replay_of(StrategyConfig::preempt(0.3))});
  // Every decision is 0: no preemption, first runnable thread: a clean run.
  EXPECT_TRUE(result.ok()) << result.failure->headline();
  EXPECT_FALSE(result.replay_divergence.has_value());
}

// The planted depth-2 bug: "initialised" must be set before anyone sees "published"; it
// shows only if the checker runs after publish and before initialise (two orderings).
// Publishing and initialising are a few steps apart, as in real code; with a one-step
// window PCT's hit rate equals its bound exactly, and a finite sample straddles it.
void publish_world(Scheduler& scheduler) {
  auto published = std::make_shared<bool>(false);
  auto initialised = std::make_shared<bool>(false);
  scheduler.spawn("publisher", [published, initialised] {
    for (int i = 0; i < 5; ++i) yield_point(kStep);
    *published = true;
    for (int i = 0; i < 3; ++i) yield_point(Site{"publish.window"});
    *initialised = true;
    for (int i = 0; i < 5; ++i) yield_point(kStep);
  });
  scheduler.spawn("reader", [published, initialised] {
    for (int i = 0; i < 5; ++i) yield_point(kStep);
    if (*published && !*initialised) raise_failure("test.uninitialised", "reader", "saw a published, uninitialised object");
    for (int i = 0; i < 5; ++i) yield_point(kStep);
  });
}

TEST(Pct, FindsAPlantedDepthTwoBugAtLeastAsOftenAsGuaranteed) {
  // Estimate k with a first run, as Shuttle does.
  SeededChoices estimate_choices(0);
  const RunResult estimate =
      run_world(estimate_choices, SchedulerOptions{.strategy = StrategyConfig::pct(2, 100)}, publish_world);
  const uint64_t k = estimate.steps;
  ASSERT_GT(k, 5u);

  const SchedulerOptions options{.strategy = StrategyConfig::pct(2, k)};
  const int runs = 1000;
  int found = 0;
  double guarantee = 0;
  for (uint64_t seed = 0; seed < runs; ++seed) {
    SeededChoices choices(seed);
    const RunResult result = run_world(choices, options, publish_world);
    guarantee = result.pct_guarantee;
    if (!result.ok()) {
      ASSERT_EQ(result.failure->check, "test.uninitialised");
      ++found;
    }
  }
  EXPECT_DOUBLE_EQ(guarantee, pct_guarantee(2, k, 2));
  EXPECT_DOUBLE_EQ(guarantee, 1.0 / (2.0 * static_cast<double>(k)));
  const double rate = static_cast<double>(found) / runs;
  std::printf("PCT d=2 n=2 k=%llu: found the bug in %d/%d seeds (%.3f); guarantee 1/(n*k^(d-1)) = %.4f\n",
              static_cast<unsigned long long>(k), found, runs, rate, guarantee);
  EXPECT_GE(rate, guarantee) << "found " << found << "/" << runs << ", guarantee " << guarantee << " (k=" << k << ")";
  // And random scheduling with a low preemption rate finds it less often than PCT does.
  int random_found = 0;
  for (uint64_t seed = 0; seed < runs; ++seed) {
    SeededChoices choices(seed);
    random_found += !run_world(choices, preempt_options(0.02), publish_world).ok();
  }
  EXPECT_GT(found, random_found);
}

TEST(Pct, DepthOneNeverPreemptsAndRunsByPriority) {
  SeededChoices choices(3);
  std::string trace;
  const RunResult result = run_world(choices, SchedulerOptions{.strategy = StrategyConfig::pct(1, 10)}, [&](Scheduler& scheduler) {
    for (char name : {'a', 'b', 'c'})
      scheduler.spawn(std::string(1, name), [&trace, name] {
        for (int i = 0; i < 3; ++i) {
          trace += name;
          yield_point(kStep);
        }
      });
  });
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.switches, 3u);  // one run per thread, highest priority first
  EXPECT_DOUBLE_EQ(result.pct_guarantee, 1.0 / 3.0);
  for (const Choice& choice : choices.recorded()) EXPECT_EQ(choice.kind, ChoiceKind::Priority);
}

}  // namespace
}  // namespace mmt::sched
