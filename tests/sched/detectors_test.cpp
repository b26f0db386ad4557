// Checks that name what broke, each with a positive and a negative case: deadlock,
// hang, livelock, might_sleep, lock-order inversion, recursion, bad unlock, exit with a
// lock held, and the reclaim rule.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <set>

#include "mmtorture/core/gfp.h"
#include "mmtorture/sched/atomic_context.h"
#include "mmtorture/sched/clock.h"
#include "mmtorture/sched/completion.h"
#include "mmtorture/sched/lockdep.h"
#include "mmtorture/sched/mutex.h"
#include "mmtorture/sched/progress.h"
#include "mmtorture/sched/rcu.h"
#include "mmtorture/sched/rwsem.h"
#include "mmtorture/sched/spinlock.h"
#include "mmtorture/sched/yield_point.h"
#include "sched_test_util.h"

namespace mmt::sched {
namespace {

using testing::outcome;
using testing::preempt_options;
using testing::run_seed;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Two threads take two mutexes in opposite orders; `opposite` false makes the second
// thread use the same order. Each sleeps while holding its first lock, so the opposite
// order always deadlocks.
RunResult abba(bool opposite, const SchedulerOptions& options = preempt_options(0.2)) {
  Mutex a("test.abba_a");
  Mutex b("test.abba_b");
  return run_seed(1, options, [&](Scheduler& scheduler) {
    scheduler.spawn("ab", [&] {
      MutexGuard first(a);
      msleep(1);
      MutexGuard second(b);
    });
    scheduler.spawn("ba", [&] {
      Mutex& x = opposite ? b : a;
      Mutex& y = opposite ? a : b;
      MutexGuard first(x, Site{"ba.first"});
      msleep(1);
      MutexGuard second(y, Site{"ba.second"});
    });
  });
}

TEST(Deadlock, AbbaIsReportedWithEveryThreadItsWaitAndItsLocks) {
  const RunResult result = abba(true);
  ASSERT_FALSE(result.ok());
  // Lockdep sees the inversion as the second thread asks, before anyone blocks for good.
  EXPECT_EQ(result.failure->check, "lockdep.circular");
  EXPECT_TRUE(contains(result.failure->message, "test.abba_a")) << result.failure->message;
}

TEST(Deadlock, WithTheOrderCheckOffAbbaRunsIntoTheDeadlockDetector) {
  SchedulerOptions options = preempt_options(0.2);
  options.lockdep_order = false;
  const RunResult result = abba(true, options);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->check, "sched.deadlock");
  EXPECT_TRUE(contains(result.failure->message, "T1 'ab' blocked: waits for mutex 'test.abba_b'"))
      << result.failure->message;
  EXPECT_TRUE(result.problems.empty());  // counted only with keep_going
  EXPECT_EQ(outcome(abba(false, options)), "ok");
}

TEST(KeepGoing, LockdepReportsAndCarriesOnSoTheDeadlockIsCountedToo) {
  SchedulerOptions options = preempt_options(0.2);
  options.keep_going = true;
  const RunResult result = abba(true, options);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->check, "lockdep.circular");  // the first failure is the run's
  ASSERT_EQ(result.problems.size(), 2u);
  EXPECT_EQ(result.problems[0].check, "lockdep.circular");
  EXPECT_EQ(result.problems[1].check, "sched.deadlock");
}

TEST(KeepGoing, AFailedThreadEndsTheOthersRunOnAndEachSignatureCountsOnce) {
  SchedulerOptions options = preempt_options(0.3);
  options.keep_going = true;
  int finished = 0;
  const RunResult result = run_seed(3, options, [&](Scheduler& scheduler) {
    for (int t = 0; t < 3; ++t)
      scheduler.spawn("checker", [&finished, t] {
        yield_point(Site{"checker.step"});
        if (t < 2) raise_failure("test.first_kind", "checker", fmt::format("thread {} saw it", t));
        ++finished;
        raise_failure("test.second_kind", "checker", "the last one saw another");
      });
  });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(finished, 1);
  ASSERT_EQ(result.problems.size(), 2u);  // "thread 0" and "thread 1" normalise to one signature
  EXPECT_EQ(result.problems[0].signature(), result.failure->signature());
  std::set<std::string> checks{result.problems[0].check, result.problems[1].check};
  EXPECT_EQ(checks, (std::set<std::string>{"test.first_kind", "test.second_kind"}));
  // Without keep_going the first failure ends the run.
  int finished_once = 0;
  const RunResult once = run_seed(3, preempt_options(0.3), [&](Scheduler& scheduler) {
    for (int t = 0; t < 3; ++t)
      scheduler.spawn("checker", [&finished_once] {
        yield_point(Site{"checker.step"});
        ++finished_once;
        raise_failure("test.first_kind", "checker", "saw it");
      });
  });
  EXPECT_TRUE(once.problems.empty());
  EXPECT_EQ(finished_once, 1);
}

TEST(Deadlock, AllBlockedIsReportedWhenLockdepCannotSeeIt) {
  // Two completions each waited for before being completed: no locks, still stuck.
  Completion first("test.first");
  Completion second("test.second");
  const RunResult result = run_seed(1, preempt_options(0.3), [&](Scheduler& scheduler) {
    scheduler.spawn("left", [&] {
      first.wait_for_completion(Site{"left.wait"});
      second.complete();
    });
    scheduler.spawn("right", [&] {
      second.wait_for_completion(Site{"right.wait"});
      first.complete();
    });
  });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->check, "sched.deadlock");
  EXPECT_EQ(result.failure->site, "left.wait");
  EXPECT_TRUE(contains(result.failure->message, "T1 'left' blocked: waits for completion 'test.first'"))
      << result.failure->message;
  EXPECT_TRUE(contains(result.failure->message, "T2 'right' blocked: waits for completion 'test.second'"));
}

TEST(Deadlock, MutexCycleListsHoldersAndHeldLocks) {
  // Lockdep would report the inversion first; a nesting annotation hides it (wrongly
  // here), so the deadlock detector is what fires, naming owners and held locks.
  Mutex a("test.cycle");
  Mutex b("test.cycle");
  const RunResult result = run_seed(1, preempt_options(0.0), [&](Scheduler& scheduler) {
    scheduler.spawn("ab", [&] {
      a.lock();
      msleep(1);
      b.lock_nested(1);
    });
    scheduler.spawn("ba", [&] {
      b.lock();
      msleep(1);
      a.lock_nested(1);
    });
  });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->check, "sched.deadlock");
  EXPECT_TRUE(contains(result.failure->message, "waits for mutex 'test.cycle' held by T2 'ba'"))
      << result.failure->message;
  EXPECT_TRUE(contains(result.failure->message, "holds 'test.cycle' (exclusive")) << result.failure->message;
}

TEST(Deadlock, ConsistentOrderIsClean) { EXPECT_EQ(outcome(abba(false)), "ok"); }

TEST(Hang, AnOperationStuckInARetryLoopIsReported) {
  SchedulerOptions options = preempt_options(0.1);
  options.hang_ms = 5000;
  const RunResult result = run_seed(2, options, [](Scheduler& scheduler) {
    scheduler.spawn("cma_alloc", [] {
      OpScope op("cma_alloc");
      for (;;) msleep(100, Site{"cma_alloc.retry"});  // an endless -EBUSY retry
    });
  });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->check, "sched.hang");
  EXPECT_EQ(result.failure->site, "cma_alloc.retry");
  EXPECT_TRUE(contains(result.failure->message, "operation 'cma_alloc' has not finished after 5000 ms"))
      << result.failure->message;
  EXPECT_TRUE(contains(result.failure->message, "waits for msleep at cma_alloc.retry")) << result.failure->message;
  // Which thread, and the sites it passed, are detail: they are not part of the
  // signature, so the same hang in another thread or interleaving is the same bug.
  EXPECT_FALSE(contains(result.failure->message, "T1")) << result.failure->message;
  EXPECT_TRUE(contains(result.failure->dump, "in thread T1 'cma_alloc'")) << result.failure->dump;
  EXPECT_TRUE(contains(result.failure->dump, "last sites of T1 'cma_alloc': ")) << result.failure->dump;
  EXPECT_EQ(result.virtual_ms, 5000u);
}

TEST(Hang, OperationsThatFinishInTimeAreClean) {
  SchedulerOptions options = preempt_options(0.1);
  options.hang_ms = 5000;
  const RunResult result = run_seed(2, options, [](Scheduler& scheduler) {
    scheduler.spawn("worker", [] {
      for (int i = 0; i < 20; ++i) {
        OpScope op("retry_then_succeed");
        msleep(4000);  // 20 × 4 s in all: only each operation must finish in time
      }
    });
  });
  EXPECT_EQ(outcome(result), "ok") << result.failure->headline();
  EXPECT_EQ(result.virtual_ms, 80000u);
}

TEST(Livelock, ASpinLoopThatNeverLetsTimeMoveIsReported) {
  SchedulerOptions options = preempt_options(0.5);
  options.step_budget = 10000;
  bool flag = false;
  const RunResult result = run_seed(3, options, [&](Scheduler& scheduler) {
    scheduler.spawn("setter", [&] {
      msleep(10);
      flag = true;
    });
    scheduler.spawn("spinner", [&] {
      while (!flag) cond_resched(Site{"spin.wait_flag"});  // keeps itself runnable: time never moves
    });
  });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->check, "sched.livelock");
  EXPECT_FALSE(contains(result.failure->message, "spinner")) << result.failure->message;
  EXPECT_TRUE(contains(result.failure->detail, "T2 'spinner'")) << result.failure->detail;
  EXPECT_TRUE(contains(result.failure->detail, "spin.wait_flag")) << result.failure->detail;
}

TEST(Livelock, ASpinLoopThatSleepsIsClean) {
  SchedulerOptions options = preempt_options(0.5);
  options.step_budget = 10000;
  bool flag = false;
  const RunResult result = run_seed(3, options, [&](Scheduler& scheduler) {
    scheduler.spawn("setter", [&] {
      msleep(10);
      flag = true;
    });
    scheduler.spawn("poller", [&] {
      while (!flag) msleep(1);
    });
  });
  EXPECT_EQ(outcome(result), "ok") << result.failure->headline();
}

TEST(MightSleep, SleepingUnderASpinLockIsReported) {
  SpinLock lock("test.ptl");
  const RunResult result = run_seed(1, preempt_options(0.0), [&](Scheduler& scheduler) {
    scheduler.spawn("sleeper", [&] {
      lock.lock();
      msleep(1, Site{"sleep_under_spinlock"});
      lock.unlock();
    });
  });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->check, "sched.might_sleep");
  EXPECT_EQ(result.failure->site, "sleep_under_spinlock");
  EXPECT_TRUE(contains(result.failure->message, "sleeping function called from invalid context"));
  EXPECT_FALSE(contains(result.failure->message, "sleeper")) << result.failure->message;
  EXPECT_TRUE(contains(result.failure->detail, "T1 'sleeper'")) << result.failure->detail;
  EXPECT_TRUE(contains(result.failure->detail, "'test.ptl' (spin")) << result.failure->detail;
}

TEST(MightSleep, BlockingAllocationsAndMutexesInAtomicSectionsAreReported) {
  EXPECT_THROW(
      {
        AtomicSection atomic;
        might_alloc(gfp::kKernel, Site{"kmalloc"});
      },
      FailureError);
  Mutex mutex("test.in_rcu");
  const RunResult result = run_seed(1, preempt_options(0.0), [&](Scheduler& scheduler) {
    scheduler.spawn("reader", [&] {
      RcuReadGuard rcu;
      mutex.lock(Site{"mutex_in_rcu"});
    });
  });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->check, "sched.might_sleep");
  EXPECT_TRUE(contains(result.failure->message, "rcu_read_lock depth: 1"));
}

TEST(MightSleep, NonBlockingAllocationsInAtomicContextAndSleepsOutsideAreClean) {
  SpinLock lock("test.ptl_ok");
  const RunResult result = run_seed(1, preempt_options(0.3), [&](Scheduler& scheduler) {
    scheduler.spawn("careful", [&] {
      lock.lock();
      might_alloc(gfp::kNowait, Site{"kmalloc_nowait"});
      might_alloc(gfp::kAtomic, Site{"kmalloc_atomic"});
      lock.unlock();
      might_alloc(gfp::kKernel, Site{"kmalloc"});
      msleep(1);
    });
  });
  EXPECT_EQ(outcome(result), "ok") << result.failure->headline();
}

TEST(Lockdep, InversionIsReportedTheFirstTimeBothOrdersAreSeenEvenWithoutDeadlock) {
  Mutex a("test.order_a");
  Mutex b("test.order_b");
  Completion first_done("test.first_done");
  const RunResult result = run_seed(1, preempt_options(0.5), [&](Scheduler& scheduler) {
    scheduler.spawn("a_then_b", [&] {
      MutexGuard ga(a, Site{"take_a"});
      MutexGuard gb(b, Site{"take_b"});
      first_done.complete();
    });
    scheduler.spawn("b_then_a", [&] {
      first_done.wait_for_completion();  // strictly after: this run cannot deadlock
      MutexGuard gb(b, Site{"take_b_first"});
      MutexGuard ga(a, Site{"take_a_second"});
    });
  });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->check, "lockdep.circular");
  EXPECT_EQ(result.failure->site, "take_a_second");
  EXPECT_TRUE(contains(result.failure->message, "possible circular locking dependency detected"));
  EXPECT_TRUE(contains(result.failure->message, "acquiring 'test.order_a' while holding 'test.order_b'"))
      << result.failure->message;
  // Who and where the locks were taken: detail, never the signature.
  EXPECT_FALSE(contains(result.failure->message, "T2")) << result.failure->message;
  EXPECT_TRUE(contains(result.failure->detail, "T2 'b_then_a'")) << result.failure->detail;
  EXPECT_TRUE(contains(result.failure->detail, "T1 'a_then_b' at take_b")) << result.failure->detail;
}

TEST(Lockdep, LongerCyclesAreFoundThroughTheGraph) {
  Mutex a("test.cycle3_a");
  Mutex b("test.cycle3_b");
  RwSem c("test.cycle3_c");
  const RunResult result = run_seed(1, preempt_options(0.0), [&](Scheduler& scheduler) {
    scheduler.spawn("chain", [&] {
      { MutexGuard ga(a); MutexGuard gb(b); }
      { MutexGuard gb(b); c.down_read(); c.up_read(); }
      c.down_write();
      a.lock();  // c -> a closes a -> b -> c
      a.unlock();
      c.up_write();
    });
  });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->check, "lockdep.circular");
  EXPECT_TRUE(contains(result.failure->message, "'test.cycle3_a' -> 'test.cycle3_b' -> 'test.cycle3_c'"))
      << result.failure->message;
}

TEST(Lockdep, RecursionBadUnlockAndExitWithLockHeldAreNamed) {
  Mutex mutex("test.recursive");
  const RunResult recursive = run_seed(1, preempt_options(0.0), [&](Scheduler& scheduler) {
    scheduler.spawn("twice", [&] {
      mutex.lock();
      mutex.lock(Site{"second_lock"});
    });
  });
  ASSERT_FALSE(recursive.ok());
  EXPECT_EQ(recursive.failure->check, "lockdep.recursive");
  EXPECT_EQ(recursive.failure->site, "second_lock");

  Mutex owned("test.owned");
  const RunResult bad_unlock = run_seed(1, preempt_options(0.0), [&](Scheduler& scheduler) {
    scheduler.spawn("owner", [&] {
      owned.lock();
      msleep(5);
    });
    scheduler.spawn("thief", [&] {
      msleep(1);
      owned.unlock(Site{"thief_unlock"});
    });
  });
  ASSERT_FALSE(bad_unlock.ok());
  EXPECT_EQ(bad_unlock.failure->check, "lockdep.bad_unlock");
  EXPECT_TRUE(contains(bad_unlock.failure->message, "mutex 'test.owned' unlocked by a thread that does not own it"))
      << bad_unlock.failure->message;
  EXPECT_TRUE(contains(bad_unlock.failure->detail, "owner: T1 'owner'; T2 'thief'")) << bad_unlock.failure->detail;

  Mutex kept("test.kept");
  const RunResult held = run_seed(1, preempt_options(0.0), [&](Scheduler& scheduler) {
    scheduler.spawn("leaker", [&] { kept.lock(Site{"leaked_lock"}); });
  });
  ASSERT_FALSE(held.ok());
  EXPECT_EQ(held.failure->check, "lockdep.held_at_exit");
  EXPECT_TRUE(contains(held.failure->message, "a thread exited with locks held: 'test.kept'")) << held.failure->message;
  EXPECT_FALSE(contains(held.failure->message, "leaked_lock")) << held.failure->message;
  EXPECT_TRUE(contains(held.failure->detail, "'test.kept' (exclusive, at leaked_lock)")) << held.failure->detail;
}

TEST(Lockdep, NestingAnnotationsAndConsistentOrdersAreClean) {
  Mutex old_mm("test.mmap_lock_mutex");
  Mutex new_mm("test.mmap_lock_mutex");
  Mutex inner("test.inner");
  const RunResult result = run_seed(1, preempt_options(0.5), [&](Scheduler& scheduler) {
    for (int t = 0; t < 2; ++t)
      scheduler.spawn("fork", [&] {
        MutexGuard outer(old_mm);
        new_mm.lock_nested(1);  // dup_mmap: SINGLE_DEPTH_NESTING
        MutexGuard in(inner);
        new_mm.unlock();
      });
  });
  EXPECT_EQ(outcome(result), "ok") << result.failure->headline();
}

TEST(Reclaim, HoldingALockReclaimTakesAcrossABlockingAllocationIsReported) {
  RwSem anon_vma("test.anon_vma", LockFlags::TakenByReclaim);
  EXPECT_TRUE(anon_vma.lock_class().taken_by_reclaim());
  const RunResult result = run_seed(1, preempt_options(0.0), [&](Scheduler& scheduler) {
    scheduler.spawn("split", [&] {
      anon_vma.down_write();
      might_alloc(gfp::kKernel, Site{"mas_store_gfp"});
      anon_vma.up_write();
    });
  });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->check, "lockdep.reclaim");
  EXPECT_EQ(result.failure->site, "mas_store_gfp");
  EXPECT_TRUE(contains(result.failure->message, "'test.anon_vma'"));
}

TEST(Reclaim, NowaitUnderTheLockAndKernelAllocationsOutsideItAreClean) {
  RwSem i_mmap("test.i_mmap_rwsem", LockFlags::TakenByReclaim);
  Mutex unrelated("test.unrelated");
  const RunResult result = run_seed(1, preempt_options(0.2), [&](Scheduler& scheduler) {
    scheduler.spawn("careful", [&] {
      might_alloc(gfp::kKernel, Site{"mas_preallocate"});  // preallocate first, as the fix does
      i_mmap.down_write();
      check_reclaim_safe(gfp::kNowait, Site{"mas_store_prealloc"});
      i_mmap.up_write();
      MutexGuard guard(unrelated);
      might_alloc(gfp::kKernel, Site{"kmalloc"});
    });
  });
  EXPECT_EQ(outcome(result), "ok") << result.failure->headline();
}

}  // namespace
}  // namespace mmt::sched
