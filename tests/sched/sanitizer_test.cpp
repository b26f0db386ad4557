// In sanitizer builds (MMT_SANITIZED), ASan must still see through our fiber switches:
// a use-after-free inside a green thread is reported, with the green thread's own
// frames in the stack, both for a plain heap object and for an object freed by an RCU
// callback after its grace period. Other builds skip (there is nothing to prove).
#include <gtest/gtest.h>

#include "mmtorture/sched/clock.h"
#include "mmtorture/sched/rcu.h"
#include "mmtorture/sched/yield_point.h"
#include "sched_test_util.h"

namespace mmt::sched {
namespace {

using testing::preempt_options;
using testing::run_seed;

struct Freed {
  RcuHead rcu;
  volatile int value = 7;
};

// Kept out of line so it appears by name in ASan's stack trace.
[[gnu::noinline]] int read_after_free_in_green_thread(Freed* freed) { return freed->value; }

[[gnu::noinline]] void plain_use_after_free() {
  run_seed(1, preempt_options(0.5), [](Scheduler& scheduler) {
    scheduler.spawn("other", [] { for (int i = 0; i < 10; ++i) yield_point(Site{"other.step"}); });
    scheduler.spawn("culprit", [] {
      auto* freed = new Freed;
      yield_point(Site{"culprit.before_free"});
      delete freed;
      yield_point(Site{"culprit.after_free"});
      std::printf("%d\n", read_after_free_in_green_thread(freed));
    });
  });
}

[[gnu::noinline]] void rcu_use_after_grace_period() {
  static Freed* current = nullptr;
  current = new Freed;
  run_seed(1, preempt_options(0.0), [](Scheduler& scheduler) {
    scheduler.spawn("late_reader", [] {
      rcu_read_lock();
      Freed* node = current;
      rcu_read_unlock();
      msleep(2, Site{"late_reader.after_unlock"});  // the writer replaces and frees at 1 ms
      std::printf("%d\n", read_after_free_in_green_thread(node));  // its grace period is over
    });
    scheduler.spawn("writer", [] {
      msleep(1);  // after the reader took its reference
      Freed* old = current;
      current = new Freed;
      call_rcu(&old->rcu, [](RcuHead* head) { delete reinterpret_cast<Freed*>(head); });
    });
  });
  delete current;
}

#if MMT_SANITIZED
TEST(SanitizerDeathTest, AsanReportsAUseAfterFreeInsideAGreenThread) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(plain_use_after_free(), "heap-use-after-free(.|\n)*read_after_free_in_green_thread");
}

TEST(SanitizerDeathTest, AsanReportsAReaderUsingAnObjectAfterItsGracePeriod) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(rcu_use_after_grace_period(), "heap-use-after-free(.|\n)*read_after_free_in_green_thread");
}
#else
TEST(SanitizerDeathTest, AsanReportsAUseAfterFreeInsideAGreenThread) {
  (void)&plain_use_after_free;
  (void)&rcu_use_after_grace_period;
  GTEST_SKIP() << "only meaningful in sanitizer builds (scripts/test asan)";
}
#endif

}  // namespace
}  // namespace mmt::sched
