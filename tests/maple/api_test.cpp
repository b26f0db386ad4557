// API tests: each maple tree function against the kernel's documented semantics
// (lib/maple_tree.c, lib/test_maple_tree.c), written kernel-style through the facade.
// Address-space pictures use one character per index: '.' empty, a letter an entry.
#include <gtest/gtest.h>

#include <vector>

#include "maple/internal.h"
#include "maple_test_util.h"
#include "mmtorture/maple/kernel_api.h"
#include "oracle_cases.h"

using mmt::maple::test::Range;
using mmt::maple::test::tree_ranges;

namespace {

class MapleApi : public MapleFixture {};

// Fills [i*10, i*10+5] with xa_mk_value(i) for i in [0, count): enough entries for a
// multi-level tree when count is large.
void fill_tens(maple_tree* mt, unsigned long count) {
  for (unsigned long i = 0; i < count; ++i)
    ASSERT_EQ(mtree_store_range(mt, i * 10, i * 10 + 5, xa_mk_value(i), GFP_KERNEL), 0);
}

// ---------------------------------------------------------------------------------
// Root entries: a tree holding only index 0 keeps the entry in ma_root.
// ---------------------------------------------------------------------------------
TEST_F(MapleApi, RootEntryStoredDirectly) {
  DEFINE_MTREE(tree);
  // A.........  (index 0 only)
  ASSERT_EQ(mtree_store(&tree, 0, xa_mk_value(7), GFP_KERNEL), 0);
  EXPECT_EQ(tree.ma_root, xa_mk_value(7));
  EXPECT_FALSE(xa_is_node(tree.ma_root));
  EXPECT_EQ(mt_nr_allocated(), 0);
  EXPECT_EQ(mt_height(&tree), 0u);
  EXPECT_EQ(mtree_load(&tree, 0), xa_mk_value(7));
  EXPECT_EQ(mtree_load(&tree, 1), nullptr);
  EXPECT_EQ(mtree_load(&tree, ULONG_MAX), nullptr);

  MA_STATE(mas, &tree, 5, 5);
  EXPECT_EQ(mas_walk(&mas), nullptr);
  EXPECT_EQ(mas.index, 1u);
  EXPECT_EQ(mas.last, ULONG_MAX);
  // mas_prev from the empty range above the root entry finds the entry (kernel
  // mas_prev_setup: a ma_none state re-walks, then returns the root entry).
  EXPECT_EQ(mas_prev(&mas, 0), xa_mk_value(7));
  EXPECT_EQ(mas.index, 0u);
  EXPECT_EQ(mas.last, 0u);
  mas_set(&mas, 0);
  EXPECT_EQ(mas_walk(&mas), xa_mk_value(7));
  EXPECT_EQ(mas.index, 0u);
  EXPECT_EQ(mas.last, 0u);
  EXPECT_EQ(mas_next(&mas, ULONG_MAX), nullptr);

  // AB........  storing at 1 expands the root into one leaf.
  ASSERT_EQ(mtree_store(&tree, 1, xa_mk_value(8), GFP_KERNEL), 0);
  EXPECT_TRUE(xa_is_node(tree.ma_root));
  EXPECT_EQ(mt_height(&tree), 1u);
  EXPECT_EQ(mt_nr_allocated(), 1);
  EXPECT_EQ(mtree_load(&tree, 0), xa_mk_value(7));
  EXPECT_EQ(mtree_load(&tree, 1), xa_mk_value(8));
  EXPECT_TREE_VALID(&tree);
  mtree_destroy(&tree);
  EXPECT_TRUE(mtree_empty(&tree));
  EXPECT_EQ(mt_nr_allocated(), 0);
}

TEST_F(MapleApi, RootEntryThatLooksInternalNeedsANode) {
  DEFINE_MTREE(tree);
  // Low bits '10' at index 0 would be mistaken for a node pointer: mas_root_expand.
  void* internal = xa_mk_internal(1000);
  ASSERT_FALSE(xa_is_advanced(internal));
  ASSERT_EQ(mtree_store(&tree, 0, internal, GFP_KERNEL), 0);
  EXPECT_TRUE(xa_is_node(tree.ma_root));
  EXPECT_EQ(mt_nr_allocated(), 1);
  EXPECT_EQ(mtree_load(&tree, 0), internal);
  EXPECT_TREE_VALID(&tree);
  mtree_destroy(&tree);
}

TEST_F(MapleApi, RootEntryErase) {
  DEFINE_MTREE(tree);
  ASSERT_EQ(mtree_store(&tree, 0, xa_mk_value(1), GFP_KERNEL), 0);
  EXPECT_EQ(mtree_erase(&tree, 1), nullptr);
  EXPECT_EQ(mtree_erase(&tree, 0), xa_mk_value(1));
  EXPECT_TRUE(mtree_empty(&tree));
  EXPECT_EQ(mtree_erase(&tree, 0), nullptr);
}

TEST_F(MapleApi, EmptyTreeLookups) {
  DEFINE_MTREE(tree);
  EXPECT_EQ(mtree_load(&tree, 0), nullptr);
  MA_STATE(mas, &tree, 1234, 1234);
  EXPECT_EQ(mas_walk(&mas), nullptr);
  EXPECT_EQ(mas.index, 0u);
  EXPECT_EQ(mas.last, ULONG_MAX);
  mas_set(&mas, 0);
  EXPECT_EQ(mas_find(&mas, ULONG_MAX), nullptr);
  unsigned long index = 0;
  EXPECT_EQ(mt_find(&tree, &index, ULONG_MAX), nullptr);
  EXPECT_EQ(mt_next(&tree, 0, ULONG_MAX), nullptr);
  EXPECT_EQ(mt_prev(&tree, 100, 0), nullptr);
}

// ---------------------------------------------------------------------------------
// Stores, loads, inserts, erases
// ---------------------------------------------------------------------------------
TEST_F(MapleApi, StoreRangeLoadAndWalk) {
  DEFINE_MTREE(tree);
  //  0        10         20
  //  ..........AAAAAAAAAAA.......
  ASSERT_EQ(mtree_store_range(&tree, 10, 20, xa_mk_value(1), GFP_KERNEL), 0);
  EXPECT_EQ(mtree_load(&tree, 9), nullptr);
  for (unsigned long i = 10; i <= 20; ++i) EXPECT_EQ(mtree_load(&tree, i), xa_mk_value(1)) << i;
  EXPECT_EQ(mtree_load(&tree, 21), nullptr);

  MA_STATE(mas, &tree, 15, 15);
  EXPECT_EQ(mas_walk(&mas), xa_mk_value(1));
  EXPECT_EQ(mas.index, 10u);
  EXPECT_EQ(mas.last, 20u);
  mas_set(&mas, 3);
  EXPECT_EQ(mas_walk(&mas), nullptr);
  EXPECT_EQ(mas.index, 0u);
  EXPECT_EQ(mas.last, 9u);
  mas_set(&mas, 21);
  EXPECT_EQ(mas_walk(&mas), nullptr);
  EXPECT_EQ(mas.index, 21u);
  EXPECT_EQ(mas.last, ULONG_MAX);

  //  ..........AAAAABBBAAA.......  a store in the middle splits A in three
  ASSERT_EQ(mtree_store_range(&tree, 15, 17, xa_mk_value(2), GFP_KERNEL), 0);
  mas_set(&mas, 12);
  EXPECT_EQ(mas_walk(&mas), xa_mk_value(1));
  EXPECT_EQ(mas.last, 14u);
  mas_set(&mas, 19);
  EXPECT_EQ(mas_walk(&mas), xa_mk_value(1));
  EXPECT_EQ(mas.index, 18u);
  EXPECT_EQ(mas.last, 20u);

  // mtree_store overwrites a single index.
  ASSERT_EQ(mtree_store(&tree, 20, xa_mk_value(3), GFP_KERNEL), 0);
  EXPECT_EQ(mtree_load(&tree, 20), xa_mk_value(3));
  EXPECT_EQ(mtree_load(&tree, 19), xa_mk_value(1));
  EXPECT_TREE_VALID(&tree);
  mtree_destroy(&tree);
}

TEST_F(MapleApi, ReservedEntriesAndBadRangesAreRejected) {
  DEFINE_MTREE(tree);
  ASSERT_EQ(mtree_store(&tree, 3, xa_mk_value(3), GFP_KERNEL), 0);
  // Advanced (internal <= XA_RETRY_ENTRY) entries are refused by the normal API.
  EXPECT_EQ(mtree_store(&tree, 1, xa_mk_internal(5), GFP_KERNEL), -EINVAL);
  EXPECT_EQ(mtree_store_range(&tree, 1, 2, XA_RETRY_ENTRY, GFP_KERNEL), -EINVAL);
  EXPECT_EQ(mtree_insert(&tree, 1, xa_mk_internal(5), GFP_KERNEL), -EINVAL);
  EXPECT_EQ(mtree_insert_range(&tree, 5, 9, xa_mk_internal(1), GFP_KERNEL), -EINVAL);
  // index > last.
  EXPECT_EQ(mtree_store_range(&tree, 10, 9, xa_mk_value(1), GFP_KERNEL), -EINVAL);
  EXPECT_EQ(mtree_insert_range(&tree, 10, 9, xa_mk_value(1), GFP_KERNEL), -EINVAL);
  // Nothing changed.
  const std::vector<Range> expected = {{3, 3, xa_mk_value(3)}};
  EXPECT_EQ(tree_ranges(&tree), expected);
  mtree_destroy(&tree);
}

TEST_F(MapleApi, InsertRefusesOccupiedRanges) {
  DEFINE_MTREE(tree);
  //  ..........AAAAAAAAAAA.......   10-20
  ASSERT_EQ(mtree_insert_range(&tree, 10, 20, xa_mk_value(1), GFP_KERNEL), 0);
  EXPECT_EQ(mtree_insert(&tree, 15, xa_mk_value(2), GFP_KERNEL), -EEXIST);
  EXPECT_EQ(mtree_insert_range(&tree, 5, 10, xa_mk_value(2), GFP_KERNEL), -EEXIST);
  EXPECT_EQ(mtree_insert_range(&tree, 20, 25, xa_mk_value(2), GFP_KERNEL), -EEXIST);
  EXPECT_EQ(mtree_insert_range(&tree, 0, ULONG_MAX, xa_mk_value(2), GFP_KERNEL), -EEXIST);
  //  BBBBBBBBBBAAAAAAAAAAACCCCCC   neighbours that touch are fine
  EXPECT_EQ(mtree_insert_range(&tree, 0, 9, xa_mk_value(2), GFP_KERNEL), 0);
  EXPECT_EQ(mtree_insert_range(&tree, 21, 30, xa_mk_value(3), GFP_KERNEL), 0);
  EXPECT_EQ(mtree_insert(&tree, 31, xa_mk_value(4), GFP_KERNEL), 0);
  EXPECT_EQ(mtree_insert(&tree, 31, xa_mk_value(5), GFP_KERNEL), -EEXIST);
  const std::vector<Range> expected = {
      {0, 9, xa_mk_value(2)}, {10, 20, xa_mk_value(1)}, {21, 30, xa_mk_value(3)}, {31, 31, xa_mk_value(4)}};
  EXPECT_EQ(tree_ranges(&tree), expected);
  EXPECT_TREE_VALID(&tree);
  mtree_destroy(&tree);
}

TEST_F(MapleApi, EraseRemovesTheWholeRange) {
  DEFINE_MTREE(tree);
  ASSERT_EQ(mtree_store_range(&tree, 10, 20, xa_mk_value(1), GFP_KERNEL), 0);
  ASSERT_EQ(mtree_store_range(&tree, 30, 40, xa_mk_value(2), GFP_KERNEL), 0);
  EXPECT_EQ(mtree_erase(&tree, 25), nullptr);
  EXPECT_EQ(mtree_erase(&tree, 15), xa_mk_value(1));
  EXPECT_EQ(mtree_load(&tree, 10), nullptr);
  EXPECT_EQ(mtree_load(&tree, 20), nullptr);
  // The erased range merges with both neighbouring NULL ranges: 0-29.
  MA_STATE(mas, &tree, 25, 25);
  EXPECT_EQ(mas_walk(&mas), nullptr);
  EXPECT_EQ(mas.index, 0u);
  EXPECT_EQ(mas.last, 29u);
  EXPECT_TREE_VALID(&tree);
  mtree_destroy(&tree);
}

TEST_F(MapleApi, NullRangesCoalesce) {
  DEFINE_MTREE(tree);
  //  ..........AAAAABBBBB.CCCCC..
  ASSERT_EQ(mtree_store_range(&tree, 10, 14, xa_mk_value(1), GFP_KERNEL), 0);
  ASSERT_EQ(mtree_store_range(&tree, 15, 19, xa_mk_value(2), GFP_KERNEL), 0);
  ASSERT_EQ(mtree_store_range(&tree, 21, 25, xa_mk_value(3), GFP_KERNEL), 0);
  //  ...............BBBBB.CCCCC..   NULL over A joins the NULL below it
  ASSERT_EQ(mtree_store_range(&tree, 10, 14, nullptr, GFP_KERNEL), 0);
  MA_STATE(mas, &tree, 12, 12);
  EXPECT_EQ(mas_walk(&mas), nullptr);
  EXPECT_EQ(mas.index, 0u);
  EXPECT_EQ(mas.last, 14u);
  //  .....................CCCCC..   NULL over B joins both sides: 0-20
  ASSERT_EQ(mtree_store_range(&tree, 15, 19, nullptr, GFP_KERNEL), 0);
  mas_set(&mas, 17);
  EXPECT_EQ(mas_walk(&mas), nullptr);
  EXPECT_EQ(mas.index, 0u);
  EXPECT_EQ(mas.last, 20u);
  //  A NULL store that only partly covers C: 0-22 empty, C keeps 23-25.
  ASSERT_EQ(mtree_store_range(&tree, 18, 22, nullptr, GFP_KERNEL), 0);
  mas_set(&mas, 5);
  EXPECT_EQ(mas_walk(&mas), nullptr);
  EXPECT_EQ(mas.last, 22u);
  EXPECT_EQ(mtree_load(&tree, 23), xa_mk_value(3));
  //  Everything NULL: one empty range.
  ASSERT_EQ(mtree_store_range(&tree, 23, 25, nullptr, GFP_KERNEL), 0);
  mas_set(&mas, 1000);
  EXPECT_EQ(mas_walk(&mas), nullptr);
  EXPECT_EQ(mas.index, 0u);
  EXPECT_EQ(mas.last, ULONG_MAX);
  EXPECT_TREE_VALID(&tree);
  mtree_destroy(&tree);
}

TEST_F(MapleApi, NullRangesCoalesceAcrossLeaves) {
  DEFINE_MTREE(tree);
  fill_tens(&tree, 200);
  ASSERT_GE(mt_height(&tree), 2u);
  // Erase a run of entries that crosses several leaves: one NULL range remains.
  for (unsigned long i = 40; i < 120; ++i) EXPECT_EQ(mtree_erase(&tree, i * 10), xa_mk_value(i));
  MA_STATE(mas, &tree, 800, 800);
  EXPECT_EQ(mas_walk(&mas), nullptr);
  EXPECT_EQ(mas.index, 396u);
  EXPECT_EQ(mas.last, 1199u);
  EXPECT_TREE_VALID(&tree);
  mtree_destroy(&tree);
}

// ---------------------------------------------------------------------------------
// Iteration
// ---------------------------------------------------------------------------------
TEST_F(MapleApi, FindNextPrevAcrossLeaves) {
  DEFINE_MTREE(tree);
  fill_tens(&tree, 300);  // [i*10, i*10+5] for i < 300: height >= 2
  ASSERT_GE(mt_height(&tree), 2u);
  MA_STATE(mas, &tree, 0, 0);
  void* entry;
  unsigned long i = 0;
  mtree_lock(&tree);
  mas_for_each(&mas, entry, ULONG_MAX) {
    ASSERT_EQ(entry, xa_mk_value(i));
    ASSERT_EQ(mas.index, i * 10);
    ASSERT_EQ(mas.last, i * 10 + 5);
    ++i;
  }
  EXPECT_EQ(i, 300u);

  // mas_find starting inside a range returns that range; later calls the next one.
  mas_set(&mas, 1003);
  EXPECT_EQ(mas_find(&mas, ULONG_MAX), xa_mk_value(100));
  EXPECT_EQ(mas.index, 1000u);
  EXPECT_EQ(mas_find(&mas, ULONG_MAX), xa_mk_value(101));
  // Starting in a gap finds the next entry; max limits the search.
  mas_set(&mas, 1007);
  EXPECT_EQ(mas_find(&mas, 1009), nullptr);
  mas_set(&mas, 1007);
  EXPECT_EQ(mas_find(&mas, 1010), xa_mk_value(101));

  // mas_find_rev from a gap goes down; mas_for_each_rev walks everything backwards.
  mas_set(&mas, 1008);
  EXPECT_EQ(mas_find_rev(&mas, 0), xa_mk_value(100));
  EXPECT_EQ(mas.last, 1005u);
  EXPECT_EQ(mas_find_rev(&mas, 0), xa_mk_value(99));
  mas_set(&mas, ULONG_MAX);
  i = 300;
  mas_for_each_rev(&mas, entry, 0) {
    --i;
    ASSERT_EQ(entry, xa_mk_value(i));
  }
  EXPECT_EQ(i, 0u);

  // mas_next / mas_prev from a walked position.
  mas_set(&mas, 500);
  EXPECT_EQ(mas_walk(&mas), xa_mk_value(50));
  EXPECT_EQ(mas_next(&mas, ULONG_MAX), xa_mk_value(51));
  EXPECT_EQ(mas_next(&mas, ULONG_MAX), xa_mk_value(52));
  EXPECT_EQ(mas_prev(&mas, 0), xa_mk_value(51));
  EXPECT_EQ(mas_prev(&mas, 0), xa_mk_value(50));
  EXPECT_EQ(mas_prev(&mas, 0), xa_mk_value(49));
  // Limits: nothing beyond max / below min.
  mas_set(&mas, 500);
  mas_walk(&mas);
  EXPECT_EQ(mas_next(&mas, 509), nullptr);
  mas_set(&mas, 500);
  mas_walk(&mas);
  EXPECT_EQ(mas_prev(&mas, 496), nullptr);
  // The last entry: next overflows, and prev afterwards returns it again.
  mas_set(&mas, 2990);
  EXPECT_EQ(mas_walk(&mas), xa_mk_value(299));
  EXPECT_EQ(mas_next(&mas, ULONG_MAX), nullptr);
  EXPECT_EQ(mas_prev(&mas, 0), xa_mk_value(299));
  mtree_unlock(&tree);
  mtree_destroy(&tree);
}

TEST_F(MapleApi, FindRangeReturnsEmptyRangesToo) {
  DEFINE_MTREE(tree);
  //  ..........AAAAA.....BBBBB.....
  ASSERT_EQ(mtree_store_range(&tree, 10, 14, xa_mk_value(1), GFP_KERNEL), 0);
  ASSERT_EQ(mtree_store_range(&tree, 20, 24, xa_mk_value(2), GFP_KERNEL), 0);
  // The first call returns the entry at or after index (like mas_find); later calls
  // return every range, empty or not.
  MA_STATE(mas, &tree, 0, 0);
  EXPECT_EQ(mas_find_range(&mas, ULONG_MAX), xa_mk_value(1));
  EXPECT_EQ(mas.index, 10u);
  EXPECT_EQ(mas.last, 14u);
  EXPECT_EQ(mas_find_range(&mas, ULONG_MAX), nullptr);
  EXPECT_EQ(mas.index, 15u);
  EXPECT_EQ(mas.last, 19u);
  EXPECT_EQ(mas_find_range(&mas, ULONG_MAX), xa_mk_value(2));
  EXPECT_EQ(mas.index, 20u);
  EXPECT_EQ(mas_next_range(&mas, ULONG_MAX), nullptr);
  EXPECT_EQ(mas.index, 25u);
  EXPECT_EQ(mas.last, ULONG_MAX);
  EXPECT_EQ(mas_prev_range(&mas, 0), xa_mk_value(2));
  EXPECT_EQ(mas_prev_range(&mas, 0), nullptr);
  EXPECT_EQ(mas.index, 15u);
  EXPECT_EQ(mas.last, 19u);
  // Starting on an occupied index returns that entry first.
  mas_set(&mas, 12);
  EXPECT_EQ(mas_find_range(&mas, ULONG_MAX), xa_mk_value(1));
  EXPECT_EQ(mas.index, 10u);
  mtree_destroy(&tree);
}

TEST_F(MapleApi, PauseResetSetAndSetRange) {
  DEFINE_MTREE(tree);
  fill_tens(&tree, 100);
  MA_STATE(mas, &tree, 0, 0);
  void* entry;
  unsigned long seen = 0;
  unsigned long expect_at = ULONG_MAX;  // where the writer stored while we were paused
  mtree_lock(&tree);
  mas_for_each(&mas, entry, ULONG_MAX) {
    ++seen;
    if (mas.index == expect_at) {
      EXPECT_EQ(entry, xa_mk_value(1000 + expect_at));  // the writer's entry is seen
    }
    if (xa_to_value(entry) < 100 && xa_to_value(entry) % 10 == 3) {
      // Drop the lock mid-iteration: pause, let a writer change the tree, resume.
      mas_pause(&mas);
      EXPECT_EQ(mas.status, ma_pause);
      mtree_unlock(&tree);
      const unsigned long next = (xa_to_value(entry) + 1) * 10;
      ASSERT_EQ(mtree_store_range(&tree, next, next + 5, xa_mk_value(1000 + next), GFP_KERNEL), 0);
      expect_at = next;
      mtree_lock(&tree);
    }
  }
  EXPECT_EQ(seen, 100u);

  // mas_reset re-walks from the root at the current index.
  mas_set(&mas, 305);
  EXPECT_EQ(mas_walk(&mas), xa_mk_value(30));
  mas_reset(&mas);
  EXPECT_EQ(mas.status, ma_start);
  EXPECT_EQ(mas_find(&mas, ULONG_MAX), xa_mk_value(30));

  // mas_set_range + mas_store writes exactly that range.
  mas_set_range(&mas, 306, 309);
  EXPECT_EQ(mas.index, 306u);
  EXPECT_EQ(mas.last, 309u);
  EXPECT_EQ(mas.status, ma_start);
  mt_set_non_kernel(10);
  mas_store(&mas, xa_mk_value(77));
  mt_set_non_kernel(0);
  EXPECT_FALSE(mas_is_err(&mas));
  mas_destroy(&mas);
  mtree_unlock(&tree);
  EXPECT_EQ(mtree_load(&tree, 305), xa_mk_value(30));
  EXPECT_EQ(mtree_load(&tree, 306), xa_mk_value(77));
  EXPECT_EQ(mtree_load(&tree, 309), xa_mk_value(77));
  EXPECT_EQ(mtree_load(&tree, 310), xa_mk_value(31));
  EXPECT_TREE_VALID(&tree);
  mtree_destroy(&tree);
}

TEST_F(MapleApi, MtFindNextPrevAndForEach) {
  DEFINE_MTREE(tree);
  fill_tens(&tree, 50);
  unsigned long index = 17;
  EXPECT_EQ(mt_find(&tree, &index, ULONG_MAX), xa_mk_value(2));
  EXPECT_EQ(index, 26u);  // one past the found range
  index = 13;
  EXPECT_EQ(mt_find(&tree, &index, ULONG_MAX), xa_mk_value(1));  // the range holding 13
  EXPECT_EQ(index, 16u);
  index = 17;
  EXPECT_EQ(mt_find(&tree, &index, 19), nullptr);
  EXPECT_EQ(mt_next(&tree, 22, ULONG_MAX), xa_mk_value(3));
  EXPECT_EQ(mt_prev(&tree, 22, 0), xa_mk_value(1));
  EXPECT_EQ(mt_prev(&tree, 3, 0), nullptr);
  EXPECT_EQ(mt_next(&tree, 490, ULONG_MAX), nullptr);

  void* entry;
  unsigned long count = 0;
  index = 0;
  mt_for_each(&tree, entry, index, ULONG_MAX) {
    EXPECT_EQ(entry, xa_mk_value(count));
    ++count;
  }
  EXPECT_EQ(count, 50u);
  // An entry ending at ULONG_MAX ends mt_for_each (the index wraps to 0).
  ASSERT_EQ(mtree_store_range(&tree, 10000, ULONG_MAX, xa_mk_value(9), GFP_KERNEL), 0);
  count = 0;
  index = 0;
  mt_for_each(&tree, entry, index, ULONG_MAX) ++count;
  EXPECT_EQ(count, 51u);
  mtree_destroy(&tree);
}

TEST_F(MapleApi, ZeroEntryIsNullToTheNormalApi) {
  DEFINE_MTREE(tree);
  ASSERT_EQ(mtree_store_range(&tree, 10, 20, XA_ZERO_ENTRY, GFP_KERNEL), 0);
  ASSERT_EQ(mtree_store(&tree, 30, xa_mk_value(3), GFP_KERNEL), 0);
  EXPECT_EQ(mtree_load(&tree, 15), nullptr);
  unsigned long index = 0;
  EXPECT_EQ(mt_find(&tree, &index, ULONG_MAX), xa_mk_value(3));  // skips the zero entry
  MA_STATE(mas, &tree, 0, 0);
  EXPECT_EQ(mas_find(&mas, ULONG_MAX), XA_ZERO_ENTRY);
  EXPECT_EQ(mas.index, 10u);
  EXPECT_EQ(mas.last, 20u);
  mas_set(&mas, 12);
  EXPECT_EQ(mas_walk(&mas), XA_ZERO_ENTRY);
  // The zero entry occupies the range: insert refuses it.
  EXPECT_EQ(mtree_insert(&tree, 12, xa_mk_value(1), GFP_KERNEL), -EEXIST);
  mtree_destroy(&tree);
}

// ---------------------------------------------------------------------------------
// Free-range search and allocation
// ---------------------------------------------------------------------------------
TEST_F(MapleApi, EmptyAreaForwardAndReverse) {
  DEFINE_MTREE(tree);
  mt_init_flags(&tree, MT_FLAGS_ALLOC_RANGE);
  //  0    5    10   15   20   25   30
  //  .....AAAAA..BBBBBBBB......CCCC......
  ASSERT_EQ(mtree_store_range(&tree, 5, 9, xa_mk_value(1), GFP_KERNEL), 0);
  ASSERT_EQ(mtree_store_range(&tree, 12, 19, xa_mk_value(2), GFP_KERNEL), 0);
  ASSERT_EQ(mtree_store_range(&tree, 26, 29, xa_mk_value(3), GFP_KERNEL), 0);
  MA_STATE(mas, &tree, 0, 0);
  EXPECT_EQ(mas_empty_area(&mas, 0, 100, 2), 0);
  EXPECT_EQ(mas.index, 0u);
  EXPECT_EQ(mas.last, 1u);
  EXPECT_EQ(mas_empty_area(&mas, 5, 100, 2), 0);  // 10-11
  EXPECT_EQ(mas.index, 10u);
  EXPECT_EQ(mas.last, 11u);
  EXPECT_EQ(mas_empty_area(&mas, 5, 100, 3), 0);  // 20-22
  EXPECT_EQ(mas.index, 20u);
  EXPECT_EQ(mas_empty_area(&mas, 5, 100, 7), 0);  // 30-36
  EXPECT_EQ(mas.index, 30u);
  EXPECT_EQ(mas_empty_area_rev(&mas, 0, 25, 3), 0);  // 23-25
  EXPECT_EQ(mas.index, 23u);
  EXPECT_EQ(mas.last, 25u);
  // 20-25 is cut to 20-24 by max; 0-4 and 10-11 are too small.
  EXPECT_EQ(mas_empty_area_rev(&mas, 0, 24, 6), -EBUSY);
  mas_reset(&mas);
  EXPECT_EQ(mas_empty_area_rev(&mas, 0, 24, 5), 0);
  EXPECT_EQ(mas.index, 20u);
  EXPECT_EQ(mas.last, 24u);
  EXPECT_EQ(mas_empty_area_rev(&mas, 0, 100, 1), 0);
  EXPECT_EQ(mas.last, 100u);

  // -EINVAL: size 0, min > max, window smaller than size.
  EXPECT_EQ(mas_empty_area(&mas, 0, 100, 0), -EINVAL);
  EXPECT_EQ(mas_empty_area_rev(&mas, 0, 100, 0), -EINVAL);
  EXPECT_EQ(mas_empty_area(&mas, 50, 40, 1), -EINVAL);
  EXPECT_EQ(mas_empty_area_rev(&mas, 50, 40, 1), -EINVAL);
  EXPECT_EQ(mas_empty_area(&mas, 10, 12, 4), -EINVAL);
  EXPECT_EQ(mas_empty_area_rev(&mas, 10, 12, 4), -EINVAL);
  // -EBUSY: the window is all occupied, or no gap is large enough.
  EXPECT_EQ(mas_empty_area(&mas, 12, 19, 1), -EBUSY);
  mas_reset(&mas);
  EXPECT_EQ(mas_empty_area_rev(&mas, 12, 19, 1), -EBUSY);
  mas_reset(&mas);
  EXPECT_EQ(mas_empty_area(&mas, 0, 29, 7), -EBUSY);
  mas_reset(&mas);
  EXPECT_EQ(mas_empty_area_rev(&mas, 0, 29, 7), -EBUSY);
  mtree_destroy(&tree);
}

TEST_F(MapleApi, EmptyAreaInDeepTree) {
  DEFINE_MTREE(tree);
  mt_init_flags(&tree, MT_FLAGS_ALLOC_RANGE);
  fill_tens(&tree, 1000);  // gaps of 4 at [i*10+6, i*10+9]
  ASSERT_GE(mt_height(&tree), 3u);
  ASSERT_EQ(mtree_store_range(&tree, 5006, 5009, xa_mk_value(1), GFP_KERNEL), 0);  // fill one gap
  ASSERT_EQ(mtree_erase(&tree, 7000), xa_mk_value(700));  // a gap of 14 at 6996-7009
  MA_STATE(mas, &tree, 0, 0);
  EXPECT_EQ(mas_empty_area(&mas, 0, ULONG_MAX, 5), 0);
  EXPECT_EQ(mas.index, 6996u);
  EXPECT_EQ(mas_empty_area(&mas, 5000, 5020, 4), 0);
  EXPECT_EQ(mas.index, 5016u);
  EXPECT_EQ(mas_empty_area_rev(&mas, 0, 9999, 4), 0);
  EXPECT_EQ(mas.index, 9996u);
  EXPECT_EQ(mas_empty_area_rev(&mas, 0, 7005, 10), 0);
  EXPECT_EQ(mas.index, 6996u);
  EXPECT_EQ(mas.last, 7005u);
  mas_reset(&mas);
  EXPECT_EQ(mas_empty_area(&mas, 0, 9999, 15), -EBUSY);
  mtree_destroy(&tree);
}

// 6.12's reverse gap walk (mas_rev_awalk) takes a slot only if the window above the
// slot's start holds `size` indices, counted as max - slot_min + 1 in unsigned
// arithmetic. For a window ending at ULONG_MAX and a slot starting at 0 that count wraps
// to 0: the walk never takes the root's first slot (and nothing below it) and answers
// -EBUSY when nothing above fits, whatever the window's start. Any other window end
// reaches it. tests/kernel/kernel_tree_test.cpp asks the kernel the same questions.
TEST_F(MapleApi, EmptyAreaRevToUlongMaxNeverTakesTheRootsFirstSlot) {
  DEFINE_MTREE(tree);
  mt_init_flags(&tree, MT_FLAGS_ALLOC_RANGE);
  // A root leaf: [0, 999] empty, one entry, [ULONG_MAX - 9, ULONG_MAX] empty.
  ASSERT_EQ(mtree_store_range(&tree, 1000, ULONG_MAX - 10, xa_mk_value(1), GFP_KERNEL), 0);
  ASSERT_EQ(mt_height(&tree), 1u);
  MA_STATE(mas, &tree, 0, 0);
  EXPECT_EQ(mas_empty_area_rev(&mas, 0, ULONG_MAX, 20), -EBUSY);
  mas_reset(&mas);
  EXPECT_EQ(mas_empty_area_rev(&mas, 5, ULONG_MAX, 20), -EBUSY);
  mas_reset(&mas);
  EXPECT_EQ(mas_empty_area_rev(&mas, 0, ULONG_MAX - 1, 20), 0);
  EXPECT_EQ(mas.index, 980u);
  EXPECT_EQ(mas.last, 999u);
  mas_reset(&mas);
  EXPECT_EQ(mas_empty_area_rev(&mas, 0, ULONG_MAX, 10), 0);  // the top slot fits
  EXPECT_EQ(mas.index, ULONG_MAX - 9);
  EXPECT_EQ(mas.last, ULONG_MAX);
  mas_reset(&mas);
  EXPECT_EQ(mas_empty_area(&mas, 0, ULONG_MAX, 20), 0);  // the forward walk has no such rule
  EXPECT_EQ(mas.index, 0u);
  unsigned long start = 0;
  EXPECT_EQ(mtree_alloc_rrange(&tree, &start, xa_mk_value(2), 20, 0, ULONG_MAX, GFP_KERNEL), -EBUSY);
  EXPECT_EQ(mtree_alloc_rrange(&tree, &start, xa_mk_value(2), 20, 0, ULONG_MAX - 1, GFP_KERNEL), 0);
  EXPECT_EQ(start, 980u);
  mtree_destroy(&tree);

  // The oracle's seed 1001 op 32 (oracle_cases.h).
  mt_init_flags(&tree, MT_FLAGS_ALLOC_RANGE);
  unsigned long v = 1;
  for (const auto& [first, last] : mmt::maple::test::kSeed1001Op32Entries)
    ASSERT_EQ(mtree_store_range(&tree, first, last, xa_mk_value(v++), GFP_KERNEL), 0);
  ASSERT_EQ(mt_height(&tree), 2u);
  mas_reset(&mas);
  EXPECT_EQ(mas_empty_area_rev(&mas, 0xfffffffffffe78cd, ULONG_MAX, 0xd9), -EBUSY);
  mas_reset(&mas);
  EXPECT_EQ(mas_empty_area_rev(&mas, 0xfffffffffffe78cd, ULONG_MAX - 1, 0xd9), 0);
  EXPECT_EQ(mas.index, 0xfffffffffffff962u);
  EXPECT_EQ(mas.last, 0xfffffffffffffa3au);
  mtree_destroy(&tree);
}

TEST_F(MapleApi, AllocRangeAndRrange) {
  DEFINE_MTREE(tree);
  mt_init_flags(&tree, MT_FLAGS_ALLOC_RANGE);
  unsigned long start = 0;
  //  ..........AAAAAAAAAA..........
  ASSERT_EQ(mtree_store_range(&tree, 10, 19, xa_mk_value(1), GFP_KERNEL), 0);
  ASSERT_EQ(mtree_alloc_range(&tree, &start, xa_mk_value(2), 5, 0, 100, GFP_KERNEL), 0);
  EXPECT_EQ(start, 0u);
  ASSERT_EQ(mtree_alloc_range(&tree, &start, xa_mk_value(3), 6, 0, 100, GFP_KERNEL), 0);
  EXPECT_EQ(start, 20u);  // 5-9 is too small
  ASSERT_EQ(mtree_alloc_rrange(&tree, &start, xa_mk_value(4), 10, 0, 100, GFP_KERNEL), 0);
  EXPECT_EQ(start, 91u);
  EXPECT_EQ(mtree_load(&tree, 91), xa_mk_value(4));
  EXPECT_EQ(mtree_load(&tree, 100), xa_mk_value(4));
  EXPECT_EQ(mtree_alloc_range(&tree, &start, xa_mk_value(5), 100, 0, 100, GFP_KERNEL), -EBUSY);
  EXPECT_EQ(mtree_alloc_range(&tree, &start, xa_mk_value(5), 0, 0, 100, GFP_KERNEL), -EINVAL);
  EXPECT_EQ(mtree_alloc_range(&tree, &start, xa_mk_internal(4), 1, 0, 100, GFP_KERNEL), -EINVAL);
  EXPECT_TREE_VALID(&tree);
  mtree_destroy(&tree);

  // Trees without MT_FLAGS_ALLOC_RANGE do not allocate ranges.
  DEFINE_MTREE(plain);
  EXPECT_EQ(mtree_alloc_range(&plain, &start, xa_mk_value(1), 1, 0, 100, GFP_KERNEL), -EINVAL);
  EXPECT_EQ(mtree_alloc_rrange(&plain, &start, xa_mk_value(1), 1, 0, 100, GFP_KERNEL), -EINVAL);
  EXPECT_TRUE(mtree_empty(&plain));
}

// ---------------------------------------------------------------------------------
// Whole-tree operations
// ---------------------------------------------------------------------------------
TEST_F(MapleApi, DupCopiesContentsAndShape) {
  for (unsigned int flags : {0u, MT_FLAGS_ALLOC_RANGE}) {
    for (unsigned long count : {0ul, 1ul, 10ul, 200ul, 3000ul}) {
      DEFINE_MTREE(tree);
      mt_init_flags(&tree, flags);
      if (count == 1) ASSERT_EQ(mtree_store(&tree, 0, xa_mk_value(1), GFP_KERNEL), 0);  // root entry
      else fill_tens(&tree, count);
      DEFINE_MTREE(copy);
      mt_init_flags(&copy, flags);
      ASSERT_EQ(mtree_dup(&tree, &copy, GFP_KERNEL), 0);
      EXPECT_EQ(tree_ranges(&copy), tree_ranges(&tree)) << "count " << count;
      EXPECT_EQ(mt_height(&copy), mt_height(&tree));
      EXPECT_EQ(mmt::maple::count_tree_nodes(&copy), mmt::maple::count_tree_nodes(&tree));
      EXPECT_TREE_VALID(&copy);
      // The copy is independent.
      ASSERT_EQ(mtree_store(&copy, 3, xa_mk_value(99), GFP_KERNEL), 0);
      EXPECT_NE(mtree_load(&tree, 3), xa_mk_value(99));
      // A non-empty destination is refused.
      EXPECT_EQ(mtree_dup(&tree, &copy, GFP_KERNEL), -EINVAL);
      mtree_destroy(&copy);
      mtree_destroy(&tree);
      EXPECT_EQ(mt_nr_allocated(), 0);
    }
  }
}

// As 6.12's __mt_dup: the target must have the source's attributes (every flag but the
// height); otherwise -EINVAL, nothing allocated and the target untouched, even when the
// source is empty. A copy takes the source's flags, height included.
TEST_F(MapleApi, DupRefusesATargetWhoseFlagsDifferAndLeavesItUntouched) {
  const unsigned int kinds[] = {0u, MT_FLAGS_ALLOC_RANGE, MT_FLAGS_USE_RCU, MT_FLAGS_ALLOC_RANGE | MT_FLAGS_USE_RCU,
                                MT_FLAGS_ALLOC_RANGE | MT_FLAGS_LOCK_EXTERN};
  for (unsigned int source_flags : kinds) {
    for (unsigned long count : {0ul, 1ul, 300ul}) {
      DEFINE_MTREE(tree);
      mt_init_flags(&tree, source_flags);
      if (count == 1) ASSERT_EQ(mtree_store(&tree, 0, xa_mk_value(1), GFP_KERNEL), 0);
      else fill_tens(&tree, count);
      rcu_barrier();  // an RCU tree's replaced nodes go after a grace period
      const int nodes = mt_nr_allocated();
      for (unsigned int target_flags : kinds) {
        SCOPED_TRACE(testing::Message() << "source " << source_flags << " target " << target_flags << " count "
                                        << count);
        DEFINE_MTREE(copy);
        mt_init_flags(&copy, target_flags);
        const int ret = __mt_dup(&tree, &copy, GFP_KERNEL);
        if (target_flags != source_flags) {
          EXPECT_EQ(ret, -EINVAL);
          EXPECT_TRUE(mtree_empty(&copy));
          EXPECT_EQ(copy.ma_flags, target_flags);
          EXPECT_EQ(mt_nr_allocated(), nodes);
          if (!(target_flags & MT_FLAGS_LOCK_EXTERN)) {
            EXPECT_EQ(mtree_dup(&tree, &copy, GFP_KERNEL), -EINVAL);
          }
          EXPECT_EQ(copy.ma_flags, target_flags);
        } else {
          EXPECT_EQ(ret, 0);
          EXPECT_EQ(copy.ma_flags, tree.ma_flags);
          EXPECT_EQ(mt_height(&copy), mt_height(&tree));
          EXPECT_EQ(tree_ranges(&copy), tree_ranges(&tree));
          EXPECT_TREE_VALID(&copy);
        }
        __mt_destroy(&copy);
        rcu_barrier();
      }
      __mt_destroy(&tree);
      rcu_barrier();
      EXPECT_EQ(mt_nr_allocated(), 0);
    }
  }
}

TEST_F(MapleApi, DupNomemLeavesTheCopyEmptyAndLeaksNothing) {
  DEFINE_MTREE(tree);
  mt_init_flags(&tree, MT_FLAGS_ALLOC_RANGE);
  fill_tens(&tree, 400);
  const int nodes = mt_nr_allocated();
  ASSERT_GT(nodes, 10);
  // Every budget short of the node count fails cleanly (check_mtree_dup).
  for (int budget = 0; budget < nodes; ++budget) {
    DEFINE_MTREE(copy);
    mt_init_flags(&copy, MT_FLAGS_ALLOC_RANGE);
    mt_set_non_kernel(static_cast<unsigned>(budget));
    ASSERT_EQ(mtree_dup(&tree, &copy, GFP_NOWAIT), -ENOMEM) << "budget " << budget;
    mt_set_non_kernel(0);
    EXPECT_TRUE(mtree_empty(&copy));
    ASSERT_EQ(mt_nr_allocated(), nodes) << "budget " << budget;
  }
  DEFINE_MTREE(copy);
  mt_init_flags(&copy, MT_FLAGS_ALLOC_RANGE);
  mt_set_non_kernel(static_cast<unsigned>(nodes));
  ASSERT_EQ(mtree_dup(&tree, &copy, GFP_NOWAIT), 0);
  mt_set_non_kernel(0);
  EXPECT_EQ(tree_ranges(&copy), tree_ranges(&tree));
  EXPECT_TREE_VALID(&copy);
  mtree_destroy(&copy);
  mtree_destroy(&tree);
}

TEST_F(MapleApi, DestroyFreesEverything) {
  DEFINE_MTREE(tree);
  fill_tens(&tree, 5000);
  EXPECT_EQ(static_cast<uint64_t>(mt_nr_allocated()), mmt::maple::count_tree_nodes(&tree));
  mtree_destroy(&tree);
  EXPECT_TRUE(mtree_empty(&tree));
  EXPECT_EQ(mt_height(&tree), 0u);
  EXPECT_EQ(mt_nr_allocated(), 0);
  // A destroyed tree is usable again.
  ASSERT_EQ(mtree_store(&tree, 5, xa_mk_value(5), GFP_KERNEL), 0);
  EXPECT_EQ(mtree_load(&tree, 5), xa_mk_value(5));
  mtree_destroy(&tree);
}

// ---------------------------------------------------------------------------------
// RCU mode
// ---------------------------------------------------------------------------------
TEST_F(MapleApi, RcuModeDefersFreesToTheGracePeriod) {
  DEFINE_MTREE(tree);
  fill_tens(&tree, 100);
  mt_set_in_rcu(&tree);
  ASSERT_TRUE(mt_in_rcu(&tree));
  const int before = mt_nr_allocated();

  // A store inside a range that is a node store in RCU mode (its leaf has room: the
  // kernel's packed leaves of an ascending load have none, which would split).
  unsigned long at = 0;
  for (unsigned long k = 50; k < 100 && !at; ++k) {
    store_type type;
    MA_STATE(probe, &tree, k * 10 + 1, k * 10 + 2);
    mtree_lock(&tree);
    mmt::maple::mas_prealloc_request(&probe, xa_mk_value(1), &type);
    mtree_unlock(&tree);
    if (type == wr_node_store) at = k * 10;
  }
  ASSERT_NE(at, 0ul) << "no leaf with room for a node store";
  // Remember the leaf holding it; a node store in RCU mode copies it.
  MA_STATE(mas, &tree, at, at);
  ASSERT_EQ(mas_walk(&mas), xa_mk_value(at / 10));
  maple_node* old_leaf = mmt::maple::mte_to_node(mas.node);
  ASSERT_EQ(mtree_store_range(&tree, at + 1, at + 2, xa_mk_value(1), GFP_KERNEL), 0);

  // The old leaf is dead (its parent points to itself) but not freed yet.
  EXPECT_TRUE(mmt::maple::ma_dead_node(old_leaf));
  EXPECT_EQ(mt_nr_allocated(), before + 1);
  EXPECT_GE(mmt::rcu_backend().pending_callbacks(), 1u);
  // A reader still holding the old leaf sees it is dead and re-walks.
  mas_set(&mas, at + 1);
  mas_walk(&mas);
  EXPECT_NE(mmt::maple::mte_to_node(mas.node), old_leaf);
  EXPECT_EQ(mtree_load(&tree, at + 1), xa_mk_value(1));

  rcu_barrier();
  EXPECT_EQ(mt_nr_allocated(), before);
  EXPECT_EQ(static_cast<uint64_t>(mt_nr_allocated()), mmt::maple::count_tree_nodes(&tree));

  // Many more writes: nothing is freed until the barrier, everything after it.
  for (unsigned long i = 0; i < 100; ++i)
    ASSERT_EQ(mtree_store_range(&tree, i * 10 + 1, i * 10 + 2, xa_mk_value(i + 1000), GFP_KERNEL), 0);
  EXPECT_GT(static_cast<uint64_t>(mt_nr_allocated()), mmt::maple::count_tree_nodes(&tree));
  rcu_barrier();
  EXPECT_EQ(static_cast<uint64_t>(mt_nr_allocated()), mmt::maple::count_tree_nodes(&tree));
  EXPECT_TREE_VALID(&tree);

  // Leaving RCU mode: in-place node stores again.
  mt_clear_in_rcu(&tree);
  const int steady = mt_nr_allocated();
  ASSERT_EQ(mtree_store_range(&tree, 701, 702, xa_mk_value(5), GFP_KERNEL), 0);  // exact fit
  EXPECT_EQ(mt_nr_allocated(), steady);
  EXPECT_EQ(mmt::rcu_backend().pending_callbacks(), 0u);
  mt_set_in_rcu(&tree);
  mtree_destroy(&tree);
  // Destroying an RCU tree also waits for the grace period.
  EXPECT_GT(mt_nr_allocated(), 0);
  rcu_barrier();
  EXPECT_EQ(mt_nr_allocated(), 0);
}

// ---------------------------------------------------------------------------------
// mas_nomem and the tree lock
// ---------------------------------------------------------------------------------
TEST_F(MapleApi, NomemDropsTheLockAndToleratesARacingWriter) {
  DEFINE_MTREE(tree);
  fill_tens(&tree, 8);  // one full leaf: [0,5] .. [70,75] and the NULLs between
  ASSERT_EQ(mt_height(&tree), 1u);
  // The store below splits the leaf: it needs nodes, GFP_NOWAIT fails (no budget),
  // so mas_nomem drops the lock and allocates with GFP_KERNEL.
  {
    MA_STATE(probe, &tree, 52, 53);
    store_type type;
    EXPECT_GT(mmt::maple::mas_prealloc_request(&probe, xa_mk_value(500), &type), 0u);
    EXPECT_EQ(type, wr_split_store);
  }
  bool fired = false;
  bool lock_was_held = true;
  mmt::maple::default_test_allocator().set_callback([&] {
    if (fired) return;
    fired = true;
    lock_was_held = tree.ma_lock.locked != 0;
    // The racing writer: replaces 30-35 and erases 60-65 while the lock is dropped.
    mt_set_non_kernel(100);
    EXPECT_EQ(mtree_store_range(&tree, 30, 35, xa_mk_value(300), GFP_KERNEL), 0);
    EXPECT_EQ(mtree_erase(&tree, 60), xa_mk_value(6));
    mt_set_non_kernel(0);
  });
  ASSERT_EQ(mtree_store_range(&tree, 52, 53, xa_mk_value(500), GFP_KERNEL), 0);
  mmt::maple::default_test_allocator().set_callback(nullptr);
  EXPECT_TRUE(fired);
  EXPECT_FALSE(lock_was_held) << "mas_nomem must drop the tree lock around a sleeping allocation";
  EXPECT_EQ(tree.ma_lock.locked, 0u);

  std::vector<Range> expected;
  for (unsigned long i = 0; i < 8; ++i) {
    if (i == 6) continue;
    if (i == 3) { expected.push_back({30, 35, xa_mk_value(300)}); continue; }
    if (i == 5) {
      expected.push_back({50, 51, xa_mk_value(5)});
      expected.push_back({52, 53, xa_mk_value(500)});
      expected.push_back({54, 55, xa_mk_value(5)});
      continue;
    }
    expected.push_back({i * 10, i * 10 + 5, xa_mk_value(i)});
  }
  EXPECT_EQ(tree_ranges(&tree), expected) << mmt::maple::test::describe(tree_ranges(&tree));
  EXPECT_TREE_VALID(&tree);
  mtree_destroy(&tree);
}

TEST_F(MapleApi, NomemWithAtomicGfpFails) {
  DEFINE_MTREE(tree);
  // check_nomem: an empty tree needs a node to store at 1, GFP_ATOMIC has none.
  EXPECT_EQ(mtree_insert(&tree, 1, xa_mk_value(1), GFP_ATOMIC), -ENOMEM);
  EXPECT_TRUE(mtree_empty(&tree));
  // Index 0 fits in the root without memory.
  EXPECT_EQ(mtree_insert(&tree, 0, xa_mk_value(0), GFP_ATOMIC), 0);
  EXPECT_EQ(mt_nr_allocated(), 0);
  mtree_destroy(&tree);
}

TEST_F(MapleApi, LockRecursionIsAFailure) {
  DEFINE_MTREE(tree);
  mtree_lock(&tree);
  try {
    mtree_lock(&tree);
    ADD_FAILURE() << "recursive mtree_lock did not fail";
  } catch (const mmt::FailureError& e) {
    EXPECT_EQ(e.failure().check, "maple.lock");
  }
  // The normal API takes the lock itself: calling it under the lock self-deadlocks.
  EXPECT_THROW(mtree_store(&tree, 1, xa_mk_value(1), GFP_KERNEL), mmt::FailureError);
  mtree_unlock(&tree);
  EXPECT_THROW(mtree_unlock(&tree), mmt::FailureError);
  EXPECT_TRUE(mtree_empty(&tree));
}

}  // namespace
