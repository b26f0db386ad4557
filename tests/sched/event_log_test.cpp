// The per-thread flight recorder (event_log.h): rings keep each thread's newest events
// in order, threads come in spawn order, the failing thread's ring ends with the
// failure, nothing after the failure is kept, and attaching a log changes nothing in
// the run (same trace hash, same decisions).
#include <gtest/gtest.h>

#include <new>
#include <string>
#include <vector>

#include "mmtorture/core/failure.h"
#include "mmtorture/sched/sched.h"
#include "sched_test_util.h"

namespace mmt::sched {
namespace {

using testing::preempt_options;

constexpr Site kStep{"test.step"};
constexpr Site kTake{"test.take"};

std::vector<std::string> texts(const EventLog::ThreadEvents& thread) {
  std::vector<std::string> out;
  for (const EventLog::Event* event : thread.events()) out.push_back(event->text);
  return out;
}

// Two threads contend for a mutex and sleep; the second raises a failure after its
// third round. `log` may be null.
RunResult contended_world(uint64_t seed, EventLog* log) {
  SeededChoices choices(seed);
  SchedulerOptions options = preempt_options(0.5);
  options.event_log = log;
  Scheduler scheduler(choices, options);
  Mutex mutex("test_mutex");
  for (int t = 0; t < 3; ++t) {
    scheduler.spawn(fmt::format("worker{}", t), [&mutex, t] {
      for (int round = 0; round < 4; ++round) {
        OpScope op("round");
        mutex.lock(kTake);
        yield_point(kStep);
        mutex.unlock();
        msleep(1 + t);
        if (t == 1 && round == 2) raise_failure("test.planted", "test.site", "planted in round 2");
      }
    });
  }
  return scheduler.run();
}

TEST(EventLog, RingKeepsTheNewestEventsOldestFirst) {
  SeededChoices choices(1);
  EventLog log(3);
  SchedulerOptions options = preempt_options(0);
  options.event_log = &log;
  Scheduler scheduler(choices, options);
  scheduler.spawn("writer", [] {
    for (int i = 0; i < 7; ++i) {
      if (EventLog* running = event_log()) running->note("step {}", i);
    }
  });
  ASSERT_TRUE(scheduler.run().ok());
  const auto threads = log.threads();
  ASSERT_EQ(threads.size(), 1u);
  EXPECT_EQ(threads[0]->name, "writer");
  EXPECT_EQ(threads[0]->recorded, 8u);  // seven steps and the exit
  EXPECT_EQ(texts(*threads[0]), (std::vector<std::string>{"step 5", "step 6", "exits"}));
  EXPECT_EQ(event_log(), nullptr) << "no recording outside a run";
}

TEST(EventLog, FailingThreadEndsWithTheFailureAndNothingAfterIt) {
  EventLog log(64);
  const RunResult result = contended_world(7, &log);
  ASSERT_FALSE(result.ok());
  ASSERT_EQ(result.failure->check, "test.planted");
  EXPECT_TRUE(log.frozen());
  const auto threads = log.threads();
  ASSERT_EQ(threads.size(), 3u);
  for (size_t i = 0; i < threads.size(); ++i) {
    EXPECT_EQ(threads[i]->id, i + 1) << "spawn order";
    EXPECT_EQ(threads[i]->name, fmt::format("worker{}", i));
  }
  const auto failing = texts(*threads[1]);
  ASSERT_GE(failing.size(), 3u);
  EXPECT_EQ(failing.back(), "FAIL test.planted at test.site: planted in round 2");
  // The failure came right after the sleep; the unwinding of the failing op (its
  // OpScope closing) is not history.
  EXPECT_EQ(failing[failing.size() - 2], "runs again: timed out at msleep");
  // Lock traffic, sleeps and wake-ups are named; the mutex by class and number.
  std::string all;
  for (const auto* thread : threads)
    for (const auto& text : texts(*thread)) all += text + "\n";
  EXPECT_NE(all.find("op begins: round"), std::string::npos) << all;
  EXPECT_NE(all.find("'test_mutex'#1 (exclusive) at test.take"), std::string::npos) << all;
  EXPECT_NE(all.find("blocks: msleep"), std::string::npos) << all;
  EXPECT_NE(all.find("runs again: timed out"), std::string::npos) << all;
  // Sequence numbers are unique and grow within each ring.
  for (const auto* thread : threads) {
    uint64_t previous = 0;
    for (const EventLog::Event* event : thread->events()) {
      EXPECT_GT(event->seq, previous);
      previous = event->seq;
    }
  }
  // The report: a block per thread in spawn order.
  const std::string report = log.format();
  const size_t first = report.find("\n  T1 'worker0': last ");
  const size_t second = report.find("\n  T2 'worker1': last ");
  const size_t third = report.find("\n  T3 'worker2': last ");
  ASSERT_NE(third, std::string::npos) << report;
  EXPECT_EQ(report.find("  T1 'worker0': last "), 0u) << report;
  EXPECT_EQ(first, std::string::npos);
  EXPECT_LT(second, third);
}

TEST(EventLog, RecordingChangesNothingInTheRun) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    EventLog log(4);
    const RunResult with = contended_world(seed, &log);
    const RunResult without = contended_world(seed, nullptr);
    EXPECT_EQ(with.trace_hash, without.trace_hash) << "seed " << seed;
    EXPECT_EQ(with.switches, without.switches) << "seed " << seed;
    EXPECT_EQ(with.virtual_ms, without.virtual_ms) << "seed " << seed;
    // Same run, same report: nothing in it depends on addresses.
    EventLog again(4);
    contended_world(seed, &again);
    EXPECT_EQ(log.format(), again.format()) << "seed " << seed;
  }
}

TEST(EventLog, ContendedLockShowsTheWaitTheWakeAndThePreemption) {
  // Without preemption at the yield point inside the critical section nobody waits;
  // scan seeds for a run where someone blocked on the mutex.
  bool saw_wait = false;
  for (uint64_t seed = 1; seed <= 40 && !saw_wait; ++seed) {
    EventLog log(256);
    contended_world(seed, &log);
    std::string all;
    for (const auto* thread : log.threads())
      for (const auto& text : texts(*thread)) all += text + "\n";
    if (all.find("blocks: mutex 'test_mutex'#1 held by T") == std::string::npos) continue;
    saw_wait = true;
    // The wait names the lock as its takes do, number included.
    EXPECT_NE(all.find("takes 'test_mutex'#1"), std::string::npos) << all;
    EXPECT_NE(all.find("preempted at test.step; T"), std::string::npos) << all;
    EXPECT_NE(all.find("wakes T"), std::string::npos) << all;
    EXPECT_NE(all.find("runs again: woken at test.take"), std::string::npos) << all;
  }
  EXPECT_TRUE(saw_wait);
}

TEST(EventLog, UncontendedTakeAndReleaseFoldIntoOneLine) {
  SeededChoices choices(1);
  EventLog log(8);
  SchedulerOptions options = preempt_options(0);
  options.event_log = &log;
  Scheduler scheduler(choices, options);
  Mutex outer("outer"), inner("inner");
  scheduler.spawn("t", [&] {
    outer.lock(Site{"take_outer"});
    inner.lock(Site{"take_inner"});
    inner.unlock(Site{"drop_inner"});
    outer.unlock(Site{"drop_outer"});
    Mutex second("inner");  // a second lock of the class gets the next number
    second.lock(Site{"take_second"});
    second.unlock();
  });
  ASSERT_TRUE(scheduler.run().ok());
  EXPECT_EQ(texts(*log.threads()[0]), (std::vector<std::string>{
                                          "takes 'outer'#1 (exclusive) at take_outer",
                                          "takes and releases 'inner'#1 (exclusive) at take_inner",
                                          "releases 'outer'#1 (exclusive) at drop_outer",
                                          "takes and releases 'inner'#2 (exclusive) at take_second",
                                          "exits",
                                      }));
}

TEST(EventLog, ALockBuiltWhereADeadOneLivedIsAnotherLock) {
  // Numbers must not depend on the allocator's reuse of addresses (ASan's differs).
  SeededChoices choices(1);
  EventLog log(8);
  SchedulerOptions options = preempt_options(0);
  options.event_log = &log;
  Scheduler scheduler(choices, options);
  alignas(Mutex) unsigned char storage[sizeof(Mutex)];
  scheduler.spawn("t", [&] {
    for (int i = 0; i < 2; ++i) {
      auto* mutex = new (storage) Mutex("reused");
      mutex->lock(Site{"take"});
      mutex->unlock();
      mutex->~Mutex();
    }
  });
  ASSERT_TRUE(scheduler.run().ok());
  EXPECT_EQ(texts(*log.threads()[0]), (std::vector<std::string>{"takes and releases 'reused'#1 (exclusive) at take",
                                                                "takes and releases 'reused'#2 (exclusive) at take",
                                                                "exits"}));
}

TEST(EventLog, NeedsRoomForOneEvent) { EXPECT_THROW(EventLog(0), std::invalid_argument); }

}  // namespace
}  // namespace mmt::sched
