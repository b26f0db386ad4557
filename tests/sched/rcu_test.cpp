// RCU under the scheduler: a reader keeps its object across a concurrent replacement
// until it leaves its read-side section; an object used after the grace period is
// caught (poisoned by its callback); synchronize_rcu and rcu_barrier wait for exactly
// what they should; callbacks run in atomic (softirq) context.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <memory>
#include <vector>

#include "mmtorture/sched/atomic_context.h"
#include "mmtorture/sched/clock.h"
#include "mmtorture/sched/rcu.h"
#include "mmtorture/sched/yield_point.h"
#include "sched_test_util.h"

namespace mmt::sched {
namespace {

using testing::outcome;
using testing::preempt_options;
using testing::run_seed;

constexpr uint64_t kAlive = 0xa11ce;
constexpr uint64_t kPoison = 0x6b6b6b6b6b6b6b6bULL;  // the kernel's POISON_FREE byte

// An RCU-protected object. Its callback poisons it instead of freeing it, so a late
// reader is caught by a check in every build (the sanitizer test frees for real).
struct Node {
  RcuHead rcu;
  uint64_t magic = kAlive;
  uint64_t value = 0;
};

void poison_node(RcuHead* head) {
  Node* node = reinterpret_cast<Node*>(head);  // rcu is the first member
  node->magic = kPoison;
}

void check_alive(const Node* node, const char* site) {
  if (node->magic != kAlive)
    raise_failure("rcu.use_after_grace_period", site, fmt::format("node {} used after its grace period", node->value));
}

// The replacing world: a writer swaps `current` for a new node and call_rcu()s the old
// one, `replacements` times; readers dereference inside (or, `late`, after) a section.
struct World {
  std::vector<std::unique_ptr<Node>> nodes;  // owns every node; freed after the run
  Node* current = nullptr;

  Node* make(uint64_t value) {
    nodes.push_back(std::make_unique<Node>());
    nodes.back()->value = value;
    return nodes.back().get();
  }

  void spawn(Scheduler& scheduler, int readers, bool late) {
    current = make(0);
    scheduler.spawn("writer", [this] {
      for (uint64_t i = 1; i <= 5; ++i) {
        Node* old = current;
        current = make(i);  // rcu_assign_pointer
        call_rcu(&old->rcu, poison_node);
        yield_point(Site{"writer.replaced"});
      }
    });
    for (int r = 0; r < readers; ++r)
      scheduler.spawn("reader", [this, late] {
        for (int i = 0; i < 4; ++i) {
          rcu_read_lock();
          Node* node = current;  // rcu_dereference
          for (int step = 0; step < 3; ++step) {
            yield_point(Site{"reader.inside"});
            check_alive(node, "reader.inside");
          }
          rcu_read_unlock();
          if (late) {
            yield_point(Site{"reader.after_unlock"});
            check_alive(node, "reader.after_unlock");  // the bug: no longer protected
          }
        }
      });
  }
};

TEST(Rcu, AReaderIsSafeAcrossAConcurrentReplacementUntilItLeaves) {
  for (uint64_t seed = 0; seed < 300; ++seed) {
    World world;
    uint64_t pending_at_end = 1;
    const RunResult result = run_seed(seed, preempt_options(0.5), [&](Scheduler& scheduler) {
      world.spawn(scheduler, 3, false);
      scheduler.spawn("auditor", [&] {
        msleep(1);
        rcu_barrier();
        pending_at_end = rcu_backend().pending_callbacks();
      });
    });
    ASSERT_TRUE(result.ok()) << "seed " << seed << ": " << result.failure->headline();
    EXPECT_EQ(pending_at_end, 0u);
    size_t poisoned = 0;
    for (const auto& node : world.nodes) poisoned += node->magic == kPoison;
    EXPECT_EQ(poisoned, 5u);  // every replaced node went through its grace period
  }
}

TEST(Rcu, AUseAfterTheGracePeriodIsCaught) {
  int caught = 0;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    World world;
    const RunResult result = run_seed(seed, preempt_options(0.5), [&](Scheduler& scheduler) {
      world.spawn(scheduler, 2, true);
    });
    if (result.ok()) continue;
    ASSERT_EQ(result.failure->check, "rcu.use_after_grace_period");
    ASSERT_EQ(result.failure->site, "reader.after_unlock");  // never inside the section
    ++caught;
  }
  EXPECT_GT(caught, 30);
}

TEST(Rcu, TheCallbackWaitsForOldReadersButNotForNewOnes) {
  // Readers spin on flags with yield points (they may not sleep); p = 1 switches at
  // every yield point, so the three threads interleave step by step.
  static bool r1_in, r1_out, called, r2_in, r2_out, ran, r1_out_when_ran, r2_in_when_ran;
  r1_in = r1_out = called = r2_in = r2_out = ran = r1_out_when_ran = r2_in_when_ran = false;
  static RcuHead head;
  const RunResult result = run_seed(1, preempt_options(1.0), [&](Scheduler& scheduler) {
    scheduler.spawn("old_reader", [] {
      rcu_read_lock();
      r1_in = true;
      while (!called) yield_point(Site{"r1.wait"});
      for (int i = 0; i < 10; ++i) yield_point(Site{"r1.linger"});
      r1_out = true;
      rcu_read_unlock();
    });
    scheduler.spawn("writer", [] {
      while (!r1_in) yield_point(Site{"writer.wait"});
      call_rcu(&head, [](RcuHead*) {
        ran = true;
        r1_out_when_ran = r1_out;
        r2_in_when_ran = r2_in && !r2_out;
      });
      called = true;
    });
    scheduler.spawn("new_reader", [] {
      while (!called) yield_point(Site{"r2.wait"});
      rcu_read_lock();
      r2_in = true;
      for (int i = 0; i < 1000 && !ran; ++i) yield_point(Site{"r2.inside"});
      r2_out = true;
      rcu_read_unlock();
    });
  });
  ASSERT_TRUE(result.ok()) << result.failure->headline();
  EXPECT_TRUE(ran);
  EXPECT_TRUE(r1_out_when_ran);  // waited for the reader that predates call_rcu
  EXPECT_TRUE(r2_in_when_ran);   // did not wait for the one that came after
}

TEST(Rcu, SynchronizeWaitsForPreexistingReadersOnly) {
  std::vector<std::string> events;
  const RunResult result = run_seed(2, preempt_options(0.0), [&](Scheduler& scheduler) {
    scheduler.spawn("old_reader", [&] {
      rcu_read_lock();
      events.push_back("old in");
      for (int i = 0; i < 20; ++i) yield_point(Site{"old.inside"});
      events.push_back("old out");
      rcu_read_unlock();
    });
    scheduler.spawn("updater", [&] {
      events.push_back("sync start");
      synchronize_rcu();
      events.push_back("sync end");
    });
  });
  ASSERT_TRUE(result.ok()) << result.failure->headline();
  const auto position = [&](const std::string& event) {
    return std::find(events.begin(), events.end(), event) - events.begin();
  };
  if (position("old in") < position("sync start")) {
    EXPECT_LT(position("old out"), position("sync end"));
  }
  EXPECT_EQ(events.size(), 4u);
}

TEST(Rcu, CallbacksRunInAtomicContextAndMustNotSleep) {
  static bool atomic_seen = false;
  static RcuHead head;
  atomic_seen = false;
  const RunResult clean = run_seed(3, preempt_options(0.0), [&](Scheduler& scheduler) {
    scheduler.spawn("caller", [] {
      call_rcu(&head, [](RcuHead*) { atomic_seen = in_atomic(); });
      rcu_barrier();
    });
  });
  ASSERT_TRUE(clean.ok()) << clean.failure->headline();
  EXPECT_TRUE(atomic_seen);

  const RunResult sleeping = run_seed(3, preempt_options(0.0), [&](Scheduler& scheduler) {
    scheduler.spawn("caller", [] {
      call_rcu(&head, [](RcuHead*) { might_sleep(Site{"callback.sleeps"}); });
      rcu_barrier();
    });
  });
  ASSERT_FALSE(sleeping.ok());
  EXPECT_EQ(sleeping.failure->check, "sched.might_sleep");
  EXPECT_EQ(sleeping.failure->site, "callback.sleeps");
  EXPECT_NE(sleeping.failure->message.find("RCU callback"), std::string::npos);
}

TEST(Rcu, PendingCallbacksRunAtTheEndOfTheRunAndTheDefaultBackendReturns) {
  World world;
  RcuBackend* during = nullptr;
  const RunResult result = run_seed(4, preempt_options(0.0), [&](Scheduler& scheduler) {
    world.current = world.make(0);
    scheduler.spawn("writer", [&] {
      during = &rcu_backend();
      Node* old = world.current;
      world.current = world.make(1);
      rcu_read_lock();  // keeps the grace period open until the thread exits...
      call_rcu(&old->rcu, poison_node);
      rcu_read_unlock();
    });
  });
  ASSERT_TRUE(result.ok()) << result.failure->headline();
  EXPECT_EQ(world.nodes[0]->magic, kPoison);
  EXPECT_NE(during, &rcu_backend());  // the scheduler's backend was in force only during run()
  EXPECT_EQ(rcu_backend().pending_callbacks(), 0u);
}

TEST(Rcu, CallbacksRunInCallOrderWhileTheQueueIsPartlyRunAndRefilled) {
  // 100 callbacks wait for a reader; it leaves and re-enters at once, and its next yield
  // runs them (the queue runs its front past its half and drops what ran) while the
  // callbacks queued after that — one queued by callback 5, then 100 by the writer —
  // wait for its second section. Every callback runs once, in call order.
  static std::array<RcuHead, 201> heads;
  static std::vector<size_t> order;
  static bool in, phase1, reentered, phase2;
  order.clear();
  in = phase1 = reentered = phase2 = false;
  const auto record = [](RcuHead* head) {
    const auto index = static_cast<size_t>(head - heads.data());
    order.push_back(index);
    if (index == 5)
      call_rcu(&heads[200], [](RcuHead* last) { order.push_back(static_cast<size_t>(last - heads.data())); });
  };
  const RunResult result = run_seed(5, preempt_options(1.0), [&](Scheduler& scheduler) {
    scheduler.spawn("reader", [] {
      rcu_read_lock();
      in = true;
      while (!phase1) yield_point(Site{"reader.first"});
      rcu_read_unlock();
      rcu_read_lock();
      reentered = true;
      while (!phase2) yield_point(Site{"reader.second"});
      rcu_read_unlock();
    });
    scheduler.spawn("writer", [record] {
      while (!in) yield_point(Site{"writer.wait"});
      for (size_t i = 0; i < 100; ++i) call_rcu(&heads[i], record);
      phase1 = true;
      while (!reentered) yield_point(Site{"writer.wait_reentry"});
      for (size_t i = 100; i < 200; ++i) call_rcu(&heads[i], record);
      while (order.size() < 100) yield_point(Site{"writer.wait_first_100"});
      EXPECT_EQ(order.size(), 100u);  // the second 100 wait for the reader's second section
      phase2 = true;
    });
  });
  ASSERT_TRUE(result.ok()) << result.failure->headline();
  std::vector<size_t> expected;
  for (size_t i = 0; i < 100; ++i) expected.push_back(i);
  expected.push_back(200);
  for (size_t i = 100; i < 200; ++i) expected.push_back(i);
  EXPECT_EQ(order, expected);
  EXPECT_EQ(rcu_backend().pending_callbacks(), 0u);
}

}  // namespace
}  // namespace mmt::sched
