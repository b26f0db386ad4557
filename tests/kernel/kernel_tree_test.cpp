// SPDX-License-Identifier: GPL-2.0-only
// The kernel's own maple tree on mmtorture's shim: the normal and advanced API answer
// as a std::map model says, injected GFP_NOWAIT failures surface as -ENOMEM with the
// tree unchanged, preallocation covers the store, the kernel's debug checks become
// Failures naming the function, the tree lock is the scheduler's SpinLock (writers on
// green threads interleave at it), and a fail-nth walk over every node request of a
// fixed sequence keeps the tree valid and leaks nothing.
#include <gtest/gtest.h>

#include <cerrno>
#include <climits>
#include <map>
#include <memory>
#include <string>

#include "mmtorture/core/choice.h"
#include "mmtorture/core/failure.h"
#include "mmtorture/core/rcu.h"
#include "mmtorture/kernel/kernel_tree.h"
#include "mmtorture/mem/fault_plan.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/mem/slab.h"
#include "mmtorture/sched/sched.h"
#include "oracle_cases.h"
#include "shim/mmtk_runtime.h"
#include "tree_api.h"

namespace mmt::kernel {
namespace {

// A small world for the kernel code: memory, its fault plan, the node cache and the
// environment routing the kernel's kmem_cache to it.
struct World {
  explicit World(uint64_t seed = 1) : choices(seed), memory(config(), choices, &plan), nodes(memory, "maple_node", 256, 256), env(nodes) {}
  static mem::MemConfig config() {
    mem::MemConfig c;
    c.pages = 2048;
    return c;
  }
  // GFP_NOWAIT node requests fail from now on (GFP_KERNEL ones do not).
  void fail_nowait(bool on) {
    mem::FaultRule rule;
    rule.probability = on ? 1.0 : 0.0;
    plan.set_rule("*", mem::GfpClass::Nowait, rule);
  }
  SeededChoices choices;
  mem::FaultPlan plan;
  mem::Memory memory;
  mem::KmemCache nodes;
  KernelEnv env;
};

// Every entry of the tree, in order, as [index, last] -> value.
std::map<unsigned long, std::pair<unsigned long, unsigned long>> contents(KernelTree& tree) {
  std::map<unsigned long, std::pair<unsigned long, unsigned long>> out;
  KernelState mas(tree, 0, 0);
  tree.mtree_lock();
  while (void* entry = mas.mas_find(ULONG_MAX)) out[mas.index()] = {mas.last(), xa_value_of(entry)};
  tree.mtree_unlock();
  return out;
}

TEST(KernelTree, ReportsItsVersion) {
  const std::string version = kernel_version();
  EXPECT_TRUE(version.rfind("6.12.", 0) == 0 || version.rfind("6.1.", 0) == 0) << version;
}

TEST(KernelTree, StoreLoadEraseAndGapSearch) {
  World world;
  {
    KernelTree tree(KernelTree::kAllocRange);
    // 400 ranges: several levels of nodes.
    for (unsigned long i = 0; i < 400; ++i)
      ASSERT_EQ(tree.mtree_store_range(i * 16, i * 16 + 7, xa_value(i + 1), gfp::kKernel), 0);
    EXPECT_GE(tree.mt_height(), 2u);
    EXPECT_EQ(xa_value_of(tree.mtree_load(16 * 10 + 3)), 11u);
    EXPECT_EQ(tree.mtree_load(16 * 10 + 8), nullptr);
    EXPECT_EQ(tree.mtree_insert_range(16 * 5, 16 * 5 + 1, xa_value(9), gfp::kKernel), -EEXIST);
    EXPECT_EQ(xa_value_of(tree.mtree_erase(16 * 20)), 21u);
    EXPECT_EQ(tree.mtree_load(16 * 20 + 7), nullptr);
    tree.mt_validate();

    // The first gap of 9 slots: [8, 15] gaps are 8 wide, the erased range left [312, 327].
    KernelState mas(tree, 0, 0);
    tree.mtree_lock();
    ASSERT_EQ(mas.mas_empty_area(0, ULONG_MAX, 9), 0);
    tree.mtree_unlock();
    EXPECT_EQ(mas.index(), 16u * 19 + 8);
    EXPECT_EQ(mas.last(), 16u * 19 + 16);

    unsigned long start = 0;
    ASSERT_EQ(tree.mtree_alloc_range(&start, xa_value(77), 9, 0, ULONG_MAX, gfp::kKernel), 0);
    EXPECT_EQ(start, 16u * 19 + 8);
    EXPECT_EQ(contents(tree).size(), 400u);
    tree.mt_validate();
    EXPECT_GT(world.nodes.live_objects(), 0u);
    tree.mtree_destroy();
  }
  EXPECT_EQ(world.nodes.live_objects(), 0u);
  EXPECT_GT(world.env.node_requests(), 0u);
}

TEST(KernelTree, InjectedNowaitFailureIsEnomemAndLeavesTheTreeAlone) {
  World world;
  KernelTree tree(KernelTree::kAllocRange);
  for (unsigned long i = 0; i < 100; ++i) ASSERT_EQ(tree.mtree_store_range(i * 4, i * 4 + 1, xa_value(i + 1), gfp::kKernel), 0);
  const auto before = contents(tree);
  const uint64_t live = world.nodes.live_objects();
  world.fail_nowait(true);
  {
    KernelState mas(tree, 1000, 1100);
    tree.mtree_lock();
    EXPECT_EQ(mas.mas_store_gfp(xa_value(5), gfp::kNowait), -ENOMEM);
    tree.mtree_unlock();
  }
  EXPECT_EQ(contents(tree), before);
  EXPECT_EQ(world.nodes.live_objects(), live);
  EXPECT_GT(world.env.node_request_failures(), 0u);
  tree.mt_validate();
  // GFP_KERNEL gets through: the store's GFP_NOWAIT attempt fails, mas_nomem drops the
  // lock and allocates with GFP_KERNEL.
  EXPECT_EQ(tree.mtree_store_range(1000, 1100, xa_value(5), gfp::kKernel), 0);
  EXPECT_EQ(xa_value_of(tree.mtree_load(1050)), 5u);
  tree.mt_validate();
  tree.mtree_destroy();
  EXPECT_EQ(world.nodes.live_objects(), 0u);
}

// A false -ENOMEM in both LTS trees' mas_alloc_nodes (fixed upstream by "maple_tree:
// fix alloc node fail issue", posted 2024-06-26, not in 6.1.192 nor 6.12.118; README,
// "False -ENOMEM"): a maple state keeps its nodes in a chain of maple_alloc nodes of 30
// slots. Topped up a second time, the loop fills the head, then steps to the next node
// without skipping a full one, asks kmem_cache_alloc_bulk for 0 objects, gets 0 and
// takes it for a failure. With 31 nodes held (a full head) a second request for 30 more
// fits in a new head; 31 more reach the full node. Every request granted: the
// accounting maple.false_enomem uses sees no failure. Reached only through a static
// function (internal_probe.c): no exported call asks one state for > 30 nodes twice.
TEST(KernelTree, SecondLargeNodeRequestOnOneStateIsAFalseEnomem) {
  World world;
  mmtk_maple_tree_init();
  const unsigned kernel = static_cast<unsigned>(gfp::kKernel);
  EXPECT_EQ(mmtk_probe_two_node_requests(31, 61, kernel), 0);
  EXPECT_EQ(mmtk_probe_two_node_requests(30, 62, kernel), 0);  // the head was not full
  EXPECT_EQ(world.env.node_request_failures(), 0u);
  const uint64_t requests = world.env.node_requests();
  EXPECT_EQ(mmtk_probe_two_node_requests(31, 62, kernel), -ENOMEM);
  EXPECT_GT(world.env.node_requests(), requests);
  EXPECT_EQ(world.env.node_request_failures(), 0u);  // every request was granted
  EXPECT_EQ(mmtk_probe_two_node_requests(31, 100, kernel), -ENOMEM);
  EXPECT_EQ(world.env.node_request_failures(), 0u);
  EXPECT_EQ(world.nodes.live_objects(), 0u);  // mas_destroy freed what was granted
}

TEST(KernelTree, PreallocateThenStoreWithoutAllocating) {
  World world;
  KernelTree tree(KernelTree::kAllocRange);
  for (unsigned long i = 0; i < 200; ++i) ASSERT_EQ(tree.mtree_store_range(i * 4, i * 4 + 1, xa_value(i + 1), gfp::kKernel), 0);
  KernelState mas(tree, 2, 401);  // a spanning store over many leaves
  tree.mtree_lock();
  ASSERT_EQ(mas.mas_preallocate(xa_value(9), gfp::kNowait), 0);
  const uint64_t requests = world.env.node_requests();
  world.fail_nowait(true);  // the store itself must not ask for anything
  mas.mas_store_prealloc(xa_value(9));
  mas.mas_destroy();
  tree.mtree_unlock();
  EXPECT_EQ(world.env.node_requests(), requests);
  EXPECT_EQ(xa_value_of(tree.mtree_load(300)), 9u);
  EXPECT_EQ(xa_value_of(tree.mtree_load(404)), 102u);
  tree.mt_validate();

  // A failed preallocation returns -ENOMEM and holds nothing.
  const uint64_t live = world.nodes.live_objects();
  KernelState again(tree, 500, 700);
  tree.mtree_lock();
  EXPECT_EQ(again.mas_preallocate(xa_value(3), gfp::kNowait), -ENOMEM);
  tree.mtree_unlock();
  EXPECT_EQ(world.nodes.live_objects(), live);
  tree.mtree_destroy();
  EXPECT_EQ(world.nodes.live_objects(), 0u);
}

// With CONFIG_DEBUG_MAPLE_TREE the kernel's MT_BUG_ON/MAS_WARN_ON print "BUG at
// <function>:<line>", the state and mt_dump, then call dump_stack(); BUG_ON calls BUG.
// Here the shim's entry points are driven as the kernel's macros drive them.
TEST(KernelTree, KernelAssertionsBecomeFailuresNamingTheFunction) {
  World world;
  KernelTree tree(KernelTree::kAllocRange);
  for (unsigned long i = 0; i < 50; ++i) ASSERT_EQ(tree.mtree_store_range(i * 4, i * 4 + 1, xa_value(i + 1), gfp::kKernel), 0);
  const std::string dump = tree.mt_dump();
  EXPECT_EQ(dump.rfind("maple_tree(", 0), 0u) << dump.substr(0, 200);
  EXPECT_NE(dump.find("height 2"), std::string::npos) << dump.substr(0, 200);
  try {
    mmtk_shim_printk("BUG at %s:%d (%u)\n", "mas_wr_walk", 2301, 1u);
    world.env.print(dump);
    mmtk_shim_dump_stack();
    FAIL() << "dump_stack() after a BUG line did not fail";
  } catch (const FailureError& e) {
    EXPECT_EQ(e.failure().check, "kernel.mt_bug");
    EXPECT_EQ(e.failure().site, "mas_wr_walk");
    EXPECT_EQ(e.failure().message, "BUG at mas_wr_walk:2301 (1)");
    EXPECT_NE(e.failure().dump.find("maple_tree("), std::string::npos);
  }
  try {
    mmtk_shim_printk("WARN at %s:%d (%u)\n", "mas_validate_limits", 7000, 1u);
    mmtk_shim_dump_stack();
    FAIL() << "dump_stack() after a WARN line did not fail";
  } catch (const FailureError& e) {
    EXPECT_EQ(e.failure().check, "kernel.mt_warn");
    EXPECT_EQ(e.failure().site, "mas_validate_limits");
  }
  try {
    mmtk_shim_bug("lib/maple_tree.c", 1234, "mas_alloc_nodes", "!allocated");
    FAIL() << "BUG_ON did not fail";
  } catch (const FailureError& e) {
    EXPECT_EQ(e.failure().check, "kernel.bug");
    EXPECT_EQ(e.failure().site, "mas_alloc_nodes");
    EXPECT_EQ(e.failure().message, "BUG_ON(!allocated) at maple_tree.c:1234");
  }
  tree.mtree_destroy();
}

TEST(KernelTree, TreeLockIsTheSchedulersSpinLock) {
  World world;
  KernelTree tree(KernelTree::kAllocRange | KernelTree::kRcu);
  world.fail_nowait(true);  // every store goes through mas_nomem, which drops the lock
  SeededChoices choices(7);
  sched::SchedulerOptions options;
  options.strategy = sched::StrategyConfig::preempt(0.3);
  sched::Scheduler scheduler(choices, options);
  for (unsigned long w = 0; w < 2; ++w) {
    scheduler.spawn("writer" + std::to_string(w), [&tree, w] {
      for (unsigned long op = 0; op < 80; ++op) {
        const unsigned long index = (op * 37 + w * 11) % 600;
        if (op % 5 == 4) tree.mtree_erase(index);
        else tree.mtree_store_range(index, index + 3, xa_value(w * 1000 + op + 1), gfp::kKernel);
      }
    });
  }
  const sched::RunResult result = scheduler.run();
  ASSERT_TRUE(result.ok()) << result.failure->headline() << "\n" << result.failure->dump.substr(0, 2000);
  EXPECT_GT(result.switches, 10u);
  tree.mt_validate();
  tree.mtree_destroy();
  sched::rcu_barrier();
  EXPECT_EQ(world.nodes.live_objects(), 0u);
}

// The kernel harness's allocation-failure walk, over node requests: fail the nth
// request of a fixed sequence of stores, for n = 1, 2, ... until a run passes without
// reaching n. Every outcome must be a clean -ENOMEM (or success) with the tree matching
// the model, valid, and nothing leaked.
TEST(KernelTree, FailNthWalkOverNodeRequests) {
  uint64_t walked = 0, enomem = 0;
  for (uint64_t nth = 1;; ++nth) {
    World world;
    KernelTree tree(KernelTree::kAllocRange);
    for (unsigned long i = 0; i < 120; ++i)
      ASSERT_EQ(tree.mtree_store_range(i * 8, i * 8 + 3, xa_value(i + 1), gfp::kKernel), 0);
    world.plan.set_fail_nth(nth);
    std::map<unsigned long, unsigned long> model;  // index -> value, on one index per store
    for (unsigned long op = 0; op < 40; ++op) {
      const unsigned long index = (op * 211) % 1100, last = index + (op % 7) * 9;
      KernelState mas(tree, index, last);
      tree.mtree_lock();
      int ret;
      if (op % 2) {
        ret = mas.mas_preallocate(xa_value(op + 500), gfp::kNowait);
        if (ret == 0) mas.mas_store_prealloc(xa_value(op + 500));
        mas.mas_destroy();
      } else {
        ret = mas.mas_store_gfp(xa_value(op + 500), gfp::kNowait);
      }
      tree.mtree_unlock();
      ASSERT_TRUE(ret == 0 || ret == -ENOMEM) << "nth " << nth << " op " << op << ": " << ret;
      if (ret == 0) model[index] = op + 500;
      else ++enomem;
      tree.mt_validate();
    }
    for (const auto& [index, value] : model)
      if (xa_value_of(tree.mtree_load(index)) != value) {
        // A later store may have covered it; only the last store to reach `index` counts.
        bool covered = false;
        for (unsigned long op = 0; op < 40; ++op) {
          const unsigned long i = (op * 211) % 1100, l = i + (op % 7) * 9;
          if (op + 500 > value && i <= index && index <= l) covered = true;
        }
        EXPECT_TRUE(covered) << "nth " << nth << ": index " << index;
      }
    const bool reached = world.plan.stats().fail_nth_failures > 0;
    tree.mtree_destroy();
    EXPECT_EQ(world.nodes.live_objects(), 0u) << "nth " << nth;
    if (!reached) break;
    ++walked;
    ASSERT_LT(nth, 10000u) << "the walk does not end";
  }
  EXPECT_GT(walked, 5u);
  EXPECT_GT(enomem, 5u);
}

// A store through a paused state and through a reset state: the cursor walked to an
// entry, was paused (or reset) as a caller dropping the lock does, and its range was
// set directly; the store lands on that range.
TEST(KernelTree, StoresThroughPausedAndResetStates) {
  World world;
  KernelTree tree(KernelTree::kAllocRange);
  for (unsigned long i = 0; i < 200; ++i)
    ASSERT_EQ(tree.mtree_store_range(i * 4, i * 4 + 1, xa_value(i + 1), gfp::kKernel), 0);
  for (bool reset : {false, true}) {
    KernelState mas(tree, 401, 401);
    tree.mtree_lock();
    EXPECT_EQ(xa_value_of(mas.mas_walk()), 101u);
    EXPECT_EQ(mas.index(), 400u);
    EXPECT_EQ(mas.last(), 401u);
    if (reset) mas.mas_reset();
    else mas.mas_pause();
    tree.mtree_unlock();
    tree.mtree_lock();
    const unsigned long first = reset ? 396 : 402, last = reset ? 398 : 403;
    mas.set_index_last(first, last);
    EXPECT_EQ(mas.mas_store_gfp(xa_value(reset ? 7 : 8), gfp::kNowait), 0);
    tree.mtree_unlock();
    EXPECT_EQ(xa_value_of(tree.mtree_load(first)), reset ? 7u : 8u);
    EXPECT_EQ(xa_value_of(tree.mtree_load(last)), reset ? 7u : 8u);
    tree.mt_validate();
  }
  EXPECT_EQ(xa_value_of(tree.mtree_load(400)), 101u);
  EXPECT_EQ(xa_value_of(tree.mtree_load(399)), 0u);
  tree.mtree_destroy();
  EXPECT_EQ(world.nodes.live_objects(), 0u);
}

// The bulk entry points the version has: mtree_dup (6.8+) copies the tree exactly,
// -ENOMEM leaves the copy empty with nothing held; mas_expected_entries (6.1, 6.12)
// then in-order mas_store builds the same entries.
TEST(KernelTree, CopiesTheTreeWithTheVersionsBulkEntryPoints) {
  EXPECT_TRUE(have_mtree_dup() || have_mas_expected_entries());
  World world;
  KernelTree tree(KernelTree::kAllocRange);
  for (unsigned long i = 0; i < 300; ++i)
    ASSERT_EQ(tree.mtree_store_range(i * 4, i * 4 + 1, xa_value(i + 1), gfp::kKernel), 0);
  const auto source = contents(tree);
  const uint64_t live = world.nodes.live_objects();
  if (have_mtree_dup()) {
    KernelTree copy(KernelTree::kAllocRange);
    ASSERT_EQ(tree.mtree_dup(copy, gfp::kNowait), 0);
    EXPECT_EQ(contents(copy), source);
    EXPECT_EQ(copy.mt_height(), tree.mt_height());
    EXPECT_EQ(world.nodes.live_objects(), 2 * live);  // the same nodes, copied
    copy.mt_validate();
    copy.mtree_destroy();
    KernelTree failed(KernelTree::kAllocRange);
    world.fail_nowait(true);
    EXPECT_EQ(tree.mtree_dup(failed, gfp::kNowait), -ENOMEM);
    world.fail_nowait(false);
    EXPECT_TRUE(contents(failed).empty());
    EXPECT_EQ(world.nodes.live_objects(), live);
    KernelTree sleeping(KernelTree::kAllocRange);
    ASSERT_EQ(tree.mt_dup_unlocked(sleeping, gfp::kKernel), 0);
    EXPECT_EQ(contents(sleeping), source);
    sleeping.mtree_destroy();
  } else {
    KernelTree copy(KernelTree::kAllocRange);
    EXPECT_EQ(tree.mtree_dup(copy, gfp::kNowait), -95);
  }
  if (have_mas_expected_entries()) {
    KernelTree copy(KernelTree::kAllocRange);
    {
      KernelState mas(copy, 0, 0);
      ASSERT_EQ(mas.mas_expected_entries(source.size()), 0);
      for (const auto& [index, range] : source) {
        mas.set_index_last(index, range.first);
        mas.mas_store(xa_value(range.second));
        ASSERT_EQ(mas.error(), 0);
      }
      mas.mas_destroy();
    }
    EXPECT_EQ(contents(copy), source);
    copy.mt_validate();
    copy.mtree_destroy();
  }
  EXPECT_EQ(world.nodes.live_objects(), live);
  tree.mtree_destroy();
  EXPECT_EQ(world.nodes.live_objects(), 0u);
}

// A finding of the tool: mtree_dup takes both trees' spin locks and then allocates
// with the caller's gfp, so mtree_dup(GFP_KERNEL) sleeps in atomic context (the
// kernel's own test suite calls it so, where spin locks never complain). The
// scheduler's might_sleep reports it; fork uses __mt_dup under the mmap_lock instead.
TEST(KernelTree, MtreeDupWithGfpKernelSleepsUnderTheSpinLock) {
  if (!have_mtree_dup()) GTEST_SKIP() << "linux " << kernel_version() << " has no mtree_dup";
  World world;
  KernelTree tree(KernelTree::kAllocRange);
  for (unsigned long i = 0; i < 100; ++i)
    ASSERT_EQ(tree.mtree_store_range(i * 4, i * 4 + 1, xa_value(i + 1), gfp::kKernel), 0);
  KernelTree copy(KernelTree::kAllocRange);
  try {
    tree.mtree_dup(copy, gfp::kKernel);
    FAIL() << "mtree_dup(GFP_KERNEL) under the spin locks was not reported";
  } catch (const FailureError& e) {
    EXPECT_EQ(e.failure().check, "sched.might_sleep") << e.failure().headline();
  }
  world.env.release_held();
}

// Our strict shape check is stricter than the kernel's mt_validate exactly where
// mt_validate is lenient: a bulk load (mas_expected_entries, in-order mas_store) may
// leave its rightmost leaf below the minimum (mas_destroy rebalances it only below
// min - 1), which mt_validate exempts (max = ULONG_MAX) and the strict check reports.
// Trees built by ordinary stores keep every node at the minimum and pass both.
TEST(KernelTree, StrictShapeCheckDoesNotExemptTheRightmostNodes) {
  if (!have_mas_expected_entries()) GTEST_SKIP() << "linux " << kernel_version() << " has no mas_expected_entries";
  World world;
  unsigned caught = 0;
  for (unsigned long n = 16; n <= 160; ++n) {
    KernelTree bulk(0);
    {
      KernelState mas(bulk, 0, 0);
      ASSERT_EQ(mas.mas_expected_entries(n), 0);
      for (unsigned long i = 0; i < n; ++i) {
        mas.set_index_last(10 * i, 10 * i + 4);
        mas.mas_store(xa_value(i + 1));
        ASSERT_EQ(mas.error(), 0);
      }
      mas.mas_destroy();
    }
    bulk.mt_validate();  // the kernel's own check passes
    try {
      bulk.check_strict_shape();
    } catch (const FailureError& e) {
      EXPECT_EQ(e.failure().check, "maple.strict_shape");
      EXPECT_NE(e.failure().message.find("rightmost, which mt_validate exempts"), std::string::npos)
          << e.failure().message;
      ++caught;
    }
    bulk.mtree_destroy();

    KernelTree stored(0);
    for (unsigned long i = 0; i < n; ++i)
      ASSERT_EQ(stored.mtree_store_range(10 * i, 10 * i + 4, xa_value(i + 1), gfp::kKernel), 0);
    stored.mt_validate();
    stored.check_strict_shape();
    stored.mtree_destroy();
  }
  EXPECT_GT(caught, 0u);
  EXPECT_EQ(world.nodes.live_objects(), 0u);
}

}  // namespace

// 6.12's reverse gap walk counts the room between a slot's start and the window's end
// as max - slot_min + 1, which wraps to 0 for a slot starting at 0 when max is
// ULONG_MAX: it never answers in the root's first slot for such a window. The model's
// tests/maple/api_test.cpp asks the model the same questions on the same trees.
TEST(KernelTree, EmptyAreaRevToUlongMaxNeverTakesTheRootsFirstSlot) {
  World world;
  auto rev = [](KernelTree& tree, unsigned long min, unsigned long max, unsigned long size, unsigned long* index,
                unsigned long* last) {
    KernelState mas(tree, 0, 0);
    tree.mtree_lock();
    const int ret = mas.mas_empty_area_rev(min, max, size);
    tree.mtree_unlock();
    *index = mas.index();
    *last = mas.last();
    return ret;
  };
  unsigned long index = 0, last = 0;
  {
    KernelTree tree(KernelTree::kAllocRange);
    ASSERT_EQ(tree.mtree_store_range(1000, ULONG_MAX - 10, xa_value(1), gfp::kKernel), 0);
    ASSERT_EQ(tree.mt_height(), 1u);
    EXPECT_EQ(rev(tree, 0, ULONG_MAX, 20, &index, &last), -EBUSY);
    EXPECT_EQ(rev(tree, 5, ULONG_MAX, 20, &index, &last), -EBUSY);
    EXPECT_EQ(rev(tree, 0, ULONG_MAX - 1, 20, &index, &last), 0);
    EXPECT_EQ(index, 980u);
    EXPECT_EQ(last, 999u);
    EXPECT_EQ(rev(tree, 0, ULONG_MAX, 10, &index, &last), 0);
    EXPECT_EQ(index, ULONG_MAX - 9);
    unsigned long start = 0;
    EXPECT_EQ(tree.mtree_alloc_rrange(&start, xa_value(2), 20, 0, ULONG_MAX, gfp::kKernel), -EBUSY);
    EXPECT_EQ(tree.mtree_alloc_rrange(&start, xa_value(2), 20, 0, ULONG_MAX - 1, gfp::kKernel), 0);
    EXPECT_EQ(start, 980u);
    tree.mtree_destroy();
  }
  {
    // The oracle's seed 1001 op 32 (oracle_cases.h).
    KernelTree tree(KernelTree::kAllocRange);
    unsigned long v = 1;
    for (const auto& [first, last] : maple::test::kSeed1001Op32Entries)
      ASSERT_EQ(tree.mtree_store_range(first, last, xa_value(v++), gfp::kKernel), 0);
    ASSERT_EQ(tree.mt_height(), 2u);
    EXPECT_EQ(rev(tree, 0xfffffffffffe78cd, ULONG_MAX, 0xd9, &index, &last), -EBUSY);
    EXPECT_EQ(rev(tree, 0xfffffffffffe78cd, ULONG_MAX - 1, 0xd9, &index, &last), 0);
    EXPECT_EQ(index, 0xfffffffffffff962u);
    EXPECT_EQ(last, 0xfffffffffffffa3au);
    tree.mtree_destroy();
  }
}

// Without MT_FLAGS_ALLOC_RANGE internal nodes are range_64 nodes, which keep no gaps,
// and the kernel's gap search (mas_anode_descend, mas_rev_awalk) descends only through
// gaps: it searches a root leaf, and on a taller tree passes over every child (a child
// slot is no gap) and answers -EBUSY whatever is free. The answer depends on the tree's
// height, not on its contents, so the differential job does not draw the op there.
TEST(KernelTree, GapSearchWithoutAllocRangeStopsAtTheRoot) {
  World world;
  for (unsigned flags : {0u, unsigned{KernelTree::kAllocRange}}) {
    KernelTree tree(flags);
    auto search = [&](bool reverse, unsigned long* index) {
      KernelState mas(tree, 0, 0);
      tree.mtree_lock();
      const int ret = reverse ? mas.mas_empty_area_rev(0, 100000, 5) : mas.mas_empty_area(0, 100000, 5);
      tree.mtree_unlock();
      *index = mas.index();
      return ret;
    };
    // Entries at 0..9 and 20..29 (a 10-index hole between them), then from 40 on.
    for (unsigned long i = 0; i < 30; ++i) {
      if (i >= 10 && i < 20) continue;
      ASSERT_EQ(tree.mtree_store_range(i, i, xa_value(i + 1), gfp::kKernel), 0);
    }
    unsigned long index = 0;
    ASSERT_EQ(tree.mt_height(), 2u);  // 20 entries and a hole need two leaves
    for (unsigned long i = 40; i < 400; ++i) ASSERT_EQ(tree.mtree_store_range(i, i, xa_value(i), gfp::kKernel), 0);
    ASSERT_GE(tree.mt_height(), 2u);
    if (flags & KernelTree::kAllocRange) {
      EXPECT_EQ(search(false, &index), 0);
      EXPECT_EQ(index, 10u);
      EXPECT_EQ(search(true, &index), 0);
      EXPECT_EQ(index, 100000u - 4);
    } else {
      EXPECT_EQ(search(false, &index), -EBUSY);
      EXPECT_EQ(search(true, &index), -EBUSY);
    }
    tree.mtree_destroy();
    // A root leaf is searched slot by slot on either kind of tree.
    KernelTree small(flags);
    ASSERT_EQ(small.mtree_store_range(0, 9, xa_value(1), gfp::kKernel), 0);
    ASSERT_EQ(small.mtree_store_range(20, 29, xa_value(2), gfp::kKernel), 0);
    ASSERT_EQ(small.mt_height(), 1u);
    KernelState mas(small, 0, 0);
    small.mtree_lock();
    EXPECT_EQ(mas.mas_empty_area(0, 100000, 5), 0);
    small.mtree_unlock();
    EXPECT_EQ(mas.index(), 10u);
    small.mtree_destroy();
  }
  EXPECT_EQ(world.nodes.live_objects(), 0u);
}

// A kernel bug the tool found (README, "A kernel bug: an RCU-mode destroy ..."): destroying a tree
// in RCU mode walks it once under the lock (mt_destroy_walk(free = false)), which
// rewrites each leaf pointer of a bottom-level node untyped (mte_dead_leaves) and then
// clears the start node's metadata (mt_clear_meta). A range_64 node keeps its metadata
// in its last slot unless it is full, and mt_clear_meta tells the two apart by the
// slot's type bits, which mte_dead_leaves has just removed: on a full node it writes
// the metadata over the low bytes of the last child's pointer, and the RCU callback
// (mt_free_walk) frees that clobbered pointer instead of the child. Only trees without
// MT_FLAGS_ALLOC_RANGE have range_64 internal nodes; only RCU mode defers the walk.
struct DestroyOutcome {
  unsigned height = 0;
  std::string failure;  // empty when every node came back after the grace period
};

DestroyOutcome destroy_after_grace_period(unsigned flags, unsigned long n) {
  World world;
  KernelTree tree(flags);
  for (unsigned long i = 0; i < n; ++i) EXPECT_EQ(tree.mtree_store_range(i, i, xa_value(i + 1), gfp::kKernel), 0);
  DestroyOutcome out{tree.mt_height(), ""};
  tree.mtree_destroy();
  try {
    rcu_backend().rcu_barrier();
  } catch (const FailureError& e) {
    out.failure = e.failure().check + ": " + e.failure().message;
    return out;
  }
  if (world.nodes.live_objects() != 0) out.failure = std::to_string(world.nodes.live_objects()) + " nodes leaked";
  return out;
}

TEST(KernelTree, RcuDestroyOfAFullRange64NodeFreesAClobberedPointer) {
  unsigned long first_bad = 0, bad = 0;
  for (unsigned long n = 1; n <= 400; ++n) {
    const DestroyOutcome rcu = destroy_after_grace_period(KernelTree::kRcu, n);
    // The same trees with gap-tracking (arange_64) internal nodes, or freed at once.
    EXPECT_EQ(destroy_after_grace_period(KernelTree::kRcu | KernelTree::kAllocRange, n).failure, "") << n;
    EXPECT_EQ(destroy_after_grace_period(0, n).failure, "") << n;
    if (rcu.failure.empty()) continue;
    ++bad;
    if (!first_bad) {
      first_bad = n;
      // The clobbered pointer is an object of the chunk the child is in (its low 16 bits
      // cleared): where the slab places pages (fixed offsets of 2 MiB chunks) makes it
      // the same object on every run.
      EXPECT_EQ(rcu.failure.rfind("slab.double_free: cache 'maple_node': object 0 of slab pfn", 0), 0u) << rcu.failure;
    }
    // A root of leaves (height 2) that is full: one more entry than the last clean tree.
    EXPECT_EQ(rcu.height, 2u) << n << ": " << rcu.failure;
  }
  EXPECT_GT(first_bad, 0u) << "linux " << kernel_version() << " destroys full range_64 roots cleanly in RCU mode";
  EXPECT_GT(bad, 1u);
}

}  // namespace mmt::kernel
