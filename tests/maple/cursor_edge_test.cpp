// Cursor states at the edges, as 6.12 leaves them: a tree whose only entry is the root
// entry at index 0, a search that reached its limit (overflow / underflow), a none
// state on a tree that grew since. The kernel's own tests (mmtorture-conformance
// --tree model: check_root_expand, check_state_handling) found where the model
// differed; tests/kernel/cursor_edges_test.cpp compares the model with the kernel's
// tree on many such sequences.
#include <gtest/gtest.h>

#include "maple_test_util.h"
#include "mmtorture/maple/kernel_api.h"

namespace {

class MapleCursorEdges : public MapleFixture {};

// mas_find_rev from the root state used to return the root entry again, so a reverse
// iteration over a root-entry tree never ended.
TEST_F(MapleCursorEdges, ReverseIterationOverARootEntryEnds) {
  DEFINE_MTREE(tree);
  ASSERT_EQ(mtree_store(&tree, 0, xa_mk_value(7), GFP_KERNEL), 0);
  MA_STATE(mas, &tree, ULONG_MAX, ULONG_MAX);
  void* entry;
  int seen = 0;
  mas_for_each_rev(&mas, entry, 0) {
    EXPECT_EQ(entry, xa_mk_value(7));
    ASSERT_LT(++seen, 3) << "mas_for_each_rev does not end";
  }
  EXPECT_EQ(seen, 1);
  EXPECT_EQ(mas.status, ma_none);
  mtree_destroy(&tree);
}

// Past the root entry is the range [1, ULONG_MAX], status none, whether the cursor was
// on the entry or about to walk to it.
TEST_F(MapleCursorEdges, NextFromTheRootEntryLeavesTheRangeAfterIt) {
  DEFINE_MTREE(tree);
  ASSERT_EQ(mtree_store(&tree, 0, xa_mk_value(7), GFP_KERNEL), 0);
  MA_STATE(mas, &tree, 0, 0);
  EXPECT_EQ(mas_next(&mas, ULONG_MAX), nullptr);  // from the start state
  EXPECT_EQ(mas.index, 1u);
  EXPECT_EQ(mas.last, ULONG_MAX);
  EXPECT_EQ(mas.status, ma_none);

  mas_set(&mas, 0);
  EXPECT_EQ(mas_walk(&mas), xa_mk_value(7));
  EXPECT_EQ(mas.status, ma_root);
  EXPECT_EQ(mas_next(&mas, ULONG_MAX), nullptr);  // from the root state
  EXPECT_EQ(mas.index, 1u);
  EXPECT_EQ(mas.last, ULONG_MAX);
  EXPECT_EQ(mas.status, ma_none);

  // ... and mas_prev from there comes back to the entry, then underflows.
  EXPECT_EQ(mas_prev(&mas, 0), xa_mk_value(7));
  EXPECT_EQ(mas.index, 0u);
  EXPECT_EQ(mas.status, ma_root);
  EXPECT_EQ(mas_prev(&mas, 0), nullptr);
  EXPECT_EQ(mas.status, ma_underflow);
  mtree_destroy(&tree);
}

// A none state walks again: the tree may have grown since the cursor found it empty.
TEST_F(MapleCursorEdges, NextFromNoneWalksTheTreeAgain) {
  DEFINE_MTREE(tree);
  MA_STATE(mas, &tree, 5, 5);
  EXPECT_EQ(mas_walk(&mas), nullptr);
  EXPECT_EQ(mas.status, ma_none);
  for (unsigned long i = 1; i <= 40; ++i)
    ASSERT_EQ(mtree_store_range(&tree, i * 10, i * 10 + 5, xa_mk_value(i), GFP_KERNEL), 0);
  mas.index = mas.last = 5;
  EXPECT_EQ(mas_next(&mas, ULONG_MAX), xa_mk_value(1));
  EXPECT_EQ(mas.index, 10u);
  EXPECT_EQ(mas.last, 15u);
  mtree_destroy(&tree);
}

// A search that reached its limit keeps the cursor on the last slot it looked at (the
// status says which way it ran out); a wider limit carries on from there, and
// mas_find_rev does not clear its underflow.
TEST_F(MapleCursorEdges, LimitsLeaveTheCursorOnTheLastSlot) {
  DEFINE_MTREE(tree);
  for (unsigned long i = 1; i <= 40; ++i)
    ASSERT_EQ(mtree_store_range(&tree, i * 10, i * 10 + 5, xa_mk_value(i), GFP_KERNEL), 0);
  MA_STATE(mas, &tree, 100, 100);
  EXPECT_EQ(mas_walk(&mas), xa_mk_value(10));
  EXPECT_EQ(mas_next(&mas, 108), nullptr);  // [106, 109] is empty and ends past 108
  EXPECT_EQ(mas.status, ma_overflow);
  EXPECT_EQ(mas.index, 106u);
  EXPECT_EQ(mas.last, 109u);
  EXPECT_EQ(mas_next(&mas, ULONG_MAX), xa_mk_value(11));
  EXPECT_EQ(mas.index, 110u);

  EXPECT_EQ(mas_find_rev(&mas, 110), nullptr);  // nothing below the limit
  EXPECT_EQ(mas.status, ma_underflow);
  EXPECT_EQ(mas.index, 110u);
  EXPECT_EQ(mas_find_rev(&mas, 0), xa_mk_value(10));
  EXPECT_EQ(mas.index, 100u);
  mtree_destroy(&tree);
}

}  // namespace
