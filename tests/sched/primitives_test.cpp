// The blocking primitives under random schedules: mutual exclusion, the rw-semaphore's
// writer-waiting rule, spin locks as atomic context, wait queues, completions, fatal
// signals in killable waits, and the virtual clock.
#include <gtest/gtest.h>

#include <cerrno>
#include <vector>

#include "mmtorture/sched/atomic_context.h"
#include "mmtorture/sched/clock.h"
#include "mmtorture/sched/completion.h"
#include "mmtorture/sched/mutex.h"
#include "mmtorture/sched/rwsem.h"
#include "mmtorture/sched/signal.h"
#include "mmtorture/sched/spinlock.h"
#include "mmtorture/sched/wait_queue.h"
#include "mmtorture/sched/yield_point.h"
#include "sched_test_util.h"

namespace mmt::sched {
namespace {

using testing::preempt_options;
using testing::run_seed;

constexpr Site kInside{"test.critical_section"};

TEST(Mutex, ExcludesUnderEverySchedule) {
  for (uint64_t seed = 0; seed < 200; ++seed) {
    Mutex mutex("test.counter_lock");
    int inside = 0;
    int counter = 0;
    const RunResult result = run_seed(seed, preempt_options(0.5), [&](Scheduler& scheduler) {
      for (int t = 0; t < 3; ++t)
        scheduler.spawn("incrementer", [&] {
          for (int i = 0; i < 5; ++i) {
            MutexGuard guard(mutex);
            EXPECT_EQ(inside++, 0);
            const int read = counter;
            yield_point(kInside);  // a lost update would show here without the lock
            counter = read + 1;
            --inside;
          }
        });
    });
    ASSERT_TRUE(result.ok()) << "seed " << seed << ": " << result.failure->headline();
    EXPECT_EQ(counter, 15) << "seed " << seed;
    EXPECT_FALSE(mutex.is_locked());
  }
}

TEST(Mutex, WorksSingleThreadedWithoutAScheduler) {
  Mutex mutex("test.host_lock");
  mutex.lock();
  EXPECT_EQ(mutex.owner(), &host_thread());
  EXPECT_FALSE(mutex.trylock());
  mutex.unlock();
  EXPECT_FALSE(mutex.is_locked());
}

TEST(Mutex, KillableLockReturnsEintrOnAFatalSignal) {
  Mutex mutex("test.killable_lock");
  int result_code = 1;
  Thread* victim = nullptr;  // outlives the world lambda: the threads run after it returns
  const RunResult result = run_seed(1, preempt_options(0.0), [&](Scheduler& scheduler) {
    scheduler.spawn("holder", [&] {
      mutex.lock();
      msleep(10);  // the victim queues behind us meanwhile
      send_fatal_signal(*victim);
      msleep(10);
      mutex.unlock();
    });
    victim = &scheduler.spawn("victim", [&] {
      msleep(1);
      result_code = mutex.lock_killable();
      EXPECT_TRUE(fatal_signal_pending());
    });
  });
  ASSERT_TRUE(result.ok()) << result.failure->headline();
  EXPECT_EQ(result_code, -EINTR);
  EXPECT_EQ(mutex.waiters(), 0u);
}

TEST(RwSem, ANewReaderWaitsBehindAWaitingWriter) {
  RwSem sem("test.mmap_lock");
  std::vector<std::string> order;
  const RunResult result = run_seed(1, preempt_options(0.0), [&](Scheduler& scheduler) {
    scheduler.spawn("reader1", [&] {
      sem.down_read();
      order.push_back("r1 in");
      msleep(10);  // writer queues at 1 ms, reader2 arrives at 2 ms
      order.push_back("r1 out");
      sem.up_read();
    });
    scheduler.spawn("writer", [&] {
      msleep(1);
      sem.down_write();
      order.push_back("w in");
      sem.up_write();
    });
    scheduler.spawn("reader2", [&] {
      msleep(2);
      EXPECT_FALSE(sem.down_read_trylock());  // a writer is waiting
      sem.down_read();
      order.push_back("r2 in");
      sem.up_read();
    });
  });
  ASSERT_TRUE(result.ok()) << result.failure->headline();
  EXPECT_EQ(order, (std::vector<std::string>{"r1 in", "r1 out", "w in", "r2 in"}));
}

TEST(RwSem, ReadersShareWritersExclude) {
  for (uint64_t seed = 0; seed < 100; ++seed) {
    RwSem sem("test.shared");
    int readers = 0;
    int writers = 0;
    const RunResult result = run_seed(seed, preempt_options(0.4), [&](Scheduler& scheduler) {
      for (int t = 0; t < 2; ++t)
        scheduler.spawn("reader", [&] {
          for (int i = 0; i < 4; ++i) {
            sem.down_read();
            ++readers;
            EXPECT_EQ(writers, 0);
            yield_point(kInside);
            --readers;
            sem.up_read();
          }
        });
      scheduler.spawn("writer", [&] {
        for (int i = 0; i < 4; ++i) {
          sem.down_write();
          ++writers;
          EXPECT_EQ(readers, 0);
          EXPECT_EQ(writers, 1);
          yield_point(kInside);
          --writers;
          if (i == 3) {
            sem.downgrade_write();
            sem.up_read();
          } else {
            sem.up_write();
          }
        }
      });
    });
    ASSERT_TRUE(result.ok()) << "seed " << seed << ": " << result.failure->headline();
  }
}

TEST(SpinLock, HoldingOneIsAtomicContext) {
  SpinLock lock("test.spin");
  EXPECT_FALSE(in_atomic());
  lock.lock();
  EXPECT_TRUE(in_atomic());
  lock.unlock();
  EXPECT_FALSE(in_atomic());
  const RunResult result = run_seed(4, preempt_options(0.5), [&](Scheduler& scheduler) {
    for (int t = 0; t < 3; ++t)
      scheduler.spawn("spinner", [&] {
        for (int i = 0; i < 3; ++i) {
          SpinGuard guard(lock);
          EXPECT_TRUE(in_atomic());
          EXPECT_EQ(lock.owner(), current_thread());
          yield_point(kInside);  // another CPU runs meanwhile; it spins if it wants the lock
        }
        EXPECT_FALSE(in_atomic());
      });
  });
  ASSERT_TRUE(result.ok()) << result.failure->headline();
}

TEST(WaitQueue, WaitEventSeesTheConditionAfterWakeUp) {
  WaitQueue queue("test.queue");
  int items = 0;
  int consumed = 0;
  const RunResult result = run_seed(9, preempt_options(0.3), [&](Scheduler& scheduler) {
    scheduler.spawn("consumer", [&] {
      for (int i = 0; i < 5; ++i) {
        queue.wait_event([&] { return items > 0; });
        --items;
        ++consumed;
      }
    });
    scheduler.spawn("producer", [&] {
      for (int i = 0; i < 5; ++i) {
        msleep(3);
        ++items;
        queue.wake_up();
      }
    });
  });
  ASSERT_TRUE(result.ok()) << result.failure->headline();
  EXPECT_EQ(consumed, 5);
  EXPECT_EQ(result.virtual_ms, 15u);
}

TEST(WaitQueue, TimeoutsAndKillableWaitsReportHowTheyEnded) {
  WaitQueue queue("test.timeouts");
  uint64_t timed_out = 99;
  uint64_t satisfied = 0;
  int killed = 0;
  bool flag = false;
  const RunResult result = run_seed(5, preempt_options(0.0), [&](Scheduler& scheduler) {
    scheduler.spawn("timeout", [&] { timed_out = queue.wait_event_timeout([] { return false; }, 30); });
    scheduler.spawn("satisfied", [&] { satisfied = queue.wait_event_timeout([&] { return flag; }, 100); });
    Thread& victim = scheduler.spawn("killable", [&] { killed = queue.wait_event_killable([] { return false; }); });
    scheduler.spawn("driver", [&, target = &victim] {  // by value: the world lambda's locals die before run()
      msleep(40);
      flag = true;
      queue.wake_up();
      send_fatal_signal(*target);
    });
  });
  ASSERT_TRUE(result.ok()) << result.failure->headline();
  EXPECT_EQ(timed_out, 0u);
  EXPECT_EQ(satisfied, 60u);
  EXPECT_EQ(killed, -EINTR);
}

TEST(Completion, ReleasesWaitersOneAtATimeOrAll) {
  Completion ready("test.ready");
  Completion all("test.all");
  int passed = 0;
  uint64_t timeout_left = 1;
  const RunResult result = run_seed(6, preempt_options(0.3), [&](Scheduler& scheduler) {
    for (int t = 0; t < 3; ++t)
      scheduler.spawn("waiter", [&] {
        ready.wait_for_completion();
        ++passed;
        all.wait_for_completion();
      });
    scheduler.spawn("completer", [&] {
      timeout_left = all.wait_for_completion_timeout(7);
      for (int i = 0; i < 3; ++i) ready.complete();
      all.complete_all();
    });
  });
  ASSERT_TRUE(result.ok()) << result.failure->headline();
  EXPECT_EQ(passed, 3);
  EXPECT_EQ(timeout_left, 0u);
  EXPECT_EQ(result.virtual_ms, 7u);
  EXPECT_TRUE(all.completion_done());
}

TEST(Clock, AdvancesOnlyWhenEveryThreadIsBlocked) {
  std::vector<uint64_t> seen;
  const RunResult result = run_seed(7, preempt_options(0.5), [&](Scheduler& scheduler) {
    scheduler.spawn("sleeper", [&] {
      msleep(1000);
      seen.push_back(now_ms());
    });
    scheduler.spawn("busy", [&] {
      for (int i = 0; i < 100; ++i) {
        EXPECT_EQ(now_ms(), 0u);  // runnable work keeps the clock still
        yield_point(kInside);
      }
    });
  });
  ASSERT_TRUE(result.ok()) << result.failure->headline();
  EXPECT_EQ(seen, (std::vector<uint64_t>{1000}));
  EXPECT_EQ(result.virtual_ms, 1000u);
}

TEST(Clock, ScheduleTimeoutEndsEarlyOnWakeUpProcess) {
  uint64_t left = 0;
  uint64_t killable_left = 0;
  const RunResult result = run_seed(8, preempt_options(0.0), [&](Scheduler& scheduler) {
    Thread& sleeper = scheduler.spawn("sleeper", [&] { left = schedule_timeout(500); });
    Thread& victim = scheduler.spawn("victim", [&] { killable_left = msleep_killable(500); });
    scheduler.spawn("waker", [&, sleeping = &sleeper, target = &victim] {
      msleep(100);
      EXPECT_TRUE(wake_up_process(*sleeping));
      send_fatal_signal(*target);
    });
  });
  ASSERT_TRUE(result.ok()) << result.failure->headline();
  EXPECT_EQ(left, 400u);
  EXPECT_EQ(killable_left, 400u);
}

}  // namespace
}  // namespace mmt::sched
