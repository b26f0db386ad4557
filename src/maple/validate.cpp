// mt_validate: every structural check the kernel's validator makes (dead nodes, parent
// and child slot encoding, pivot limits and data end, minimum occupancy, gaps and the
// metadata gap offset, consecutive NULLs) plus height and node-type consistency.
#include <fmt/format.h>

#include "internal.h"
#include "mmtorture/maple/validate.h"

namespace mmt::maple {

namespace {

// A node freed and not yet reused reads as POISON_FREE: its parent word (never all
// 0x6b in a live node: that is no tree pointer and no valid encoding) says so before
// any of its slots is followed.
bool node_poisoned(const maple_node* node) {
  unsigned long poison;
  std::memset(&poison, kNodePoisonFree, sizeof poison);
  return reinterpret_cast<unsigned long>(node->parent) == poison;
}

struct Validator {
  const maple_tree* mt;
  unsigned height;
  std::optional<Failure> failure;
  bool last_was_null = false;  // for the NULL scan across leaves, left to right
  // validate_tree_range: descend only into the children that meet [window_first,
  // window_last] and one neighbour on each side; a child not descended into is trusted
  // for its gap (its parent's gap slot). The leaves visited, left to right, span
  // [span_first, span_last].
  bool partial = false;
  unsigned long window_first = 0, window_last = ULONG_MAX;
  bool any_leaf = false;
  unsigned long span_first = 0, span_last = 0;
  LeafVisitor* visitor = nullptr;  // told each leaf checked and its entries

  bool fail(const char* check, maple_enode* enode, unsigned long min, unsigned long max, int depth,
            const std::string& what) {
    if (failure) return false;
    Failure f;
    f.check = fmt::format("maple.mt_validate.{}", check);
    f.site = "mt_validate";
    f.message = fmt::format("{} in {} node [{:#x}-{:#x}] depth {}", what,
                            enode ? maple_type_name(mte_node_type(enode)) : "?", min, max, depth);
    f.dump = mt_dump_string(mt, mt_dump_hex);
    f.subject = FailureSubject::node(min, max, static_cast<uint32_t>(depth));
    failure = std::move(f);
    return false;
  }

  // Returns the node's largest gap (for the parent's gap check); false on failure. Long
  // because it is the kernel's per-node rules in one pass over the slots (pivots, gaps,
  // occupancy, parent links), each with its own message.
  bool node(maple_enode* enode, unsigned long min, unsigned long max, int depth, unsigned long& max_gap) {
    maple_node* node = mte_to_node(enode);
    const maple_type type = mte_node_type(enode);
    if (node_poisoned(node))
      return fail("freed_node", enode, min, max, depth, "node freed (POISON_FREE) but still linked into the tree");
    if (ma_dead_node(node)) return fail("dead_node", enode, min, max, depth, "dead node reachable");
    const bool leaf_depth = static_cast<unsigned>(depth) + 1 == height;
    if (ma_is_leaf(type) != leaf_depth || (leaf_depth && type != maple_leaf_64) ||
        (!leaf_depth && type != mt_internal_type(mt)))
      return fail("type", enode, min, max, depth,
                  fmt::format("node type {} at depth {} of a height-{} tree", maple_type_name(type), depth, height));
    const unsigned slot_count = mt_slot_count(type);
    const unsigned pivot_count = mt_pivot_count(type);
    unsigned long* pivots = ma_pivots(node, type);
    void** slots = ma_slots(node, type);

    // Limits: pivots present, ordered, inside [min, max], stopping at max.
    unsigned long prev = min;
    unsigned i = 0;
    for (; i < slot_count; ++i) {
      const unsigned long piv = i < pivot_count ? pivots[i] : max;
      if (piv == 0 && i != 0) return fail("limits", enode, min, max, depth, fmt::format("missing pivot at slot {}", i));
      if (piv < prev && !(i == 0 && piv == min))
        return fail("limits", enode, min, max, depth, fmt::format("pivot {} out of order at slot {}", piv, i));
      if (piv < min)
        return fail("limits", enode, min, max, depth, fmt::format("pivot {:#x} below min at slot {}", piv, i));
      if (piv > max)
        return fail("limits", enode, min, max, depth, fmt::format("pivot {:#x} above max at slot {}", piv, i));
      prev = piv + 1;
      if (piv == max) break;
    }
    if (i == slot_count) i = slot_count - 1;
    const unsigned end = ma_data_end(node, type, max);
    if (end != i)
      return fail("limits", enode, min, max, depth, fmt::format("data end {} != last slot offset {}", end, i));
    for (unsigned j = end + 1; j < slot_count; ++j) {
      if (slots[j] && j != slot_count - 1)
        return fail("limits", enode, min, max, depth, fmt::format("slot {} beyond the end holds an entry", j));
      if (j < pivot_count && pivots[j])
        return fail("limits", enode, min, max, depth, fmt::format("pivot {} beyond the end is set", j));
    }
    if (type != maple_arange_64 && end < pivot_count - 1 && node->mr64.meta.end != end)
      return fail("limits", enode, min, max, depth,
                  fmt::format("metadata end {} != data end {}", node->mr64.meta.end, end));

    if (depth > 0 && end < mt_min_slots(type) && max != ULONG_MAX)
      return fail("occupancy", enode, min, max, depth,
                  fmt::format("{} slots used, minimum is {}", end + 1, mt_min_slots(type) + 1));

    if (ma_is_leaf(type)) {
      // The NULL scan runs across adjacent leaves only (a partial walk may skip some).
      if (any_leaf && span_last + 1 != min) last_was_null = false;
      if (!any_leaf) span_first = min;
      any_leaf = true;
      span_last = max;
      unsigned long slot_min = min;
      max_gap = 0;
      if (visitor) visitor->leaf(min, max);
      for (unsigned s = 0; s <= end; ++s) {
        const unsigned long slot_max = ma_slot_max(node, type, s, max);
        if (!slots[s]) {
          if (last_was_null)
            return fail("nulls", enode, min, max, depth, fmt::format("consecutive NULL ranges end at slot {}", s));
          const unsigned long size = slot_max - slot_min + 1;
          if (size > max_gap) max_gap = size;
        } else if (visitor) visitor->entry(slot_min, slot_max, slots[s]);
        last_was_null = slots[s] == nullptr;
        slot_min = slot_max + 1;
      }
      return true;
    }

    // Internal node: children, their parent encoding, and gaps.
    unsigned long* gaps = ma_gaps(node, type);
    unsigned descend_from = 0, descend_to = end;
    if (partial) descended_slots(node, type, min, max, end, &descend_from, &descend_to);
    unsigned long largest = 0;
    unsigned long child_min = min;
    for (unsigned s = 0; s <= end; ++s) {
      const unsigned long child_max = ma_slot_max(node, type, s, max);
      auto* child = static_cast<maple_enode*>(slots[s]);
      if (!child) return fail("child_slot", enode, min, max, depth, fmt::format("NULL child at slot {}", s));
      if (node_poisoned(mte_to_node(child)))
        return fail("freed_node", enode, min, max, depth,
                    fmt::format("child at slot {} was freed (POISON_FREE) but is still linked", s));
      // A dead child's parent points at itself: report it as dead before the parent
      // encoding checks below would call it a stranger's child.
      if (ma_dead_node(mte_to_node(child)))
        return fail("dead_node", child, child_min, child_max, depth + 1,
                    fmt::format("dead node reachable from slot {}", s));
      if (mte_parent(child) != node)
        return fail("child_slot", enode, min, max, depth, fmt::format("child at slot {} has another parent", s));
      if (mte_parent_slot(child) != s)
        return fail("parent_slot", enode, min, max, depth,
                    fmt::format("child at slot {} encodes parent slot {}", s, mte_parent_slot(child)));
      unsigned long child_gap = gaps ? gaps[s] : 0;
      if (s >= descend_from && s <= descend_to && !this->node(child, child_min, child_max, depth + 1, child_gap))
        return false;
      if (gaps) {
        if (gaps[s] != child_gap)
          return fail("gaps", enode, min, max, depth,
                      fmt::format("gap[{}] is {:#x}, child's largest gap is {:#x}", s, gaps[s], child_gap));
        if (child_gap > child_max - child_min + 1 && child_max - child_min + 1 != 0)
          return fail("gaps", enode, min, max, depth, fmt::format("gap[{}] larger than its slot", s));
      }
      if (child_gap > largest) largest = child_gap;
      child_min = child_max + 1;
    }
    if (gaps) {
      for (unsigned s = end + 1; s < slot_count; ++s)
        if (gaps[s]) return fail("gaps", enode, min, max, depth, fmt::format("gap[{}] beyond the end is set", s));
      const unsigned meta_gap = node->ma64.meta.gap;
      if (meta_gap > end || gaps[meta_gap] != largest)
        return fail("gaps", enode, min, max, depth,
                    fmt::format("metadata gap offset {} does not name the largest gap {:#x}", meta_gap, largest));
    }
    max_gap = gaps ? largest : 0;
    return true;
  }

  // The children a partial walk descends into: those meeting the window and one
  // neighbour on each side (a write's rebalance or split reaches a sibling); in a node
  // that is itself only a neighbour, the child nearest the window.
  void descended_slots(maple_node* node, maple_type type, unsigned long min, unsigned long max, unsigned end,
                       unsigned* from, unsigned* to) const {
    bool hit = false;
    unsigned first = 0, last = 0;
    unsigned long child_min = min;
    for (unsigned s = 0; s <= end; ++s) {
      const unsigned long child_max = ma_slot_max(node, type, s, max);
      if (child_max >= window_first && child_min <= window_last) {
        if (!hit) first = s;
        hit = true;
        last = s;
      }
      child_min = child_max + 1;
    }
    if (!hit) {
      *from = *to = max < window_first ? end : 0;
      return;
    }
    *from = first > 0 ? first - 1 : 0;
    *to = last < end ? last + 1 : end;
  }
};

unsigned long count_subtree(maple_enode* enode, unsigned long max) {
  maple_node* node = mte_to_node(enode);
  const maple_type type = mte_node_type(enode);
  unsigned long count = 1;
  if (!ma_is_leaf(type)) {
    const unsigned end = ma_data_end(node, type, max);
    for (unsigned i = 0; i <= end; ++i)
      count += count_subtree(static_cast<maple_enode*>(ma_slots(node, type)[i]), ma_slot_max(node, type, i, max));
  }
  return count;
}

// The root's checks, then the walk from the root (all of it, or v's window). Long
// because the root's own checks (height from the leftmost path, dead, parent) come
// before the walk, each with its own message, as mt_validate orders them.
std::optional<Failure> validate_from_root(const maple_tree* mt, Validator& v) {
  maple_enode* root = mt_root_enode(mt);
  if (!root) return std::nullopt;
  // The height from the leftmost path, which is followed before the full walk: a freed
  // node on it is reported as the walk would (same check and message).
  unsigned height = 1;
  if (node_poisoned(mte_to_node(root))) {
    v.fail("freed_node", root, 0, ULONG_MAX, 0, "the root node was freed (POISON_FREE) but is still linked");
    return v.failure;
  }
  unsigned long max = ULONG_MAX;
  for (maple_enode* e = root; !mte_is_leaf(e); ++height) {
    maple_node* node = mte_to_node(e);
    auto* child = static_cast<maple_enode*>(ma_slots(node, mte_node_type(e))[0]);
    if (child && node_poisoned(mte_to_node(child))) {
      v.fail("freed_node", e, 0, max, static_cast<int>(height - 1),
             "child at slot 0 was freed (POISON_FREE) but is still linked");
      return v.failure;
    }
    if (!child) break;  // the walk below reports the NULL child
    max = ma_slot_max(node, mte_node_type(e), 0, max);
    e = child;
  }
  v.height = height;
  if (mt_height_of(mt) != height) {
    v.fail("height", root, 0, ULONG_MAX, 0,
           fmt::format("tree flags say height {}, leftmost path has {}", mt_height_of(mt), height));
    return v.failure;
  }
  if (ma_dead_node(mte_to_node(root))) {
    v.fail("dead_node", root, 0, ULONG_MAX, 0, "the root node is dead");
    return v.failure;
  }
  const auto* root_parent = reinterpret_cast<const maple_tree*>(
      reinterpret_cast<unsigned long>(mte_to_node(root)->parent) & ~kRootParent);
  if (!mte_is_root(root) || root_parent != mt) {
    v.fail("parent_slot", root, 0, ULONG_MAX, 0, "root node's parent is not the tree");
    return v.failure;
  }
  unsigned long gap = 0;
  v.node(root, 0, ULONG_MAX, 0, gap);
  return v.failure;
}

}  // namespace

std::optional<Failure> validate_tree(const maple_tree* mt, LeafVisitor* visitor) {
  Validator v{mt, 0, std::nullopt};
  v.visitor = visitor;
  return validate_from_root(mt, v);
}

std::optional<Failure> validate_tree_range(const maple_tree* mt, unsigned long first, unsigned long last,
                                           unsigned long* span_first, unsigned long* span_last, LeafVisitor* visitor) {
  Validator v{mt, 0, std::nullopt};
  v.partial = true;
  v.visitor = visitor;
  v.window_first = first > 0 ? first - 1 : 0;
  v.window_last = last < ULONG_MAX ? last + 1 : ULONG_MAX;
  std::optional<Failure> failure = validate_from_root(mt, v);
  // No node (an empty tree, or one entry in the root): the whole index space is the span.
  *span_first = v.any_leaf ? v.span_first : 0;
  *span_last = v.any_leaf ? v.span_last : ULONG_MAX;
  return failure;
}

namespace {
// for_each_entry's walk of one subtree: false at a freed or dead node.
bool visit_subtree(maple_enode* enode, unsigned long min, unsigned long max, LeafVisitor& visitor) {
  maple_node* node = mte_to_node(enode);
  if (node_poisoned(node) || ma_dead_node(node)) return false;
  const maple_type type = mte_node_type(enode);
  void** slots = ma_slots(node, type);
  const unsigned end = ma_data_end(node, type, max);
  const bool leaf = ma_is_leaf(type);
  if (leaf) visitor.leaf(min, max);
  unsigned long slot_min = min;
  for (unsigned s = 0; s <= end; ++s) {
    const unsigned long slot_max = ma_slot_max(node, type, s, max);
    if (leaf) {
      if (slots[s]) visitor.entry(slot_min, slot_max, slots[s]);
    } else if (!slots[s] || !visit_subtree(static_cast<maple_enode*>(slots[s]), slot_min, slot_max, visitor)) {
      return false;
    }
    slot_min = slot_max + 1;
  }
  return true;
}
}  // namespace

bool for_each_entry(const maple_tree* mt, LeafVisitor& visitor) {
  if (maple_enode* root = mt_root_enode(mt)) return visit_subtree(root, 0, ULONG_MAX, visitor);
  if (mt->ma_root) visitor.entry(0, 0, mt->ma_root);  // one entry, index 0, in the root
  return true;
}

uint64_t count_tree_nodes(const maple_tree* mt) {
  maple_enode* root = mt_root_enode(mt);
  return root ? count_subtree(root, ULONG_MAX) : 0;
}

}  // namespace mmt::maple

void mt_validate(maple_tree* mt) {
  if (auto failure = mmt::maple::validate_tree(mt)) throw mmt::FailureError(std::move(*failure));
}
