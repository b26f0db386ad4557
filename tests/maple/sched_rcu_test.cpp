// The maple tree under the deterministic scheduler: writers (normal API, taking the
// tree's spinlock; GFP_NOWAIT reservations fail, so every store goes through
// mas_nomem, which drops the lock — a point where another writer gets in) and RCU
// readers that hold their cursor across yield points while nodes are replaced under
// them. Replaced nodes are freed only after a grace period (SchedRcu), and freed nodes
// are poisoned (ASan-poisoned in sanitizer builds), so a reader touching a freed node
// would fail the run.
#include <gtest/gtest.h>

#include "maple_test_util.h"
#include "mmtorture/core/rng.h"
#include "mmtorture/sched/sched.h"

namespace mmt::maple::test {

namespace {

constexpr Site kSiteReaderStep{"maple reader: between mas_find steps"};

struct RunStats {
  sched::RunResult result;
  uint64_t entries_seen = 0;
};

RunStats run_world(uint64_t seed, bool rcu_mode) {
  reset_test_allocator();
  DEFINE_MTREE(tree);
  mt_init_flags(&tree, MT_FLAGS_ALLOC_RANGE);
  if (rcu_mode) mt_set_in_rcu(&tree);
  // A few hundred ranges so readers walk several leaves.
  for (unsigned long i = 0; i < 300; ++i) mtree_store_range(&tree, i * 10, i * 10 + 4, xa_mk_value(i), GFP_KERNEL);

  SeededChoices choices(seed);
  sched::SchedulerOptions options;
  options.strategy = sched::StrategyConfig::preempt(0.3);
  sched::Scheduler scheduler(choices, options);
  RunStats stats;
  for (int w = 0; w < 2; ++w) {
    scheduler.spawn("writer" + std::to_string(w), [&tree, w, seed] {
      Rng rng(seed * 7 + static_cast<uint64_t>(w));
      for (int op = 0; op < 60; ++op) {
        const unsigned long slot = rng.below(320);
        if (rng.below(3) == 0) {
          mtree_erase(&tree, slot * 10);
        } else {
          mtree_store_range(&tree, slot * 10, slot * 10 + rng.below(12), xa_mk_value(slot), GFP_KERNEL);
        }
      }
    });
  }
  for (int r = 0; r < 3; ++r) {
    scheduler.spawn("reader" + std::to_string(r), [&tree, &stats] {
      for (int pass = 0; pass < 4; ++pass) {
        rcu_read_lock();
        MA_STATE(mas, &tree, 0, 0);
        void* entry;
        unsigned long steps = 0;
        while ((entry = mas_find(&mas, ULONG_MAX)) != nullptr) {
          // What a reader sees is always a real entry in a sane position.
          MT_BUG_ON(&tree, !xa_is_value(entry));
          // Every store of value v covered a part of [10v, 10v + 11].
          MT_BUG_ON(&tree, mas.index < xa_to_value(entry) * 10 || mas.last > xa_to_value(entry) * 10 + 11);
          // Ranges may overlap what came before (a replaced leaf is re-walked from the
          // cursor's index, as the kernel's mas_rewalk does), but the walk always ends.
          MT_BUG_ON(&tree, ++steps > 4000);
          ++stats.entries_seen;
          sched::yield_point(kSiteReaderStep);
        }
        rcu_read_unlock();
        sched::yield_point(kSiteReaderStep);
      }
    });
  }
  stats.result = scheduler.run();
  if (stats.result.ok()) {
    auto failure = validate_tree(&tree);
    if (failure) stats.result.failure = failure;
  }
  tree.ma_lock.locked = 0;  // a failed run may have left it held
  mtree_destroy(&tree);
  rcu_barrier();
  return stats;
}

}  // namespace

TEST(MapleUnderScheduler, RcuReadersAndWritersStayCorrect) {
  uint64_t seen = 0, switches = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    const RunStats stats = run_world(seed, true);
    ASSERT_TRUE(stats.result.ok()) << "seed " << seed << ": " << stats.result.failure->headline() << "\n"
                                   << stats.result.failure->dump;
    seen += stats.entries_seen;
    switches += stats.result.switches;
    EXPECT_EQ(node_allocator().live_nodes(), 0u) << "seed " << seed;
  }
  EXPECT_GT(seen, 10000u);
  EXPECT_GT(switches, 1000u);
}

TEST(MapleUnderScheduler, SameSeedSameTrace) {
  const RunStats a = run_world(17, true);
  const RunStats b = run_world(17, true);
  ASSERT_TRUE(a.result.ok());
  EXPECT_EQ(a.result.trace_hash, b.result.trace_hash);
  EXPECT_EQ(a.entries_seen, b.entries_seen);
}

TEST(MapleUnderScheduler, SleepingAllocationUnderTheTreeLockIsCaught) {
  // mas_nomem drops the internal lock before a sleeping allocation; allocating with
  // GFP_KERNEL while holding it is "sleeping function called from invalid context".
  reset_test_allocator();
  DEFINE_MTREE(tree);
  SeededChoices choices(1);
  sched::Scheduler scheduler(choices);
  scheduler.spawn("bad_writer", [&tree] {
    mtree_lock(&tree);
    sched::might_alloc(GFP_KERNEL, Site{"kmem_cache_alloc"});
    mtree_unlock(&tree);
  });
  const auto result = scheduler.run();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->check, "sched.might_sleep");
  tree.ma_lock.locked = 0;
}

}  // namespace mmt::maple::test
