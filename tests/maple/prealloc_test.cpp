// Preallocation tests: the worst-case node count reserved per store type matches the
// kernel's mas_prealloc_calc ([P-1]/[P-2] in notes/maple-tree.md), a preallocation
// that cannot be met leaves nothing behind (check_prealloc), a preallocated store
// leaves nothing behind, and a second store inside one preallocation window is a BUG
// that carries the tree dump (the seed-000 crash).
#include <gtest/gtest.h>

#include "maple_test_util.h"
#include "mmtorture/maple/kernel_api.h"
#include "store_scenarios.h"

using namespace mmt::maple::test;

namespace {

class MaplePrealloc : public MapleFixture {};

// The kernel's formula for the planned store (h = mt_height before the store).
unsigned long expected_request(const maple_tree* mt, store_type type, const Store& s) {
  const unsigned long h = mt_height(mt);
  switch (type) {
    case wr_store_root:
      if (s.index == 0 && s.last == 0) return xa_is_internal(s.entry) ? 1 : 0;
      return 1;
    case wr_exact_fit:
    case wr_append:
    case wr_slot_store:
      return 0;
    case wr_node_store:
      return mt_in_rcu(mt) ? 1 : 0;
    case wr_new_root:
      return 1;
    case wr_split_store:
      return 1 + 2 * h;
    case wr_rebalance:
      return 2 * h - 1;
    case wr_spanning_store:
      return 1 + 3 * h;
    case wr_invalid:
      break;
  }
  return ~0ul;
}

TEST_F(MaplePrealloc, RequestMatchesTheKernelFormulaAndStoreConsumesIt) {
  for (const ScenarioSpec& spec : all_scenarios()) {
    SCOPED_TRACE(spec.name());
    DEFINE_MTREE(tree);
    TreeGuard guard(&tree);
    build_tree(&tree, spec);
    const auto store = find_store(&tree, spec);
    ASSERT_TRUE(store.has_value()) << "no store of this type found";
    EXPECT_EQ(store->request, expected_request(&tree, spec.type, *store))
        << "height " << mt_height(&tree) << " store [" << store->index << ", " << store->last << "]";

    DEFINE_MTREE(reference);
    TreeGuard reference_guard(&reference);
    mt_init_flags(&reference, tree.ma_flags);  // __mt_dup wants the same attributes
    ASSERT_EQ(mtree_dup(&tree, &reference, GFP_KERNEL), 0);
    ASSERT_EQ(mtree_store_range(&reference, store->index, store->last, store->entry, GFP_KERNEL), 0);

    // mas_preallocate reserves exactly the request; mas_store_prealloc uses only those
    // nodes and frees what it did not use.
    mtree_lock(&tree);
    MA_STATE(mas, &tree, store->index, store->last);
    ASSERT_EQ(mas_preallocate(&mas, store->entry, GFP_KERNEL), 0);
    EXPECT_EQ(mas_allocated(&mas), store->request);
    mas_store_prealloc(&mas, store->entry);
    EXPECT_EQ(mas.store_type, spec.type);
    EXPECT_EQ(mas_allocated(&mas), 0u);
    mtree_unlock(&tree);
    EXPECT_EQ(stray_nodes({&tree, &reference}), 0);
    EXPECT_EQ(tree_ranges(&tree), tree_ranges(&reference));
    EXPECT_TREE_VALID(&tree);
    rcu_barrier();
    EXPECT_EQ(stray_nodes({&tree, &reference}), 0);
    mtree_destroy(&reference);
    mtree_destroy(&tree);
  }
}

TEST_F(MaplePrealloc, NowaitWithTooSmallBudgetFailsLeavingNothing) {
  for (const ScenarioSpec& spec : all_scenarios()) {
    SCOPED_TRACE(spec.name());
    DEFINE_MTREE(tree);
    TreeGuard guard(&tree);
    build_tree(&tree, spec);
    const auto store = find_store(&tree, spec);
    ASSERT_TRUE(store.has_value());
    if (store->request < 2) continue;  // a budget of 1 covers it
    const std::string before = mmt::maple::mt_dump_string(&tree, mt_dump_hex);
    const long live = mt_nr_allocated();
    mtree_lock(&tree);
    MA_STATE(mas, &tree, store->index, store->last);
    mt_set_non_kernel(1);
    EXPECT_EQ(mas_preallocate(&mas, store->entry, GFP_NOWAIT), -ENOMEM);
    mt_set_non_kernel(0);
    EXPECT_EQ(mas_allocated(&mas), 0u);
    mtree_unlock(&tree);
    EXPECT_EQ(mt_nr_allocated(), live);
    EXPECT_EQ(mmt::maple::mt_dump_string(&tree, mt_dump_hex), before);
    // The same store with the full budget succeeds.
    mtree_lock(&tree);
    mas_set_range(&mas, store->index, store->last);
    mt_set_non_kernel(static_cast<unsigned>(store->request));
    EXPECT_EQ(mas_preallocate(&mas, store->entry, GFP_NOWAIT), 0);
    mt_set_non_kernel(0);
    mas_store_prealloc(&mas, store->entry);
    mtree_unlock(&tree);
    EXPECT_TREE_VALID(&tree);
    EXPECT_EQ(stray_nodes({&tree}), 0);
    mtree_destroy(&tree);
  }
}

// check_prealloc's shape: a tree of height 3+, a store that needs many nodes.
TEST_F(MaplePrealloc, PreallocateThenDestroyWithoutStoring) {
  DEFINE_MTREE(tree);
  TreeGuard guard(&tree);
  fill_tens(&tree, 2000);
  MA_STATE(mas, &tree, 1000, 1500);  // spanning store
  mtree_lock(&tree);
  ASSERT_EQ(mas_preallocate(&mas, xa_mk_value(1), GFP_KERNEL), 0);
  EXPECT_EQ(mas_allocated(&mas), 1 + 3ul * mt_height(&tree));
  EXPECT_EQ(mt_nr_allocated(), static_cast<int>(mmt::maple::count_tree_nodes(&tree) + mas_allocated(&mas)));
  mas_destroy(&mas);
  EXPECT_EQ(mas_allocated(&mas), 0u);
  mtree_unlock(&tree);
  EXPECT_EQ(stray_nodes({&tree}), 0);
  mtree_destroy(&tree);
}

// The seed-000 crash: mas_preallocate covers one store. A caller that stores through
// the same state first (consuming the reservation) and then calls mas_store_prealloc
// for a store that needs nodes hits the BUG, which carries the tree dump.
TEST_F(MaplePrealloc, SecondStoreInOnePreallocationWindowIsABug) {
  DEFINE_MTREE(tree);
  TreeGuard guard(&tree);
  fill_tens(&tree, 8);  // one full leaf
  ASSERT_EQ(mt_height(&tree), 1u);
  mtree_lock(&tree);
  MA_STATE(mas, &tree, 52, 53);
  store_type type;
  ASSERT_EQ(mmt::maple::mas_prealloc_request(&mas, xa_mk_value(1), &type), 3u);
  ASSERT_EQ(type, wr_split_store);
  ASSERT_EQ(mas_preallocate(&mas, xa_mk_value(1), GFP_KERNEL), 0);
  ASSERT_EQ(mas_allocated(&mas), 3u);
  // First store through the window: the split uses two leaves and a new root.
  mas_store(&mas, xa_mk_value(1));
  ASSERT_FALSE(mas_is_err(&mas));
  ASSERT_EQ(mt_height(&tree), 2u);
  ASSERT_EQ(mas_allocated(&mas), 0u);
  // Second store: across both new leaves, a spanning store needing 1 + 3h nodes.
  mas_set_range(&mas, 20, 120);
  try {
    mas_store_prealloc(&mas, xa_mk_value(2));
    ADD_FAILURE() << "a store beyond the preallocation did not BUG";
  } catch (const mmt::FailureError& e) {
    EXPECT_EQ(e.failure().check, "maple.bug");
    EXPECT_EQ(e.failure().site, "mas_store_prealloc");
    EXPECT_NE(e.failure().dump.find("maple_tree"), std::string::npos) << e.failure().dump;
    EXPECT_NE(e.failure().message.find("already used this preallocation window"), std::string::npos)
        << e.failure().message;
  }
  mas_destroy(&mas);
  mtree_unlock(&tree);
  // The failed store touched nothing: the tree is still whole.
  EXPECT_TREE_VALID(&tree);
  EXPECT_EQ(mtree_load(&tree, 52), xa_mk_value(1));
  EXPECT_EQ(stray_nodes({&tree}), 0);
  mtree_destroy(&tree);
}

TEST_F(MaplePrealloc, SecondStoreIsABugEvenWhenNodesAreLeft) {
  // The seed-000 lesson: the first store may leave enough reserved nodes for the second,
  // which hides the bug from a left-over-node check; counting stores per window does not.
  DEFINE_MTREE(tree);
  TreeGuard guard(&tree);
  fill_tens(&tree, 8);
  mtree_lock(&tree);
  MA_STATE(mas, &tree, 52, 53);
  ASSERT_EQ(mas_preallocate(&mas, xa_mk_value(1), GFP_KERNEL), 0);
  mas_set(&mas, 10);
  ASSERT_NE(mas_walk(&mas), nullptr);
  mas_store(&mas, xa_mk_value(3));  // over the whole range found: an exact fit, no node used
  EXPECT_EQ(mas_allocated(&mas), 3u);
  mas_set_range(&mas, 52, 53);
  EXPECT_THROW(mas_store_prealloc(&mas, xa_mk_value(1)), mmt::FailureError);
  mas_destroy(&mas);
  mtree_unlock(&tree);
  EXPECT_TREE_VALID(&tree);
  mtree_destroy(&tree);
}

}  // namespace
