// mt_validate against hand-corrupted trees: one test per check (dead_node, parent_slot,
// child_slot, limits, occupancy, gaps, nulls, height, type). Each corrupts one field of
// a valid tree, asserts the check name and that the message names the broken node's
// range, then restores the field so the tree is destroyed normally (no leak). Also:
// the text and dot dumps name every node.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "maple/internal.h"
#include "maple_test_util.h"
#include "mmtorture/maple/kernel_api.h"

using namespace mmt::maple;

namespace {

class MapleValidate : public MapleFixture {};

// [i*10, i*10+5] = xa_mk_value(i): non-rightmost leaves with NULLs between entries.
void fill_tens(maple_tree* mt, unsigned long count) {
  for (unsigned long i = 0; i < count; ++i)
    ASSERT_EQ(mtree_store_range(mt, i * 10, i * 10 + 5, xa_mk_value(i), GFP_KERNEL), 0);
}

// A node located by walking to an index: the leaf, or its parent.
struct Located {
  maple_enode* enode;
  maple_node* node;
  maple_type type;
  unsigned long min, max;
  unsigned end;
  unsigned offset;  // slot toward the index
};

Located leaf_at(maple_tree* mt, unsigned long index) {
  MA_STATE(mas, mt, index, index);
  mas_walk(&mas);
  maple_node* node = mte_to_node(mas.node);
  return {mas.node, node, mte_node_type(mas.node), mas.min, mas.max, mas.end, mas.offset};
}

// The root node (an internal node when the tree has height > 1).
Located root_of(maple_tree* mt) {
  maple_enode* root = mt_root_enode(mt);
  maple_node* node = mte_to_node(root);
  const maple_type type = mte_node_type(root);
  return {root, node, type, 0, ULONG_MAX, ma_data_end(node, type, ULONG_MAX), 0};
}

std::string range_text(unsigned long min, unsigned long max) { return fmt::format("[{:#x}-{:#x}]", min, max); }

// Validates, expects check `check` naming the node range, and returns the failure.
void expect_failure(maple_tree* mt, const char* check, unsigned long min, unsigned long max) {
  const auto failure = validate_tree(mt);
  ASSERT_TRUE(failure.has_value()) << "corruption not detected; expected " << check;
  EXPECT_EQ(failure->check, std::string("maple.mt_validate.") + check) << failure->message;
  EXPECT_NE(failure->message.find(range_text(min, max)), std::string::npos)
      << "message does not name " << range_text(min, max) << ": " << failure->message;
  EXPECT_NE(failure->dump.find("maple_tree"), std::string::npos);
  // The node is named as data too (replay --dump-tree draws it).
  EXPECT_EQ(failure->subject.kind, mmt::FailureSubject::Kind::Node);
  EXPECT_EQ(failure->subject.first, min);
  EXPECT_EQ(failure->subject.last, max);
  // mt_validate raises the same failure.
  try {
    mt_validate(mt);
    ADD_FAILURE() << "mt_validate did not raise";
  } catch (const mmt::FailureError& e) {
    EXPECT_EQ(e.failure().check, failure->check);
  }
}

// Saves a node's 256 bytes and puts them back when the test is done with it.
struct NodeBackup {
  maple_node* node;
  alignas(maple_node) unsigned char saved[sizeof(maple_node)];
  explicit NodeBackup(maple_node* n) : node(n) { std::memcpy(saved, static_cast<void*>(n), sizeof saved); }
  ~NodeBackup() { std::memcpy(static_cast<void*>(node), saved, sizeof saved); }
  NodeBackup(const NodeBackup&) = delete;
  NodeBackup& operator=(const NodeBackup&) = delete;
};

class CorruptTree {
 public:
  // 60 ranges: a height-2 tree whose leaves are about half full.
  explicit CorruptTree(unsigned int flags, unsigned long count = 60) {
    mt_init_flags(&tree, flags);
    fill_tens(&tree, count);
  }
  ~CorruptTree() {
    // The corruption was undone: the tree must be valid again before it is freed.
    EXPECT_FALSE(validate_tree(&tree).has_value()) << "corruption was not restored";
    mtree_destroy(&tree);
  }
  CorruptTree(const CorruptTree&) = delete;
  CorruptTree& operator=(const CorruptTree&) = delete;
  maple_tree tree{};
};

// The leaf holding index after the range there is erased: an ascending load packs its
// leaves full (as the kernel's), so this leaves room for the corruptions that write
// past the data end.
Located leaf_with_room(maple_tree* mt, unsigned long index) {
  EXPECT_NE(mtree_erase(mt, index), nullptr);
  return leaf_at(mt, index);
}

TEST_F(MapleValidate, ValidTreesPass) {
  for (unsigned int flags : {0u, MT_FLAGS_ALLOC_RANGE}) {
    CorruptTree t(flags, 3000);
    EXPECT_TREE_VALID(&t.tree);
  }
}

TEST_F(MapleValidate, DeadNode) {
  CorruptTree t(0);
  Located leaf = leaf_at(&t.tree, 300);
  NodeBackup backup(leaf.node);
  ma_set_node_dead(leaf.node);  // parent points at itself: what a replaced node looks like
  expect_failure(&t.tree, "dead_node", leaf.min, leaf.max);
}

TEST_F(MapleValidate, DeadRoot) {
  CorruptTree t(0);
  Located root = root_of(&t.tree);
  NodeBackup backup(root.node);
  ma_set_node_dead(root.node);
  expect_failure(&t.tree, "dead_node", 0, ULONG_MAX);
}

// A node freed while still linked (the seed-003 KASAN report) reads as POISON_FREE:
// the validator names it instead of following its poisoned slots.
TEST_F(MapleValidate, FreedNodeStillLinked) {
  CorruptTree t(0);
  Located leaf = leaf_at(&t.tree, 300);
  NodeBackup backup(leaf.node);
  std::memset(static_cast<void*>(leaf.node), kNodePoisonFree, sizeof(maple_node));
  expect_failure(&t.tree, "freed_node", 0, ULONG_MAX);  // the parent (root) is named
}

TEST_F(MapleValidate, FreedNodeOnTheLeftmostPath) {
  CorruptTree t(0, 400);  // height 3: the leftmost internal child is followed first
  ASSERT_EQ(mt_height(&t.tree), 3u);
  Located root = root_of(&t.tree);
  auto* left = static_cast<maple_enode*>(ma_slots(root.node, root.type)[0]);
  NodeBackup backup(mte_to_node(left));
  std::memset(static_cast<void*>(mte_to_node(left)), kNodePoisonFree, sizeof(maple_node));
  expect_failure(&t.tree, "freed_node", 0, ULONG_MAX);
}

// for_each_entry against mas_for_each: the same entries with the same ranges, in index
// order, on trees of every height (and both node kinds) after random stores and erases;
// and the leaves it shows tile the index space left to right.
namespace {
struct Visited final : mmt::maple::LeafVisitor {
  std::vector<std::tuple<unsigned long, unsigned long, void*>> entries;
  std::vector<std::pair<unsigned long, unsigned long>> leaves;
  void leaf(unsigned long min, unsigned long max) override { leaves.emplace_back(min, max); }
  void entry(unsigned long first, unsigned long last, void* entry) override {
    entries.emplace_back(first, last, entry);
  }
};

std::vector<std::tuple<unsigned long, unsigned long, void*>> mas_for_each_entries(maple_tree* mt) {
  std::vector<std::tuple<unsigned long, unsigned long, void*>> entries;
  MA_STATE(mas, mt, 0, 0);
  void* entry;
  mas_for_each(&mas, entry, ULONG_MAX) entries.emplace_back(mas.index, mas.last, entry);
  return entries;
}

void expect_walks_agree(maple_tree* mt) {
  Visited visited;
  ASSERT_TRUE(for_each_entry(mt, visited));
  EXPECT_EQ(visited.entries, mas_for_each_entries(mt));
  if (visited.leaves.empty()) return;
  EXPECT_EQ(visited.leaves.front().first, 0u);
  EXPECT_EQ(visited.leaves.back().second, ULONG_MAX);
  for (size_t i = 1; i < visited.leaves.size(); ++i)
    EXPECT_EQ(visited.leaves[i].first, visited.leaves[i - 1].second + 1);
}
}  // namespace

TEST_F(MapleValidate, ForEachEntryVisitsWhatMasForEachDoes) {
  for (unsigned int flags : {0u, MT_FLAGS_ALLOC_RANGE}) {
    maple_tree tree{};
    mt_init_flags(&tree, flags);
    expect_walks_agree(&tree);  // empty
    ASSERT_EQ(mtree_store(&tree, 0, xa_mk_value(7), GFP_KERNEL), 0);
    expect_walks_agree(&tree);  // one entry, in the root
    uint64_t state = 0x9e3779b97f4a7c15ULL + flags;
    auto next = [&state](uint64_t bound) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      return (state >> 33) % bound;
    };
    for (int round = 0; round < 3000; ++round) {
      const unsigned long first = next(50'000);
      const unsigned long last = first + next(40);
      if (next(4) == 0) mtree_store_range(&tree, first, last, nullptr, GFP_KERNEL);
      else ASSERT_EQ(mtree_store_range(&tree, first, last, xa_mk_value(round), GFP_KERNEL), 0);
      if (round % 500 == 0 || round < 40) expect_walks_agree(&tree);
    }
    EXPECT_GE(mt_height(&tree), 3u);
    expect_walks_agree(&tree);
    mtree_destroy(&tree);
  }
}

TEST_F(MapleValidate, ForEachEntryStopsAtADeadOrFreedNode) {
  CorruptTree t(0);
  Located leaf = leaf_at(&t.tree, 300);
  NodeBackup backup(leaf.node);
  Visited visited;
  ma_set_node_dead(leaf.node);
  EXPECT_FALSE(for_each_entry(&t.tree, visited));
  std::memset(static_cast<void*>(leaf.node), kNodePoisonFree, sizeof(maple_node));
  EXPECT_FALSE(for_each_entry(&t.tree, visited));
}

TEST_F(MapleValidate, ParentSlot) {
  CorruptTree t(0);
  Located leaf = leaf_at(&t.tree, 300);
  NodeBackup backup(leaf.node);
  const unsigned slot = mte_parent_slot(leaf.enode);
  mte_set_parent(leaf.enode, mte_parent(leaf.enode), slot + 1);  // wrong slot encoded
  // The parent reports the child whose encoding is wrong: the parent's range is named.
  Located parent = root_of(&t.tree);
  ASSERT_EQ(mt_height(&t.tree), 2u);
  expect_failure(&t.tree, "parent_slot", parent.min, parent.max);
}

TEST_F(MapleValidate, ChildSlotNull) {
  CorruptTree t(0);
  ASSERT_EQ(mt_height(&t.tree), 2u);
  Located root = root_of(&t.tree);
  NodeBackup backup(root.node);
  ma_slots(root.node, root.type)[1] = nullptr;
  expect_failure(&t.tree, "child_slot", 0, ULONG_MAX);
}

TEST_F(MapleValidate, ChildSlotWrongParent) {
  CorruptTree t(0);
  Located leaf = leaf_at(&t.tree, 300);
  Located other = leaf_at(&t.tree, 500);
  NodeBackup backup(leaf.node);
  mte_set_parent(leaf.enode, other.node, mte_parent_slot(leaf.enode));  // adopted by a leaf
  expect_failure(&t.tree, "child_slot", 0, ULONG_MAX);
}

TEST_F(MapleValidate, LimitsPivotOutOfOrder) {
  CorruptTree t(0);
  Located leaf = leaf_at(&t.tree, 300);
  ASSERT_GE(leaf.end, 4u);
  NodeBackup backup(leaf.node);
  unsigned long* pivots = ma_pivots(leaf.node, leaf.type);
  pivots[2] = pivots[0];
  expect_failure(&t.tree, "limits", leaf.min, leaf.max);
}

TEST_F(MapleValidate, LimitsPivotAboveMax) {
  CorruptTree t(0);
  Located leaf = leaf_with_room(&t.tree, 300);
  ASSERT_NE(leaf.max, ULONG_MAX);
  ASSERT_LT(leaf.end, MAPLE_RANGE64_SLOTS - 2u);
  NodeBackup backup(leaf.node);
  ma_pivots(leaf.node, leaf.type)[leaf.end - 1] = leaf.max + 7;
  expect_failure(&t.tree, "limits", leaf.min, leaf.max);
}

TEST_F(MapleValidate, LimitsDataEndMismatch) {
  CorruptTree t(0);
  Located leaf = leaf_with_room(&t.tree, 300);
  ASSERT_LT(leaf.end, MAPLE_RANGE64_SLOTS - 2u);
  NodeBackup backup(leaf.node);
  leaf.node->mr64.meta.end = static_cast<unsigned char>(leaf.end - 1);
  expect_failure(&t.tree, "limits", leaf.min, leaf.max);
}

TEST_F(MapleValidate, LimitsSlotBeyondEnd) {
  CorruptTree t(0);
  Located leaf = leaf_with_room(&t.tree, 300);
  ASSERT_LT(leaf.end + 1, MAPLE_RANGE64_SLOTS - 1u);
  NodeBackup backup(leaf.node);
  ma_slots(leaf.node, leaf.type)[leaf.end + 1] = xa_mk_value(99);
  expect_failure(&t.tree, "limits", leaf.min, leaf.max);
}

TEST_F(MapleValidate, LimitsPivotBeyondEnd) {
  CorruptTree t(0);
  // A leaf with at least two unused pivots (the one after the end may hold max).
  Located leaf = leaf_at(&t.tree, 0);
  while (leaf.end + 1 >= MAPLE_RANGE64_SLOTS - 2u && leaf.max != ULONG_MAX) leaf = leaf_at(&t.tree, leaf.max + 1);
  ASSERT_LT(leaf.end + 1, MAPLE_RANGE64_SLOTS - 2u);
  NodeBackup backup(leaf.node);
  ma_pivots(leaf.node, leaf.type)[leaf.end + 1] = leaf.max;
  expect_failure(&t.tree, "limits", leaf.min, leaf.max);
}

TEST_F(MapleValidate, Occupancy) {
  CorruptTree t(0);
  Located leaf = leaf_at(&t.tree, 300);
  ASSERT_NE(leaf.max, ULONG_MAX);
  ASSERT_GT(leaf.end, 3u);
  NodeBackup backup(leaf.node);
  // Make the leaf end at slot 2 (three slots, fewer than the minimum) without breaking
  // its limits: the last kept slot stretches to the node's max.
  unsigned long* pivots = ma_pivots(leaf.node, leaf.type);
  void** slots = ma_slots(leaf.node, leaf.type);
  pivots[2] = leaf.max;
  slots[2] = xa_mk_value(1);
  for (unsigned i = 3; i < MAPLE_RANGE64_SLOTS; ++i) {
    slots[i] = nullptr;
    if (i < MAPLE_RANGE64_SLOTS - 1) pivots[i] = 0;
  }
  leaf.node->mr64.meta.end = 2;
  expect_failure(&t.tree, "occupancy", leaf.min, leaf.max);
}

TEST_F(MapleValidate, GapsWrongValue) {
  CorruptTree t(MT_FLAGS_ALLOC_RANGE);
  Located root = root_of(&t.tree);
  ASSERT_EQ(root.type, maple_arange_64);
  NodeBackup backup(root.node);
  root.node->ma64.gap[1] += 1;
  expect_failure(&t.tree, "gaps", 0, ULONG_MAX);
}

TEST_F(MapleValidate, GapsWrongMetadataOffset) {
  CorruptTree t(MT_FLAGS_ALLOC_RANGE);
  Located root = root_of(&t.tree);
  NodeBackup backup(root.node);
  const unsigned offset = root.node->ma64.meta.gap;
  // Point the metadata at a slot whose gap is not the largest.
  unsigned other = 0;
  while (other <= root.end && root.node->ma64.gap[other] == root.node->ma64.gap[offset]) ++other;
  ASSERT_LE(other, root.end) << "every gap is the same";
  root.node->ma64.meta.gap = static_cast<unsigned char>(other);
  expect_failure(&t.tree, "gaps", 0, ULONG_MAX);
}

TEST_F(MapleValidate, GapsBeyondEnd) {
  CorruptTree t(MT_FLAGS_ALLOC_RANGE);
  Located root = root_of(&t.tree);
  ASSERT_LT(root.end + 1, MAPLE_ARANGE64_SLOTS + 0u);
  NodeBackup backup(root.node);
  root.node->ma64.gap[root.end + 1] = 5;
  expect_failure(&t.tree, "gaps", 0, ULONG_MAX);
}

TEST_F(MapleValidate, ConsecutiveNulls) {
  CorruptTree t(0);
  Located leaf = leaf_at(&t.tree, 300);  // [300,305] then NULL [306,309]
  ASSERT_NE(ma_slots(leaf.node, leaf.type)[leaf.offset], nullptr);
  ASSERT_EQ(ma_slots(leaf.node, leaf.type)[leaf.offset + 1], nullptr);
  NodeBackup backup(leaf.node);
  ma_slots(leaf.node, leaf.type)[leaf.offset] = nullptr;
  expect_failure(&t.tree, "nulls", leaf.min, leaf.max);
}

TEST_F(MapleValidate, ConsecutiveNullsAcrossLeaves) {
  // Contiguous entries (no NULL anywhere but the tail), then the last slot of one leaf
  // and the first slot of the next are both cleared: only the scan across leaves sees
  // the pair, and it names the second leaf.
  DEFINE_MTREE(tree);
  for (unsigned long i = 0; i < 300; ++i)
    ASSERT_EQ(mtree_store_range(&tree, i * 10, i * 10 + 9, xa_mk_value(i), GFP_KERNEL), 0);
  ASSERT_TREE_VALID(&tree);
  Located leaf = leaf_at(&tree, 1000);
  Located next = leaf_at(&tree, leaf.max + 1);
  {
    NodeBackup backup(leaf.node);
    NodeBackup next_backup(next.node);
    ma_slots(leaf.node, leaf.type)[leaf.end] = nullptr;
    ma_slots(next.node, next.type)[0] = nullptr;
    expect_failure(&tree, "nulls", next.min, next.max);
  }
  EXPECT_TREE_VALID(&tree);
  mtree_destroy(&tree);
}

TEST_F(MapleValidate, Height) {
  CorruptTree t(0);
  const unsigned height = mt_height(&t.tree);
  mt_set_height(&t.tree, height + 1);
  expect_failure(&t.tree, "height", 0, ULONG_MAX);
  mt_set_height(&t.tree, height);
}

TEST_F(MapleValidate, TypeLeafEncodedAsDense) {
  CorruptTree t(0);
  Located leaf = leaf_at(&t.tree, 300);
  maple_node* parent = mte_parent(leaf.enode);
  const unsigned slot = mte_parent_slot(leaf.enode);
  Located root = root_of(&t.tree);
  ASSERT_EQ(parent, root.node);
  void** slots = ma_slots(parent, root.type);
  void* saved = slots[slot];
  slots[slot] = mt_mk_node(leaf.node, maple_dense);
  expect_failure(&t.tree, "type", leaf.min, leaf.max);
  slots[slot] = saved;
}

TEST_F(MapleValidate, TypeWrongInternalType) {
  CorruptTree t(MT_FLAGS_ALLOC_RANGE, 3000);
  ASSERT_GE(mt_height(&t.tree), 3u);
  // An arange child of the root re-encoded as range_64 (wrong for an alloc tree). Not
  // slot 0: the height check follows the leftmost path.
  Located root = root_of(&t.tree);
  void** slots = ma_slots(root.node, root.type);
  void* saved = slots[1];
  slots[1] = mt_mk_node(mte_to_node(static_cast<maple_enode*>(saved)), maple_range_64);
  expect_failure(&t.tree, "type", root.node->ma64.pivot[0] + 1, root.node->ma64.pivot[1]);
  // The dump names the bad node instead of reading it with the wrong layout.
  EXPECT_NE(mt_dump_string(&t.tree, mt_dump_hex).find("bad type"), std::string::npos);
  slots[1] = saved;
}

// ---------------------------------------------------------------------------------
// Dumps
// ---------------------------------------------------------------------------------
TEST_F(MapleValidate, DumpsNameEveryNode) {
  for (unsigned int flags : {0u, MT_FLAGS_ALLOC_RANGE}) {
    DEFINE_MTREE(tree);
    mt_init_flags(&tree, flags);
    fill_tens(&tree, 2000);
    const uint64_t nodes = count_tree_nodes(&tree);
    ASSERT_GT(nodes, 100u);
    const std::string text = mt_dump_string(&tree, mt_dump_hex);
    const std::string dec = mt_dump_string(&tree, mt_dump_dec);
    const std::string dot = mt_dump_dot(&tree);
    EXPECT_EQ(text.rfind("maple_tree", 0), 0u);
    for (uint64_t i = 0; i < nodes; ++i) {
      EXPECT_NE(text.find(fmt::format("node#{} ", i)), std::string::npos) << i;
      EXPECT_NE(dec.find(fmt::format("node#{} ", i)), std::string::npos) << i;
      EXPECT_NE(dot.find(fmt::format("  n{} [", i)), std::string::npos) << i;
    }
    EXPECT_EQ(text.find(fmt::format("node#{} ", nodes)), std::string::npos);
    EXPECT_NE(text.find("value 0x7cf"), std::string::npos);  // entry 1999 in hex
    EXPECT_NE(dec.find("value 1999"), std::string::npos);
    EXPECT_EQ(dot.rfind("digraph maple_tree {", 0), 0u);
    // Same tree, same dump: the dump is deterministic (no addresses).
    DEFINE_MTREE(copy);
    mt_init_flags(&copy, flags);
    ASSERT_EQ(mtree_dup(&tree, &copy, GFP_KERNEL), 0);
    EXPECT_EQ(mt_dump_string(&copy, mt_dump_hex), text);
    EXPECT_EQ(mt_dump_dot(&copy), dot);
    mtree_destroy(&copy);
    mtree_destroy(&tree);
  }
  // Root-entry and empty trees.
  DEFINE_MTREE(tree);
  EXPECT_NE(mt_dump_string(&tree, mt_dump_hex).find("root NULL"), std::string::npos);
  ASSERT_EQ(mtree_store(&tree, 0, xa_mk_value(3), GFP_KERNEL), 0);
  EXPECT_NE(mt_dump_string(&tree, mt_dump_hex).find("root value 0x3"), std::string::npos);
  EXPECT_NE(mt_dump_dot(&tree).find("value 0x3"), std::string::npos);
  mtree_destroy(&tree);
}

// One tree of several in a graph (replay --dump-tree): a cluster whose record nodes
// are exactly the tree's nodes, each non-root one reached by one edge, names prefixed
// so clusters cannot collide, pointer entries labelled by the caller.
TEST_F(MapleValidate, DotSubgraphDrawsEveryNodeOnceUnderItsPrefix) {
  for (unsigned int flags : {0u, MT_FLAGS_ALLOC_RANGE}) {
    DEFINE_MTREE(tree);
    mt_init_flags(&tree, flags);
    fill_tens(&tree, 1500);
    static int marker;
    ASSERT_EQ(mtree_store_range(&tree, 1000000, 1000009, &marker, GFP_KERNEL), 0);
    DotTreeOptions options;
    options.name = "mm7";
    options.label = "mm 7 {a|b}";
    options.entry_label = [](const void* entry) { return entry == &marker ? std::string("vma#1 <rw-p>") : "?"; };
    const std::string dot = mt_dump_dot_subgraph(&tree, options);
    const uint64_t nodes = count_tree_nodes(&tree);
    auto count = [&dot](const std::string& needle) {
      size_t n = 0;
      for (size_t at = dot.find(needle); at != std::string::npos; at = dot.find(needle, at + 1)) ++n;
      return n;
    };
    EXPECT_EQ(dot.rfind("  subgraph cluster_mm7 {\n    label=\"mm 7 \\{a\\|b\\}\";\n", 0), 0u) << dot.substr(0, 200);
    EXPECT_EQ(count("[shape=record"), nodes);
    EXPECT_EQ(count(" -> mm7_n"), nodes - 1);  // a tree: every node but the root has one parent edge
    EXPECT_EQ(count("mm7_n0 [shape=record"), 1u);
    EXPECT_EQ(count(" n0 ["), 0u) << "every node name carries the prefix";
    EXPECT_EQ(count("vma#1 \\<rw-p\\>"), 1u) << "the caller's label, escaped for a record";
    EXPECT_EQ(dot.substr(dot.size() - 4), "  }\n");
    mtree_destroy(&tree);
  }
}

// The failure's subject in a large tree (replay --dump-tree): the node it names filled
// red, the path from the root to it red, every other subtree collapsed into a counted
// box per run of adjacent slots; nothing drawn twice, nothing lost from the count.
TEST_F(MapleValidate, DotDrawsALargeTreeAsThePathToTheNamedNode) {
  DEFINE_MTREE(tree);
  fill_tens(&tree, 2000);
  const uint64_t nodes = count_tree_nodes(&tree);
  ASSERT_GT(nodes, 100u);
  const unsigned height = mt_height(&tree);
  ASSERT_GE(height, 3u);
  // The leaf holding entry 1234 and the node above it, as a check would name them.
  const Located leaf = leaf_at(&tree, 12340);
  auto count = [](const std::string& dot, const std::string& needle) {
    size_t n = 0;
    for (size_t at = dot.find(needle); at != std::string::npos; at = dot.find(needle, at + 1)) ++n;
    return n;
  };
  DotTreeOptions options;
  options.name = "tree";
  options.label = "the tree";
  options.failing = true;
  options.subject = mmt::FailureSubject::node(leaf.min, leaf.max, height - 1);
  const std::string dot = mt_dump_dot_subgraph(&tree, options);
  // One record per level on the path, the named one filled.
  EXPECT_EQ(count(dot, "[shape=record"), height) << dot;
  EXPECT_EQ(count(dot, "[shape=record,color=red,penwidth=3,style=filled"), 1u);
  EXPECT_NE(dot.find(fmt::format("[shape=record,color=red,penwidth=3,style=filled,fillcolor=\"#ffe4e1\",label=\"{{"
                                 "leaf_64 {:#x}-{:#x}|",
                                 leaf.min, leaf.max)),
            std::string::npos)
      << dot;
  EXPECT_EQ(count(dot, "[shape=record,color=red,label="), height - 1u) << "the nodes above it";
  EXPECT_EQ(count(dot, " [color=red,penwidth=2];"), height - 1u) << "the edges down the path";
  // The rest is collapsed, and the boxes account for every other node.
  const size_t boxes = count(dot, "[shape=box,style=dashed");
  EXPECT_GE(boxes, 1u);
  EXPECT_LE(boxes, 2u * (height - 1u)) << "at most a run left and a run right of the path per level";
  uint64_t collapsed = 0;
  for (size_t at = dot.find(" collapsed ("); at != std::string::npos; at = dot.find(" collapsed (", at + 1))
    collapsed += std::stoull(dot.substr(at + 12));
  EXPECT_EQ(collapsed + height, nodes);
  EXPECT_NE(dot.find(fmt::format("    // drawn: the {} node(s) on the path from the root to the failure's subject; {} "
                                 "other node(s) collapsed\n",
                                 height, nodes - height)),
            std::string::npos);
  EXPECT_NE(dot.find("    color=red;\n    penwidth=2;\n"), std::string::npos) << "the failing cluster";
  EXPECT_NE(dot.find(fmt::format("label=\"the tree: named by the failure (node [{:#x}-{:#x}] depth {})\"", leaf.min,
                                 leaf.max, height - 1)),
            std::string::npos)
      << dot.substr(0, 300);

  // An entry subject marks its slots (">>") in the leaves holding it; a range over two
  // leaves draws both paths.
  options.subject = mmt::FailureSubject::entry(12340, 12345);
  const std::string entry_dot = mt_dump_dot_subgraph(&tree, options);
  EXPECT_EQ(count(entry_dot, "|\\>\\> "), 1u) << "one slot: [12340, 12345]";
  EXPECT_NE(entry_dot.find(fmt::format("|\\>\\> {:#x}-{:#x}: value {:#x}", 12340, 12345, 1234)), std::string::npos);
  EXPECT_EQ(count(entry_dot, "[shape=record,color=red,penwidth=3,style=filled"), 1u);
  options.subject = mmt::FailureSubject::entry(leaf.max - 2, leaf.max + 2);
  const std::string across = mt_dump_dot_subgraph(&tree, options);
  EXPECT_EQ(count(across, "[shape=record,color=red,penwidth=3,style=filled"), 2u) << "both leaves";
  EXPECT_GE(count(across, "[shape=record"), height + 1u);

  // No collapsing: a subject not in the tree, or the limit set to 0, draws every node.
  options.subject = mmt::FailureSubject::node(1, 2, 7);
  const std::string missing = mt_dump_dot_subgraph(&tree, options);
  EXPECT_EQ(count(missing, "[shape=record"), nodes);
  EXPECT_NE(missing.find("not found in this tree"), std::string::npos);
  options.subject = mmt::FailureSubject::node(leaf.min, leaf.max, height - 1);
  options.collapse_above_nodes = 0;
  const std::string whole = mt_dump_dot_subgraph(&tree, options);
  EXPECT_EQ(count(whole, "[shape=record"), nodes);
  EXPECT_EQ(count(whole, "[shape=record,color=red,penwidth=3,style=filled"), 1u) << "still highlighted";
  EXPECT_EQ(count(whole, "shape=box"), 0u);
  mtree_destroy(&tree);
}

// A small tree is drawn whole even with a subject; a tree that is not the failing one
// is drawn plain.
TEST_F(MapleValidate, DotDrawsASmallTreeWholeAndAnotherTreePlain) {
  DEFINE_MTREE(tree);
  fill_tens(&tree, 40);
  const uint64_t nodes = count_tree_nodes(&tree);
  ASSERT_GT(nodes, 1u);
  ASSERT_LE(nodes, kDotCollapseAboveNodes);
  DotTreeOptions options;
  options.name = "small";
  options.label = "small";
  options.failing = true;
  options.subject = mmt::FailureSubject::entry(100, 105);
  const std::string dot = mt_dump_dot_subgraph(&tree, options);
  size_t records = 0;
  for (size_t at = dot.find("[shape=record"); at != std::string::npos; at = dot.find("[shape=record", at + 1)) ++records;
  EXPECT_EQ(records, nodes);
  EXPECT_NE(dot.find("|\\>\\> 0x64-0x69: value 0xa"), std::string::npos) << dot;
  DotTreeOptions plain;
  plain.name = "other";
  plain.label = "other";
  const std::string other = mt_dump_dot_subgraph(&tree, plain);
  EXPECT_EQ(other.find("red"), std::string::npos);
  EXPECT_EQ(other.find("\\>\\>"), std::string::npos);
  EXPECT_NE(other.find("    color=black;\n"), std::string::npos);
  mtree_destroy(&tree);
}

// The digraph replay writes: the failure's headline is the graph's label, wrapped into
// left-justified lines, quotes escaped; the comment lines on top.
TEST_F(MapleValidate, DotFailureDigraphLabelsTheGraphWithTheFailure) {
  mmt::Failure failure{"maple.mt_validate.gaps", "mt_validate",
                       std::string("a \"quoted\" word and a long message: ") + std::string(150, 'x') + " end"};
  const std::string dot = dot_failure_digraph("first line\nsecond line", failure, "  subgraph cluster_t {\n  }\n");
  EXPECT_EQ(dot.rfind("// first line\n// second line\ndigraph mmtorture_trees {\n  label=\"", 0), 0u) << dot;
  EXPECT_NE(dot.find("mmtorture: FAIL maple.mt_validate.gaps (" + failure.signature_id() +
                     ") at mt_validate: a "
                     "\\\"quoted\\\" word"),
            std::string::npos)
      << dot;
  EXPECT_NE(dot.find("\\l" + std::string(150, 'x') + "\\l"), std::string::npos) << "a word longer than a line stands "
                                                                                     "alone";
  EXPECT_NE(dot.find("\\lend\\l\";\n  labelloc=t;\n"), std::string::npos);
  EXPECT_EQ(dot.substr(dot.size() - 29), "  subgraph cluster_t {\n  }\n}\n");
}

}  // namespace

namespace {

// validate_tree_range over [first, last]: its failure (or none) and the leaves' span.
struct RangeResult {
  std::optional<mmt::Failure> failure;
  unsigned long span_first = 0, span_last = 0;
};
RangeResult validate_range(maple_tree* mt, unsigned long first, unsigned long last) {
  RangeResult r;
  r.failure = validate_tree_range(mt, first, last, &r.span_first, &r.span_last);
  return r;
}

}  // namespace

// The partial check (after most ops of the maple job) passes on valid trees and spans
// whole leaves around what it was given, one neighbour leaf on each side at least.
TEST_F(MapleValidate, PartialValidationPassesValidTreesAndSpansTheNeighbours) {
  for (unsigned int flags : {0u, MT_FLAGS_ALLOC_RANGE}) {
    CorruptTree t(flags, 3000);
    for (unsigned long index : {0ul, 5ul, 300ul, 15000ul, 29995ul, 40000ul}) {
      const RangeResult r = validate_range(&t.tree, index, index + 40);
      EXPECT_FALSE(r.failure.has_value()) << index << ": " << r.failure->message;
      const Located at = leaf_at(&t.tree, index);
      // The leaf holding the range's first index and the one left of it are visited.
      const unsigned long expected_first = at.min == 0 ? 0 : leaf_at(&t.tree, at.min - 1).min;
      EXPECT_LE(r.span_first, expected_first) << index;
      EXPECT_GE(r.span_last, leaf_at(&t.tree, index + 40).max) << index;
      EXPECT_EQ(leaf_at(&t.tree, r.span_first).min, r.span_first) << "the span starts at a leaf";
    }
  }
}

// A corruption of the leaf written, of its neighbour, or of their parent is found by
// the partial check with the check the whole-tree one names.
TEST_F(MapleValidate, PartialValidationFindsCorruptionNearTheRange) {
  CorruptTree t(MT_FLAGS_ALLOC_RANGE, 3000);
  const Located leaf = leaf_at(&t.tree, 15000);
  const Located left = leaf_at(&t.tree, leaf.min - 1);
  for (const Located* victim : {&leaf, &left}) {
    NodeBackup backup(victim->node);
    ma_set_node_dead(victim->node);
    const RangeResult r = validate_range(&t.tree, 15000, 15000);
    ASSERT_TRUE(r.failure.has_value()) << "dead node at [" << victim->min << ", " << victim->max << "] not found";
    EXPECT_EQ(r.failure->check, validate_tree(&t.tree)->check);
    EXPECT_EQ(r.failure->check, "maple.mt_validate.dead_node");
  }
  // A wrong gap in the parent of the written leaf.
  MA_STATE(mas, &t.tree, 15000, 15000);
  mas_walk(&mas);
  maple_enode* parent = mt_mk_node(mte_parent(mas.node), mt_internal_type(&t.tree));
  maple_node* pnode = mte_to_node(parent);
  NodeBackup backup(pnode);
  ma_gaps(pnode, mte_node_type(parent))[mte_parent_slot(mas.node)] += 1;
  const RangeResult r = validate_range(&t.tree, 15000, 15000);
  ASSERT_TRUE(r.failure.has_value());
  EXPECT_EQ(r.failure->check, "maple.mt_validate.gaps");
}

// What it does not visit it trusts: a corruption far from the range is left to the
// whole-tree pass (every checks.maple_full_check_every ops and at the end of a run).
TEST_F(MapleValidate, PartialValidationTrustsWhatItDoesNotVisit) {
  CorruptTree t(0, 3000);
  const Located far = leaf_at(&t.tree, 300);
  NodeBackup backup(far.node);
  ma_set_node_dead(far.node);
  const RangeResult r = validate_range(&t.tree, 29000, 29000);
  EXPECT_FALSE(r.failure.has_value());
  EXPECT_GT(r.span_first, far.max);
  ASSERT_TRUE(validate_tree(&t.tree).has_value());
}

// The partial check shows a LeafVisitor each leaf it checks, left to right, and the
// leaf's entries: exactly what mas_for_each finds over those leaves (the maple job
// compares the model with them in the same walk). The leaves are not all adjacent: in a
// neighbour at an upper level only the child nearest the range is descended into.
TEST_F(MapleValidate, PartialValidationShowsItsVisitorEveryEntryOfItsLeaves) {
  struct Recorder final : LeafVisitor {
    std::vector<std::pair<unsigned long, unsigned long>> leaves;
    std::vector<std::tuple<unsigned long, unsigned long, void*>> entries;
    void leaf(unsigned long min, unsigned long max) override { leaves.emplace_back(min, max); }
    void entry(unsigned long first, unsigned long last, void* e) override { entries.emplace_back(first, last, e); }
  };
  CorruptTree t(MT_FLAGS_ALLOC_RANGE, 3000);
  for (unsigned long index : {0ul, 15000ul, 29995ul}) {
    Recorder seen;
    unsigned long span_first = 0, span_last = 0;
    ASSERT_FALSE(validate_tree_range(&t.tree, index, index + 40, &span_first, &span_last, &seen).has_value());
    ASSERT_GE(seen.leaves.size(), 2u) << index;
    EXPECT_EQ(seen.leaves.front().first, span_first) << index;
    EXPECT_EQ(seen.leaves.back().second, span_last) << index;
    std::vector<std::tuple<unsigned long, unsigned long, void*>> found;
    for (size_t i = 0; i < seen.leaves.size(); ++i) {
      const auto [min, max] = seen.leaves[i];
      EXPECT_EQ(leaf_at(&t.tree, min).min, min) << "a whole leaf";
      EXPECT_EQ(leaf_at(&t.tree, min).max, max) << "a whole leaf";
      EXPECT_TRUE(i == 0 || min > seen.leaves[i - 1].second) << "left to right";
      MA_STATE(mas, &t.tree, min, min);
      void* entry;
      mas_for_each(&mas, entry, max) found.emplace_back(mas.index, mas.last, entry);
    }
    ASSERT_FALSE(found.empty()) << index;
    EXPECT_EQ(seen.entries, found) << index;
    // The window's own leaf and both its neighbours are among them.
    for (unsigned long at : {index, index + 40}) {
      const Located leaf = leaf_at(&t.tree, at);
      EXPECT_NE(std::find(seen.leaves.begin(), seen.leaves.end(), std::make_pair(leaf.min, leaf.max)),
                seen.leaves.end())
          << at;
    }
  }
}
