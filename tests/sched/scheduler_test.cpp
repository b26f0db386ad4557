// The engine: spawn, run to completion, ids and names, yield points, exceptions that
// leave a thread, bad input, teardown of threads that never finish.
#include <gtest/gtest.h>

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
  EXPECT_EQ(result.failure->check, "thread.exception");
  EXPECT_EQ(result.failure->site, "before_throw");
  // Who threw is detail, not signature (issue 13 item 4).
  EXPECT_EQ(result.failure->message.find("thrower"), std::string::npos) << result.failure->message;
  EXPECT_NE(result.failure->detail.find("T1 'thrower'"), std::string::npos) << result.failure->detail;
  EXPECT_NE(result.failure->message.find("boom"), std::string::npos);
}

TEST(Scheduler, AFailureErrorKeepsItsCheckAndNamesTheThreadInTheDump) {
  const RunResult result = run_seed(1, preempt_options(0.0), [](Scheduler& scheduler) {
    scheduler.spawn("checker", [] { raise_failure("mt_validate.gaps", "mas_store", "gap 3 != 4"); });
  });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->check, "mt_validate.gaps");
  EXPECT_EQ(result.failure->site, "mas_store");
  EXPECT_NE(result.failure->dump.find("T1 'checker'"), std::string::npos);
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

}  // namespace
}  // namespace mmt::sched
