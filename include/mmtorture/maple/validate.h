// mt_validate's checks as a C++ API: the whole-tree validation that names the broken
// check and node instead of raising (with a visitor, for a contents check in the same
// pass), node counting for the slab accounting invariant, a whole-tree entry walk for
// checks that read every entry, and the text and Graphviz dumps that failures carry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "mmtorture/core/failure.h"
#include "mmtorture/maple/maple_tree.h"

namespace mmt::maple {

// What a validating walk read, for a contents check in the same pass: each leaf it
// checks (its range), then that leaf's entries (not its NULL ranges), leaves left to
// right. The walk calls it while checking, so a leaf may be visited before the walk
// fails: record what you see and act on it only if the walk returns no failure.
class LeafVisitor {
 public:
  virtual ~LeafVisitor() = default;
  virtual void leaf(unsigned long min, unsigned long max) = 0;
  virtual void entry(unsigned long first, unsigned long last, void* entry) = 0;
};

// Runs every check mt_validate makes. Returns the first violation as a Failure whose
// check is "maple.mt_validate.<name>" (dead_node, parent_slot, child_slot, limits, occupancy,
// gaps, nulls, height, type) and whose dump is the tree. A visitor is shown every leaf and
// entry of the walk (a tree with no node shows it none: an entry in the root is for the
// caller to read, as for_each_entry does).
std::optional<Failure> validate_tree(const maple_tree* mt, LeafVisitor* visitor = nullptr);

// validate_tree's checks on the part of the tree a write to [first, last] can have
// changed: every node whose range meets [first - 1, last + 1] and one neighbour on each
// side at every level (where a rebalance or split reaches), with their ancestors. A
// child not descended into is trusted for its gap (its parent's gap slot). The visited
// leaves span [*span_first, *span_last] (the whole index space when the tree has no
// node, which no visitor sees: the root entry, if any, is for the caller to read), the
// range a contents check should then compare; a visitor is shown each visited leaf.
std::optional<Failure> validate_tree_range(const maple_tree* mt, unsigned long first, unsigned long last,
                                           unsigned long* span_first, unsigned long* span_last,
                                           LeafVisitor* visitor = nullptr);

// Nodes reachable from the root.
uint64_t count_tree_nodes(const maple_tree* mt);

// Shows `visitor` every leaf and entry of the tree in index order (an entry held in the
// root as one at index 0), by one depth-first walk of its nodes: what mas_for_each
// visits, without a descent per entry, for a pass over a whole tree no writer changes
// meanwhile. Checks nothing but that each node is neither freed nor dead, and returns
// false, having stopped, at one that is: the caller walks again the kernel's way (whose
// reads name such a node) or leaves it to validate_tree.
bool for_each_entry(const maple_tree* mt, LeafVisitor& visitor);

// The dump mt_dump prints: a header, then each node (range, depth, type, parent slot)
// with its slots. Nodes are named node#N in depth-first order, so the text is the same
// on every run.
std::string mt_dump_string(const maple_tree* mt, mt_dump_format format);
// The tree as a Graphviz digraph: one record node per tree node (named n0, n1, ... in
// depth-first order, so the text is the same on every run), an edge per child slot.
// A corrupted tree is drawn as far as it can be read, as by mt_dump_string.
std::string mt_dump_dot(const maple_tree* mt);

// A tree of more nodes than this is drawn as the path to the failure's subject (see
// DotTreeOptions::collapse_above_nodes): a VMA tree of a few dozen VMAs stays whole.
inline constexpr size_t kDotCollapseAboveNodes = 24;

// How mt_dump_dot_subgraph draws one of several trees in a graph.
struct DotTreeOptions {
  std::string name;   // a Graphviz identifier: the cluster is cluster_<name>, nodes <name>_n0...
  std::string label;  // the cluster's caption
  // Labels a leaf entry that is a pointer (not a value or internal entry), e.g. a VMA
  // as its range and flags; without one, pointers print as "pointer".
  std::function<std::string(const void*)> entry_label;
  // The tree the failure named (its mm, or the only tree of the job): the cluster is
  // drawn in red, its caption says so and names the subject.
  bool failing = false;
  // The node or entry the failure named, in this tree (its mm_id is not looked at):
  // a node subject is the node of that range and depth, an entry subject every leaf
  // slot its range overlaps (marked ">>"). Those nodes are drawn filled red, the nodes
  // above them and the edges down to them red.
  FailureSubject subject;
  // A tree of more nodes than this whose subject was found is drawn as the paths from
  // the root to the subject: each other child subtree of a node on a path is collapsed,
  // one dashed box per run of adjacent slots saying how many subtrees and nodes it
  // stands for. Nodes keep their depth-first names. 0: always whole.
  size_t collapse_above_nodes = kDotCollapseAboveNodes;
};

// The tree as `subgraph cluster_<name> { ... }`, to be placed inside a digraph (the
// caller writes `digraph ... {` and `}` around the trees it gathers, or uses
// dot_failure_digraph).
std::string mt_dump_dot_subgraph(const maple_tree* mt, const DotTreeOptions& options);

// The digraph replay --dump-tree writes: `comment` as // lines, then `digraph
// mmtorture_trees {` with the failure's headline as the graph's label (on top, in red,
// wrapped), then `clusters` (mt_dump_dot_subgraph's output) and `}`.
std::string dot_failure_digraph(const std::string& comment, const Failure& failure, const std::string& clusters);

}  // namespace mmt::maple
