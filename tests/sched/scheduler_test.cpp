// The engine: spawn, run to completion, ids and names, yield points, exceptions that
// leave a thread, bad input, teardown of threads that never finish.
#include <gtest/gtest.h>

#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <vector>

#include "mmtorture/sched/sched.h"
#include "sched_test_util.h"

namespace mmt::sched {
namespace {

using testing::outcome;
using testing::preempt_options;
using testing::run_seed;

constexpr Site kStep{"test.step"};

TEST(Scheduler, RunsEveryThreadToCompletionWithStableIds) {
  SeededChoices choices(1);
  Scheduler scheduler(choices, preempt_options(0.5));
  std::vector<int> done;
  Thread& a = scheduler.spawn("alpha", [&] { for (int i = 0; i < 10; ++i) yield_point(kStep); done.push_back(1); });
  Thread& b = scheduler.spawn("beta", [&] { for (int i = 0; i < 10; ++i) yield_point(kStep); done.push_back(2); });
  EXPECT_EQ(a.id(), 1u);
  EXPECT_EQ(b.id(), 2u);
  EXPECT_EQ(b.name(), "beta");
  EXPECT_EQ(b.label(), "T2 'beta'");
  const RunResult result = scheduler.run();
  ASSERT_TRUE(result.ok()) << result.failure->headline();
  EXPECT_EQ(done.size(), 2u);
  EXPECT_EQ(a.state(), ThreadState::Finished);
  EXPECT_EQ(result.threads, 2u);
  EXPECT_EQ(result.yield_points, 20u);
  EXPECT_GT(result.switches, 1u);
}

TEST(Scheduler, YieldPointOutsideAGreenThreadIsANoOp) {
  yield_point(kStep);
  EXPECT_EQ(current_thread(), nullptr);
  EXPECT_EQ(current_or_host().label(), "host");
}

TEST(Scheduler, ThreadsCanSpawnAndJoinThreads) {
  std::vector<uint32_t> order;
  const RunResult result = run_seed(3, preempt_options(0.3), [&](Scheduler& scheduler) {
    scheduler.spawn("parent", [&] {
      Thread& child = scheduler.spawn("child", [&] {
        msleep(5);
        order.push_back(2);
      });
      scheduler.join(child);
      order.push_back(1);
    });
  });
  ASSERT_TRUE(result.ok()) << result.failure->headline();
  EXPECT_EQ(order, (std::vector<uint32_t>{2, 1}));
  EXPECT_EQ(result.virtual_ms, 5u);
}

TEST(Scheduler, AnExceptionInAThreadFailsTheRunWithItsNameAndSite) {
  const RunResult result = run_seed(1, preempt_options(0.0), [](Scheduler& scheduler) {
    scheduler.spawn("thrower", [] {
      yield_point(Site{"before_throw"});
      throw std::runtime_error("boom");
    });
  });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->check, "sched.thread_exception");
  EXPECT_EQ(result.failure->site, "before_throw");
  // Who threw is detail, not signature.
  EXPECT_EQ(result.failure->message.find("thrower"), std::string::npos) << result.failure->message;
  EXPECT_NE(result.failure->detail.find("T1 'thrower'"), std::string::npos) << result.failure->detail;
  EXPECT_NE(result.failure->message.find("boom"), std::string::npos);
}

TEST(Scheduler, AFailureErrorKeepsItsCheckAndNamesTheThreadInTheDump) {
  const RunResult result = run_seed(1, preempt_options(0.0), [](Scheduler& scheduler) {
    scheduler.spawn("checker", [] { raise_failure("maple.mt_validate.gaps", "mas_store", "gap 3 != 4"); });
  });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->check, "maple.mt_validate.gaps");
  EXPECT_EQ(result.failure->site, "mas_store");
  EXPECT_NE(result.failure->dump.find("T1 'checker'"), std::string::npos);
}

TEST(Scheduler, IsDoomedExactlyWhileItsThreadUnwinds) {
  // doomed() reads the C++ runtime's count of uncaught exceptions itself (scheduler.h):
  // it must agree with std::uncaught_exceptions() before a throw, while a destructor
  // runs during the unwinding, and inside a catch handler (caught: not uncaught).
  struct Seen {
    bool doomed;
    int uncaught;
  };
  std::vector<Seen> seen;
  auto look = [&seen] { seen.push_back(Seen{Scheduler::running()->doomed(), std::uncaught_exceptions()}); };
  struct Probe {
    std::function<void()> look;
    ~Probe() { look(); }
  };
  const RunResult result = run_seed(1, preempt_options(0.0), [&](Scheduler& scheduler) {
    scheduler.spawn("unwinder", [&] {
      look();
      try {
        Probe probe{look};
        throw std::runtime_error("caught");
      } catch (const std::runtime_error&) {
        look();
      }
      Probe probe{look};
      throw std::runtime_error("boom");
    });
  });
  ASSERT_FALSE(result.ok());
  ASSERT_EQ(seen.size(), 4u);
  const bool doomed[] = {false, true, false, true};
  const int uncaught[] = {0, 1, 0, 1};
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].doomed, doomed[i]) << i;
    EXPECT_EQ(seen[i].uncaught, uncaught[i]) << i;
  }
}

TEST(Scheduler, RejectsARunWithoutThreads) {
  SeededChoices choices(1);
  Scheduler scheduler(choices);
  EXPECT_THROW(scheduler.run(), std::invalid_argument);
}

TEST(Scheduler, UnfinishedThreadsAreUnwoundWithTheirDestructors) {
  int destroyed = 0;
  struct Counter {
    int* count;
    ~Counter() { ++*count; }
  };
  {
    SeededChoices choices(1);
    Scheduler scheduler(choices, preempt_options(0.0));
    Completion never;
    scheduler.spawn("waiter", [&] {
      Counter counter{&destroyed};
      never.wait_for_completion();
    }, SpawnOptions{.daemon = true});
    scheduler.spawn("worker", [] { msleep(1); });  // the waiter gets to park first
    const RunResult result = scheduler.run();
    EXPECT_TRUE(result.ok()) << result.failure->headline();
    EXPECT_EQ(destroyed, 1);
  }
  {
    // Spawned, never run: torn down by the destructor without running the body.
    SeededChoices choices(1);
    Scheduler scheduler(choices);
    scheduler.spawn("never", [&] { ++destroyed; });
  }
  EXPECT_EQ(destroyed, 1);
}

TEST(Scheduler, ARunEndsWhenOnlyDaemonsRemain) {
  const RunResult result = run_seed(2, preempt_options(0.2), [](Scheduler& scheduler) {
    scheduler.spawn("kswapd", [] { for (;;) msleep(100); }, SpawnOptions{.daemon = true});
    scheduler.spawn("worker", [] { msleep(250); });
  });
  ASSERT_TRUE(result.ok()) << result.failure->headline();
  EXPECT_EQ(result.virtual_ms, 250u);
}

// A small world whose frames own nothing (state in `Shared`, failures raised from
// literals): a lost update checked by the last thread, and an ABBA pair that deadlocks
// with the lock-order check off. Run with ordinary or discard_stack threads.
RunResult run_frameless_world(uint64_t seed, bool discard_stack) {
  struct Shared {
    int counter = 0;
    int finished = 0;
    Mutex a{"test.a"};
    Mutex b{"test.b"};
  };
  SchedulerOptions options;
  options.strategy = StrategyConfig::uniform();
  options.lockdep_order = false;
  SeededChoices choices(seed);
  Scheduler scheduler(choices, options);
  Shared shared;
  SpawnOptions spawn;
  spawn.discard_stack = discard_stack;
  constexpr int kThreads = 4;
  for (int t = 0; t < kThreads; ++t) {
    scheduler.spawn(
        "t",
        [t, &shared] {
          Mutex& first = t == 1 ? shared.b : shared.a;
          Mutex& second = t == 1 ? shared.a : shared.b;
          const int value = shared.counter;
          yield_point(kStep);
          shared.counter = value + 1;
          first.lock();
          yield_point(kStep);
          second.lock();
          second.unlock();
          first.unlock();
          if (++shared.finished == kThreads && shared.counter != kThreads)
            raise_failure("test.lost_update", "test", "an update was lost");
        },
        spawn);
  }
  RunResult result = scheduler.run();
  // Nothing is left queued on a lock: a dropped thread's waiter was dequeued.
  EXPECT_EQ(shared.a.waiters(), 0u) << "seed " << seed;
  EXPECT_EQ(shared.b.waiters(), 0u) << "seed " << seed;
  return result;
}

TEST(Scheduler, DiscardStackThreadsFailAndDeadlockExactlyAsOrdinaryOnes) {
  StackPool& pool = StackPool::shared(StackPool::default_stack_size());
  int failed = 0, deadlocked = 0;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    const RunResult ordinary = run_frameless_world(seed, false);
    const RunResult discarded = run_frameless_world(seed, true);
    ASSERT_EQ(ordinary.ok(), discarded.ok()) << "seed " << seed;
    EXPECT_EQ(ordinary.trace_hash, discarded.trace_hash) << "seed " << seed;
    EXPECT_EQ(ordinary.steps, discarded.steps) << "seed " << seed;
    EXPECT_EQ(ordinary.switches, discarded.switches) << "seed " << seed;
    if (ordinary.ok()) continue;
    EXPECT_EQ(ordinary.failure->headline(), discarded.failure->headline()) << "seed " << seed;
    EXPECT_EQ(ordinary.failure->dump, discarded.failure->dump) << "seed " << seed;
    failed += ordinary.failure->check == "test.lost_update";
    deadlocked += ordinary.failure->check == "sched.deadlock";
    // Every stack went back to the pool: dropped stacks are not lost.
    ASSERT_EQ(pool.live_stacks(), 0u) << "seed " << seed;
  }
  // Both ways of failing were exercised (raised on a thread, and threads left parked).
  EXPECT_GT(failed, 10);
  EXPECT_GT(deadlocked, 10);
}

TEST(Scheduler, ADroppedThreadsBodyIsStillDestroyed) {
  auto captured = std::make_shared<int>(0);
  Completion never;
  const RunResult result = run_seed(1, preempt_options(0.0), [&](Scheduler& scheduler) {
    SpawnOptions spawn;
    spawn.discard_stack = true;
    scheduler.spawn(
        "parked", [captured, &never] { never.wait_for_completion(); }, spawn);
    scheduler.spawn(
        "failing",
        [captured] {
          yield_point(kStep);
          raise_failure("test.check", "test", "failed");
        },
        spawn);
  });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->check, "test.check");
  EXPECT_EQ(captured.use_count(), 1) << "a body's captures outlived its dropped thread";
}

TEST(Scheduler, ADiscardStackThreadFailingInsideACatchHandlerStillUnwinds) {
  // In a handler the caught exception is alive: the failure is thrown as usual, so the
  // handler ends and the exception is freed (LSan would see it leak otherwise).
  const RunResult result = run_seed(1, preempt_options(0.0), [](Scheduler& scheduler) {
    SpawnOptions spawn;
    spawn.discard_stack = true;
    scheduler.spawn(
        "handler",
        [] {
          try {
            throw std::runtime_error("first");
          } catch (const std::runtime_error&) {
            raise_failure("test.in_handler", "test", "raised in a catch handler");
          }
        },
        spawn);
  });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->check, "test.in_handler");
}

}  // namespace
}  // namespace mmt::sched
