// Allocation failure walk: for every store type (root expand, exact fit, append, slot
// store, node store, split with and without a push to a sibling, rebalance, spanning
// store, new root; RCU and non-RCU; plain and allocation-range trees) the store is
// repeated with the nth node allocation failing, n = 1, 2, ... until a run reaches no
// nth allocation. Every attempt must either fail with -ENOMEM leaving the tree exactly
// as it was (same dump, valid) or succeed with the tree as a failure-free store leaves
// it; and no node may be lost (live nodes = tree nodes + RCU-pending).
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "maple_test_util.h"
#include "mmtorture/maple/kernel_api.h"
#include "store_scenarios.h"

using namespace mmt::maple::test;

namespace {

class MapleFailureWalk : public MapleFixture {};

// One way of performing a store: returns 0 or a negative errno.
struct StoreMethod {
  const char* name;
  bool nowait_succeeds;  // GFP_NOWAIT requests succeed unless fail-nth hits them
  std::function<int(maple_tree*, const Store&)> store;
};

int store_mtree(maple_tree* mt, const Store& s) { return mtree_store_range(mt, s.index, s.last, s.entry, GFP_KERNEL); }

int store_mas_gfp(maple_tree* mt, const Store& s) {
  MA_STATE(mas, mt, s.index, s.last);
  mtree_lock(mt);
  const int ret = mas_store_gfp(&mas, s.entry, GFP_KERNEL);
  EXPECT_EQ(mas_allocated(&mas), 0u);
  mtree_unlock(mt);
  return ret;
}

int store_preallocated(maple_tree* mt, const Store& s) {
  MA_STATE(mas, mt, s.index, s.last);
  mtree_lock(mt);
  int ret = mas_preallocate(&mas, s.entry, GFP_KERNEL);
  if (ret == 0) {
    mas_store_prealloc(&mas, s.entry);
  } else {
    EXPECT_EQ(ret, -ENOMEM);
    EXPECT_EQ(mas_allocated(&mas), 0u) << "a failed mas_preallocate kept nodes";
  }
  mtree_unlock(mt);
  return ret;
}

const StoreMethod kMethods[] = {
    {"mtree_store_range", false, store_mtree},
    {"mtree_store_range+nowait", true, store_mtree},
    {"mas_store_gfp", false, store_mas_gfp},
    {"mas_store_gfp+nowait", true, store_mas_gfp},
    {"mas_preallocate", false, store_preallocated},
};

// Runs the failure walk for one scenario and method. Returns the number of attempts
// that failed with -ENOMEM.
unsigned walk_failures(const ScenarioSpec& spec, const StoreMethod& method) {
  DEFINE_MTREE(base);
  TreeGuard base_guard(&base);
  build_tree(&base, spec);
  const auto store = find_store(&base, spec);
  EXPECT_TRUE(store.has_value()) << "no store of this type found";
  if (!store) return 0;

  // The expected result: the same store with no failure injected.
  DEFINE_MTREE(reference);
  TreeGuard reference_guard(&reference);
  mt_init_flags(&reference, base.ma_flags);  // __mt_dup wants the same attributes
  EXPECT_EQ(mtree_dup(&base, &reference, GFP_KERNEL), 0);
  EXPECT_EQ(mtree_store_range(&reference, store->index, store->last, store->entry, GFP_KERNEL), 0);
  const auto expected = tree_ranges(&reference);

  mmt::maple::TestNodeAllocator& alloc = mmt::maple::default_test_allocator();
  unsigned enomem = 0;
  for (uint64_t n = 1; n < 500; ++n) {
    SCOPED_TRACE(testing::Message() << method.name << " fail_nth " << n);
    DEFINE_MTREE(tree);
    TreeGuard tree_guard(&tree);
    mt_init_flags(&tree, base.ma_flags);
    EXPECT_EQ(mtree_dup(&base, &tree, GFP_KERNEL), 0);
    rcu_barrier();
    const std::string before = mmt::maple::mt_dump_string(&tree, mt_dump_hex);

    alloc.reset_counters();
    alloc.set_nowait_succeeds(method.nowait_succeeds);
    alloc.set_fail_nth(n);
    const int ret = method.store(&tree, *store);
    const bool reached = alloc.attempts() >= n;
    alloc.set_fail_nth(0);
    alloc.set_nowait_succeeds(false);

    if (ret == -ENOMEM) {
      ++enomem;
      EXPECT_TRUE(reached) << "-ENOMEM without an injected failure";
      EXPECT_EQ(mmt::maple::mt_dump_string(&tree, mt_dump_hex), before) << "a failed store changed the tree";
    } else {
      EXPECT_EQ(ret, 0);
      EXPECT_EQ(tree_ranges(&tree), expected) << describe(tree_ranges(&tree));
    }
    EXPECT_TREE_VALID(&tree);
    EXPECT_EQ(stray_nodes({&base, &reference, &tree}), 0) << "nodes lost";
    if (testing::Test::HasFailure()) return enomem;
    if (!reached) return enomem;  // the store made fewer than n allocation attempts
  }
  ADD_FAILURE() << "failure walk did not terminate";
  return enomem;
}

void walk_type(store_type type) {
  for (const ScenarioSpec& spec : all_scenarios()) {
    if (spec.type != type) continue;
    SCOPED_TRACE(spec.name());
    for (const StoreMethod& method : kMethods) {
      const unsigned enomem = walk_failures(spec, method);
      // A store that needs nodes must have been refused at least once by GFP_KERNEL
      // methods (fail-nth hits the sleeping allocation).
      const auto needs_nodes = [&] {
        DEFINE_MTREE(tree);
        TreeGuard guard(&tree);
        build_tree(&tree, spec);
        const auto store = find_store(&tree, spec);
        return store && store->request > 0;
      };
      if (!method.nowait_succeeds && needs_nodes()) {
        EXPECT_GT(enomem, 0u) << method.name;
      }
      if (testing::Test::HasFailure()) return;
    }
  }
}

TEST_F(MapleFailureWalk, StoreRoot) { walk_type(wr_store_root); }
TEST_F(MapleFailureWalk, ExactFit) { walk_type(wr_exact_fit); }
TEST_F(MapleFailureWalk, Append) { walk_type(wr_append); }
TEST_F(MapleFailureWalk, SlotStore) { walk_type(wr_slot_store); }
TEST_F(MapleFailureWalk, NodeStore) { walk_type(wr_node_store); }
TEST_F(MapleFailureWalk, SplitStore) { walk_type(wr_split_store); }
TEST_F(MapleFailureWalk, Rebalance) { walk_type(wr_rebalance); }
TEST_F(MapleFailureWalk, SpanningStore) { walk_type(wr_spanning_store); }
TEST_F(MapleFailureWalk, NewRoot) { walk_type(wr_new_root); }

// Erase retries through mas_nomem with GFP_KERNEL: walk its failures too. A failed
// erase returns the entry but leaves it in place (as the kernel, whose mas_erase
// cannot report -ENOMEM); the tree must stay whole either way.
TEST_F(MapleFailureWalk, EraseCausingRebalance) {
  DEFINE_MTREE(base);
  TreeGuard base_guard(&base);
  fill_tens(&base, 300);
  mmt::maple::TestNodeAllocator& alloc = mmt::maple::default_test_allocator();
  for (unsigned long victim : {0ul, 1500ul, 2500ul}) {
    for (uint64_t n = 1; n < 200; ++n) {
      DEFINE_MTREE(tree);
      TreeGuard guard(&tree);
      mt_init_flags(&tree, base.ma_flags);
      ASSERT_EQ(mtree_dup(&base, &tree, GFP_KERNEL), 0);
      // Erase a run so leaves fall below minimum occupancy; the nth allocation of the
      // whole run fails.
      alloc.reset_counters();
      alloc.set_fail_nth(n);
      for (unsigned long i = victim; i < victim + 60 && i < 3000; i += 10) {
        EXPECT_EQ(mtree_erase(&tree, i), xa_mk_value(i / 10));
        ASSERT_TREE_VALID(&tree);
        ASSERT_EQ(stray_nodes({&base, &tree}), 0);
      }
      alloc.set_fail_nth(0);
      if (alloc.attempts() < n) {
        EXPECT_GT(n, 2u) << "erasing from " << victim << " never allocated";
        break;
      }
    }
  }
}

}  // namespace
