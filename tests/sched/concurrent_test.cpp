// Two schedulers on two OS threads of one process: each OS thread has its own stack
// pool, lock-order graph node table, RCU backend, host thread and spare storage, so two
// campaigns side by side compute exactly what each computes alone. The worlds below
// share lock classes (by name), so a graph cache kept in the class would be written by
// both; they park, deadlock, report lockdep's circular order and run RCU callbacks, so
// every per-OS-thread piece is in use on both threads at once.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "mmtorture/core/choice.h"
#include "mmtorture/sched/mutex.h"
#include "mmtorture/sched/rcu.h"
#include "mmtorture/sched/scheduler.h"
#include "mmtorture/sched/yield_point.h"

namespace mmt::sched {
namespace {

constexpr uint64_t kSeeds = 3000;

// What a seed computed: the trace hash and the failure's headline ("ok" when clean).
struct Outcome {
  uint64_t trace_hash;
  std::string failure;
  bool operator==(const Outcome&) const = default;
};

struct CountedHead {
  RcuHead rcu;  // first: the callback gets its address
  int* counter;
};

// `lockdep_order` on: ABBA orders are reported by lockdep (lockdep.circular); off: an
// interleaving that deadlocks ends in the deadlock detector. `variant` changes which
// threads take the reverse order, so the two OS threads run different worlds.
Outcome run_abba_world(uint64_t seed, bool lockdep_order, int variant) {
  SeededChoices choices(seed);
  SchedulerOptions options;
  options.strategy = StrategyConfig::uniform();
  options.lockdep_order = lockdep_order;
  Scheduler scheduler(choices, options);
  Mutex a("concurrent.a");
  Mutex b("concurrent.b");
  Mutex c("concurrent.c");
  int callbacks = 0;
  std::vector<CountedHead> heads(3, CountedHead{{}, &callbacks});
  for (int t = 0; t < 3; ++t) {
    const bool reversed = t == variant % 3;
    scheduler.spawn("worker", [&, t, reversed] {
      Mutex& first = reversed ? b : a;
      Mutex& second = reversed ? a : b;
      for (int round = 0; round < 2; ++round) {
        first.lock();
        yield_point(Site{"concurrent.inside_first"});
        second.lock();
        if (t == 2) {
          c.lock();  // a third class in the graph
          c.unlock();
        }
        second.unlock();
        first.unlock();
      }
      call_rcu(&heads[static_cast<size_t>(t)].rcu,
               [](RcuHead* head) { ++*reinterpret_cast<CountedHead*>(head)->counter; });
      yield_point(Site{"concurrent.after"});
      if (t == 1) synchronize_rcu();
    });
  }
  const RunResult result = scheduler.run();
  return Outcome{result.trace_hash, result.failure ? result.failure->headline() : "ok"};
}

std::vector<Outcome> run_seeds(bool lockdep_order, int variant) {
  std::vector<Outcome> outcomes;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) outcomes.push_back(run_abba_world(seed, lockdep_order, variant));
  return outcomes;
}

TEST(ConcurrentSchedulers, TwoOsThreadsComputeWhatEachComputesAlone) {
  // One after the other, on this thread.
  const std::vector<Outcome> alone_order = run_seeds(true, 0);
  const std::vector<Outcome> alone_deadlock = run_seeds(false, 1);
  // The worlds are not trivial: lockdep reports every seed of the first (both orders
  // are always seen), in schedules that differ; the second has clean and deadlocking
  // seeds.
  for (const auto* outcomes : {&alone_order, &alone_deadlock}) {
    std::set<uint64_t> hashes;
    for (const Outcome& outcome : *outcomes) hashes.insert(outcome.trace_hash);
    EXPECT_GT(hashes.size(), kSeeds / 4);
  }
  size_t clean = 0;
  for (const Outcome& outcome : alone_deadlock) clean += outcome.failure == "ok";
  EXPECT_GT(clean, 0u);
  EXPECT_LT(clean, kSeeds);
  for (const Outcome& outcome : alone_order) EXPECT_NE(outcome.failure.find("lockdep.circular"), std::string::npos);

  // Side by side: both start together and run their seeds concurrently.
  std::atomic<int> ready{0};
  std::vector<Outcome> side_order;
  std::vector<Outcome> side_deadlock;
  auto side = [&ready](std::vector<Outcome>& out, bool lockdep_order, int variant) {
    ready.fetch_add(1);
    while (ready.load() < 2) std::this_thread::yield();
    out = run_seeds(lockdep_order, variant);
  };
  std::thread first(side, std::ref(side_order), true, 0);
  std::thread second(side, std::ref(side_deadlock), false, 1);
  first.join();
  second.join();

  ASSERT_EQ(side_order.size(), alone_order.size());
  ASSERT_EQ(side_deadlock.size(), alone_deadlock.size());
  for (size_t i = 0; i < alone_order.size(); ++i) {
    EXPECT_EQ(side_order[i], alone_order[i])
        << "seed " << i + 1 << ": " << side_order[i].failure << " vs " << alone_order[i].failure;
    EXPECT_EQ(side_deadlock[i], alone_deadlock[i])
        << "seed " << i + 1 << ": " << side_deadlock[i].failure << " vs " << alone_deadlock[i].failure;
  }
  // And this thread, after both: still what it computed before them.
  EXPECT_EQ(run_seeds(true, 0), alone_order);
}

}  // namespace
}  // namespace mmt::sched
