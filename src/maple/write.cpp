// Maple tree write side. A store is planned first (store type, as the kernel's
// mas_wr_store_type classifies it, and the worst-case node count mas_prealloc_calc
// would reserve), nodes are reserved, and only then is the tree touched, so an
// allocation failure leaves the tree exactly as it was.
//
// Execution has two shapes:
//  * in-leaf stores (exact fit, append, slot store, node store outside RCU mode) rewrite
//    the one leaf in place and refresh the gaps above it;
//  * structural stores (split, rebalance, spanning store, node store in RCU mode) run
//    one bottom-up rebuild: at each depth a contiguous run of nodes [A..B] is replaced
//    by the nodes built from "A's slots before the cut + the new nodes from below + B's
//    slots after the cut". Too little data pulls in a neighbour (rebalance), too much is
//    split (after trying to push into a sibling, as mas_push_data does), and the rebuild
//    stops when one node replaces one node (a single pointer swap in its parent) or the
//    run covers the whole level (a new root). Old nodes die only after the swap, so an
//    RCU reader sees either the old tree or the new one.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "internal.h"
#include "mmtorture/core/defects.h"
#include "mmtorture/core/failure.h"
#include "mmtorture/sched/atomic_context.h"
#include "mmtorture/sched/yield_point.h"
#include "mmtorture/maple/validate.h"

using namespace mmt::maple;

namespace {

constexpr mmt::Site kSiteMtreeLockSpin{"mtree_lock: spinning"};
constexpr mmt::Site kSiteMtreeUnlock{"mtree_unlock"};

// A root-to-leaf walk toward one key, remembering every node on the way.
struct Path {
  maple_enode* node[MAPLE_HEIGHT_MAX];
  unsigned long min[MAPLE_HEIGHT_MAX];
  unsigned long max[MAPLE_HEIGHT_MAX];
  unsigned char offset[MAPLE_HEIGHT_MAX];  // slot taken toward the key at that depth
  int leaf_depth = 0;
};

void walk_path(const maple_tree* mt, unsigned long key, Path& path, int stop_depth = MAPLE_HEIGHT_MAX) {
  maple_enode* enode = mt_root_enode(mt);
  unsigned long min = 0, max = ULONG_MAX;
  for (int depth = 0;; ++depth) {
    maple_node* node = mte_to_node(enode);
    const maple_type type = mte_node_type(enode);
    const unsigned long* pivots = ma_pivots(node, type);
    const unsigned offset = node_offset(node, type, key);
    path.node[depth] = enode;
    path.min[depth] = min;
    path.max[depth] = max;
    path.offset[depth] = static_cast<unsigned char>(offset);
    if (ma_is_leaf(type) || depth == stop_depth) {
      path.leaf_depth = depth;
      return;
    }
    const unsigned long child_min = offset ? pivots[offset - 1] + 1 : min;
    const unsigned long child_max = offset < mt_pivot_count(type) && pivots[offset] ? pivots[offset] : max;
    enode = static_cast<maple_enode*>(ma_slots(node, type)[offset]);
    min = child_min;
    max = child_max;
  }
}

// The path to the sibling at `dir` (-1 left, +1 right) of the node at `depth` (same
// parent, which must have it): derived from `path` without walking from the root.
void sibling_path(const Path& path, int depth, int dir, Path& out) {
  out = path;
  maple_node* parent = mte_to_node(path.node[depth - 1]);
  const maple_type ptype = mte_node_type(path.node[depth - 1]);
  const unsigned slot = static_cast<unsigned>(static_cast<int>(path.offset[depth - 1]) + dir);
  const unsigned long* pivots = ma_pivots(parent, ptype);
  out.offset[depth - 1] = static_cast<unsigned char>(slot);
  out.node[depth] = static_cast<maple_enode*>(ma_slots(parent, ptype)[slot]);
  out.min[depth] = slot ? pivots[slot - 1] + 1 : path.min[depth - 1];
  out.max[depth] = ma_slot_max(parent, ptype, slot, path.max[depth - 1]);
  out.offset[depth] = 0;
  out.leaf_depth = depth;
}

// Data end of the node a path passes through at `depth`.
unsigned path_end(const Path& path, int depth) {
  return ma_data_end(mte_to_node(path.node[depth]), mte_node_type(path.node[depth]), path.max[depth]);
}

[[noreturn]] void mas_bug(ma_state* mas, const std::string& message) {
  const bool prealloc = (mas->mas_flags & MA_STATE_PREALLOC) != 0;
  mmt::raise_failure("maple.bug", prealloc ? "mas_store_prealloc" : "mas_wr_store_entry", message,
                     mt_dump_string(mas->tree, mt_dump_hex));
}

maple_node* mas_take_node(ma_state* mas) {
  maple_node* node = mas_pop_node(mas);
  if (!node) {
    if (mas->mas_flags & MA_STATE_PREALLOC)
      mas_bug(mas, fmt::format("mas_store_prealloc: preallocated nodes exhausted during a {} of "
                               "[{:#x}, {:#x}] ({} store(s) in this preallocation window)",
                               mas->store_type, mas->index, mas->last, mas->stores_in_prealloc));
    mas_bug(mas, fmt::format("store of [{:#x}, {:#x}] needed more nodes than its worst case",
                             mas->index, mas->last));
  }
  return node;
}

// ---- content of nodes ------------------------------------------------------------

// Appends slots [from, to] of a node spanning up to max.
void copy_slots(BigNode& out, maple_enode* enode, unsigned long max, unsigned from, unsigned to) {
  maple_node* node = mte_to_node(enode);
  const maple_type type = mte_node_type(enode);
  void** slots = ma_slots(node, type);
  const unsigned long* gaps = ma_gaps(node, type);
  for (unsigned i = from; i <= to && from <= to; ++i)
    out.push(ma_slot_max(node, type, i, max), slots[i], gaps ? gaps[i] : 0);
}

void copy_all(BigNode& out, maple_enode* enode, unsigned long max) {
  copy_slots(out, enode, max, 0, ma_data_end(mte_to_node(enode), mte_node_type(enode), max));
}

// Merges adjacent NULL ranges: the tree never holds two in a row.
void coalesce_nulls(BigNode& c) {
  unsigned out = 0;
  for (unsigned i = 0; i < c.count; ++i) {
    if (out > 0 && !c.slot[i] && !c.slot[out - 1]) {
      c.pivot[out - 1] = c.pivot[i];
      continue;
    }
    c.pivot[out] = c.pivot[i];
    c.slot[out] = c.slot[i];
    c.gap[out] = c.gap[i];
    ++out;
  }
  c.count = out;
}

// Leaf content after storing entry over [index, last]: A's slots before index, the
// entry, B's slots after last (A == B for a store inside one leaf).
void leaf_content(BigNode& out, maple_enode* a, unsigned long a_min, unsigned long a_max, maple_enode* b,
                  unsigned long b_max, unsigned long index, unsigned long last, void* entry) {
  {
    maple_node* node = mte_to_node(a);
    const maple_type type = mte_node_type(a);
    const unsigned end = ma_data_end(node, type, a_max);
    void** slots = ma_slots(node, type);
    unsigned long slot_min = a_min;
    for (unsigned i = 0; i <= end && slot_min < index; ++i) {
      const unsigned long slot_max = ma_slot_max(node, type, i, a_max);
      out.push(slot_max < index ? slot_max : index - 1, slots[i]);
      slot_min = slot_max + 1;
    }
  }
  out.push(last, entry);
  if (last != ULONG_MAX) {
    maple_node* node = mte_to_node(b);
    const maple_type type = mte_node_type(b);
    const unsigned end = ma_data_end(node, type, b_max);
    void** slots = ma_slots(node, type);
    for (unsigned i = 0; i <= end; ++i) {
      const unsigned long slot_max = ma_slot_max(node, type, i, b_max);
      if (slot_max > last) out.push(slot_max, slots[i]);
    }
  }
  coalesce_nulls(out);
}

// Largest gap among content slots [from, to) of a leaf starting at min.
unsigned long content_leaf_gap(const BigNode& c, unsigned from, unsigned to, unsigned long min) {
  unsigned long gap = 0;
  for (unsigned i = from; i < to; ++i) {
    const unsigned long slot_min = i == from ? min : c.pivot[i - 1] + 1;
    if (!c.slot[i]) {
      const unsigned long size = c.pivot[i] - slot_min + 1;
      if (size > gap || (size == 0 && c.pivot[i] == ULONG_MAX)) gap = size ? size : ULONG_MAX;
    }
  }
  return gap;
}

unsigned long content_internal_gap(const BigNode& c, unsigned from, unsigned to) {
  unsigned long gap = 0;
  for (unsigned i = from; i < to; ++i) gap = c.gap[i] > gap ? c.gap[i] : gap;
  return gap;
}

// Writes content slots [from, to) into a zeroed or reused node. Children of internal
// nodes are adopted (their parent pointers name the new node).
void fill_node(maple_tree* mt, maple_node* node, maple_type type, const BigNode& c, unsigned from, unsigned to,
               bool live = false) {
  const unsigned count = to - from;
  const unsigned pivot_count = mt_pivot_count(type);
  const unsigned slot_count = mt_slot_count(type);
  unsigned long* pivots = ma_pivots(node, type);
  void** slots = ma_slots(node, type);
  unsigned long* gaps = ma_gaps(node, type);
  // A live node (an in-place store) is read by lock-free readers while it is written:
  // each write that changes what they see is an RCU access point, in the order below
  // (slots before pivots: an entry is in its slot before its range grows to it).
  // A fresh node is not yet reachable: plain copies.
  if (live) {
    auto write = [&](auto& field, auto value) {
      if (field != value) rcu_assign_point(mt);
      field = value;
    };
    for (unsigned i = 0; i < slot_count; ++i) write(slots[i], i < count ? c.slot[from + i] : nullptr);
    for (unsigned i = 0; i < pivot_count; ++i) write(pivots[i], i < count ? c.pivot[from + i] : 0UL);
  } else {
    const unsigned pivots_used = count < pivot_count ? count : pivot_count;
    std::memcpy(static_cast<void*>(slots), c.slot + from, count * sizeof(void*));
    std::memset(static_cast<void*>(slots + count), 0, (slot_count - count) * sizeof(void*));
    std::memcpy(pivots, c.pivot + from, pivots_used * sizeof(unsigned long));
    std::memset(pivots + pivots_used, 0, (pivot_count - pivots_used) * sizeof(unsigned long));
  }
  unsigned gap_offset = 0;
  if (gaps) {
    for (unsigned i = 0; i < slot_count; ++i) {
      gaps[i] = i < count ? c.gap[from + i] : 0;
      if (i < count && gaps[i] > gaps[gap_offset]) gap_offset = i;
    }
  }
  ma_set_meta(node, type, count - 1, gap_offset);
  if (!ma_is_leaf(type)) {
    for (unsigned i = 0; i < count; ++i) mte_set_parent(static_cast<maple_enode*>(c.slot[from + i]), node, i);
  }
}

// ---- splitting content into nodes -------------------------------------------------

struct Parts {
  unsigned from[3] = {0, 0, 0};
  unsigned count = 0;  // number of parts; part i is [from[i], from[i+1]) (last ends at content end)
};

// mab_no_null_split: a node other than the last may not end in a NULL (the gaps of a
// leaf are kept together), so a split that would end the left part on NULL moves one
// slot right when the right part keeps more than the minimum, else one slot left.
unsigned mab_no_null_split(const BigNode& c, unsigned split, maple_type type) {
  if (c.slot[split]) return split;
  const unsigned b_end = c.count - 1;
  if (split < mt_slot_count(type) - 1 && b_end - split > mt_min_slots(type)) return split + 1;
  return split - 1;
}

// Where the kernel (6.12) cuts content into nodes (mas_mab_to_node / mab_calc_split):
// one node while it fits; otherwise halves, or thirds when two nodes cannot hold it
// (the 3-way split), each cut moved off a NULL. `split`, when not negative, is a cut
// already chosen (after a push into a sibling). Split offsets are the last slot of the
// left part, as the kernel's.
Parts mab_calc_split(const BigNode& c, maple_type type, int split = -1) {
  const unsigned slot_count = mt_slot_count(type);
  const unsigned b_end = c.count - 1;
  Parts parts;
  parts.from[parts.count++] = 0;
  if (split < 0) {
    if (b_end < slot_count) return parts;
    unsigned first = b_end / 2, mid = 0;
    if (b_end >= 2 * slot_count || (!c.slot[first] && b_end >= 2 * slot_count - 1)) {
      first = b_end / 3;
      mid = 2 * first;
    }
    first = mab_no_null_split(c, first, type);
    if (mid) mid = mab_no_null_split(c, mid, type);
    parts.from[parts.count++] = first + 1;
    if (mid) parts.from[parts.count++] = mid + 1;
  } else {
    parts.from[parts.count++] = static_cast<unsigned>(split) + 1;
  }
  for (unsigned i = 0; i < parts.count; ++i) {
    const unsigned to = i + 1 < parts.count ? parts.from[i + 1] : c.count;
    if (to <= parts.from[i] || to - parts.from[i] > slot_count)
      mmt::raise_failure("maple.bug", "mab_calc_split", fmt::format("no valid split of {} slots", c.count));
  }
  return parts;
}

// ---- gap maintenance -------------------------------------------------------------

// The child at path depth `depth` now has largest gap `gap`: update the arange parents
// above it while the value keeps changing.
void propagate_gap(maple_tree* mt, const Path& path, int depth, unsigned long gap) {
  if (!mt_is_alloc(mt)) return;
  for (int d = depth - 1; d >= 0; --d) {
    maple_node* parent = mte_to_node(path.node[d]);
    const unsigned slot = path.offset[d];
    if (parent->ma64.gap[slot] == gap) return;
    parent->ma64.gap[slot] = gap;
    const unsigned end = parent->ma64.meta.end;
    const unsigned gap_offset = ma_arange_max_gap_offset(parent, end);
    parent->ma64.meta.gap = static_cast<unsigned char>(gap_offset);
    gap = parent->ma64.gap[gap_offset];
  }
}

unsigned compute_height(const maple_tree* mt) {
  maple_enode* enode = mt_root_enode(mt);
  if (!enode) return 0;
  unsigned height = 1;
  while (!mte_is_leaf(enode)) {
    enode = static_cast<maple_enode*>(ma_slots(mte_to_node(enode), mte_node_type(enode))[0]);
    ++height;
  }
  return height;
}

void set_root_node(maple_tree* mt, maple_enode* enode) {
  mte_set_root_parent(enode, mt);
  rcu_assign_point(mt);
  mt->ma_root = mte_mk_root(enode);
  mt_set_height(mt, compute_height(mt));
}

// Frees every node at depths < stop_depth (the levels above a whole-level rebuild).
void free_upper_levels(maple_tree* mt, maple_enode* enode, unsigned long max, int depth, int stop_depth) {
  if (depth >= stop_depth) return;
  maple_node* node = mte_to_node(enode);
  const maple_type type = mte_node_type(enode);
  const unsigned end = ma_data_end(node, type, max);
  for (unsigned i = 0; i <= end; ++i)
    free_upper_levels(mt, static_cast<maple_enode*>(ma_slots(node, type)[i]), ma_slot_max(node, type, i, max),
                      depth + 1, stop_depth);
  mt_free_node(mt, node);
}

// ---- the write plan -----------------------------------------------------------------

struct WrPlan {
  store_type type = wr_invalid;
  Path path;                 // toward index
  unsigned long index = 0;   // after NULL extension (in-leaf stores)
  unsigned long last = 0;
  void* content = nullptr;   // entry found at mas->index
};

// Classifies the store of entry over [mas->index, mas->last] (mas_wr_store_type).
store_type mas_wr_plan(ma_state* mas, void* entry, WrPlan& plan) {
  maple_tree* mt = mas->tree;
  plan.index = mas->index;
  plan.last = mas->last;
  if (!xa_is_node(mt->ma_root)) {
    plan.content = mas->index == 0 ? mt->ma_root : nullptr;
    return plan.type = wr_store_root;
  }
  Path& path = plan.path;
  walk_path(mt, mas->index, path);
  const int d = path.leaf_depth;
  maple_node* leaf = mte_to_node(path.node[d]);
  const maple_type type = mte_node_type(path.node[d]);
  const unsigned long leaf_max = path.max[d];
  void** slots = ma_slots(leaf, type);
  unsigned offset = path.offset[d];
  plan.content = slots[offset];
  if (mas->last > leaf_max || (mas->last == leaf_max && !entry && mas->last != ULONG_MAX))
    return plan.type = wr_spanning_store;

  const unsigned end = path_end(path, d);
  auto slot_min = [&](unsigned o) { return o ? ma_pivots(leaf, type)[o - 1] + 1 : path.min[d]; };
  auto slot_max = [&](unsigned o) { return ma_slot_max(leaf, type, o, leaf_max); };
  unsigned offset_end = offset;
  while (offset_end < end && slot_max(offset_end) < mas->last) ++offset_end;
  unsigned long index = mas->index, last = mas->last;
  if (!entry) {
    // mas_wr_extend_null: absorb the neighbouring empty ranges.
    if (!slots[offset]) {
      index = slot_min(offset);
    } else if (index == slot_min(offset) && offset > 0 && !slots[offset - 1]) {
      --offset;
      index = slot_min(offset);
    }
    if (!slots[offset_end]) {
      last = slot_max(offset_end);
    } else if (last == slot_max(offset_end) && offset_end < end && !slots[offset_end + 1]) {
      ++offset_end;
      last = slot_max(offset_end);
    }
  }
  plan.index = index;
  plan.last = last;
  if (offset == offset_end && index == slot_min(offset) && last == slot_max(offset))
    return plan.type = wr_exact_fit;
  if (index == 0 && last == ULONG_MAX) return plan.type = wr_new_root;
  int new_end = static_cast<int>(end) + 2 - static_cast<int>(offset_end - offset);
  if (index == slot_min(offset)) --new_end;
  if (last == slot_max(offset_end)) --new_end;
  if (new_end < static_cast<int>(mt_min_slots(type)))
    return plan.type = d == 0 ? wr_node_store : wr_rebalance;
  if (new_end >= static_cast<int>(mt_slot_count(type))) return plan.type = wr_split_store;
  if (!mt_in_rcu(mt) && offset == end) return plan.type = wr_append;
  if (new_end == static_cast<int>(end) && (!mt_in_rcu(mt) || offset_end - offset == 1))
    return plan.type = wr_slot_store;
  return plan.type = wr_node_store;
}

// Worst-case nodes for a planned store (mas_prealloc_calc): the reservation that makes
// mas_store_prealloc infallible.
unsigned long mas_prealloc_calc(const ma_state* mas, const WrPlan& plan, void* entry) {
  const unsigned long height = mt_height_of(mas->tree);
  switch (plan.type) {
    case wr_store_root:
      if (mas->index != 0 || mas->last != 0) return 1;
      return (reinterpret_cast<unsigned long>(entry) & 3) == 2 ? 1 : 0;
    case wr_exact_fit:
    case wr_append:
    case wr_slot_store:
      return 0;
    case wr_node_store:
      return mt_in_rcu(mas->tree) ? 1 : 0;
    case wr_new_root:
      return 1;
    case wr_split_store:
      // CANARY prealloc-split-one-short: the split's worst case is one node short.
      return 1 + 2 * height - (mmt::defect_enabled(mmt::Defect::PreallocSplitOneShort) ? 1 : 0);
    case wr_rebalance:
      return 2 * height - 1;
    case wr_spanning_store:
      return 1 + 3 * height;
    case wr_invalid:
      break;
  }
  return 0;
}

// ---- execution ---------------------------------------------------------------------

void mas_store_root(ma_state* mas, void* entry) {
  maple_tree* mt = mas->tree;
  void* root = mt->ma_root;
  if (!entry) {
    if (mas->index == 0) {
      rcu_assign_point(mt);
      mt->ma_root = nullptr;
    }
    return;
  }
  if (mas->index == 0 && mas->last == 0 && (reinterpret_cast<unsigned long>(entry) & 3) != 2) {
    rcu_assign_point(mt);
    mt->ma_root = entry;
    return;
  }
  // mas_root_expand: one leaf holding the old root entry (if kept), the new range and
  // the empty space around it.
  BigNode c;
  if (root && mas->index > 0) c.push(0, root);
  if (mas->index > (root ? 1UL : 0UL)) c.push(mas->index - 1, nullptr);
  c.push(mas->last, entry);
  if (mas->last != ULONG_MAX) c.push(ULONG_MAX, nullptr);
  coalesce_nulls(c);
  maple_node* node = mas_take_node(mas);
  fill_node(mt, node, maple_leaf_64, c, 0, c.count);
  set_root_node(mt, mt_mk_node(node, maple_leaf_64));
}

void mas_new_root(ma_state* mas, void* entry) {
  maple_tree* mt = mas->tree;
  maple_enode* old = mt_root_enode(mt);
  if (entry) {
    BigNode c;
    c.push(ULONG_MAX, entry);
    maple_node* node = mas_take_node(mas);
    fill_node(mt, node, maple_leaf_64, c, 0, 1);
    set_root_node(mt, mt_mk_node(node, maple_leaf_64));
  } else {
    rcu_assign_point(mt);
    mt->ma_root = nullptr;
    mt_set_height(mt, 0);
  }
  if (old) mt_destroy_walk(mt, old, ULONG_MAX);
}

// Rewrites one leaf in place (non-RCU node/slot store and append) and refreshes gaps.
void mas_wr_leaf_in_place(ma_state* mas, WrPlan& plan, void* entry) {
  maple_tree* mt = mas->tree;
  const Path& path = plan.path;
  const int d = path.leaf_depth;
  BigNode c;
  leaf_content(c, path.node[d], path.min[d], path.max[d], path.node[d], path.max[d], plan.index, plan.last, entry);
  maple_node* leaf = mte_to_node(path.node[d]);
  fill_node(mt, leaf, maple_leaf_64, c, 0, c.count, /*live=*/true);
  if (d == 0 || !mt_is_alloc(mt)) return;
  propagate_gap(mt, path, d, content_leaf_gap(c, 0, c.count, path.min[d]));
}

// An append (non-RCU, the write inside the leaf's last slot) writes in place what
// changes, as the kernel's mas_wr_append does: the last slot's range is cut into the
// part before the write, the write and the part after, which keep the old content,
// so only the last slot and the one or two after it are written. This is the store
// an ascending load makes at every step; rebuilding the whole leaf made it the model's
// slowest store against the kernel's. A NULL store takes the general in-leaf path: its
// range may have grown over empty neighbours, which the plan's cut already reflects.
void mas_wr_append(ma_state* mas, WrPlan& plan, void* entry) {
  if (!entry) {
    mas_wr_leaf_in_place(mas, plan, entry);
    return;
  }
  maple_tree* mt = mas->tree;
  const Path& path = plan.path;
  const int d = path.leaf_depth;
  maple_node* leaf = mte_to_node(path.node[d]);
  unsigned long* pivots = ma_pivots(leaf, maple_leaf_64);
  void** slots = ma_slots(leaf, maple_leaf_64);
  const unsigned end = path.offset[d];
  const unsigned long r_min = end ? pivots[end - 1] + 1 : path.min[d];
  const unsigned long r_max = path.max[d];
  void* content = slots[end];
  unsigned long piece_last[3];
  void* piece_entry[3];
  unsigned pieces = 0;
  if (plan.index > r_min) piece_last[pieces] = plan.index - 1, piece_entry[pieces++] = content;
  piece_last[pieces] = plan.last, piece_entry[pieces++] = entry;
  if (plan.last < r_max) piece_last[pieces] = r_max, piece_entry[pieces++] = content;
  const unsigned new_end = end + pieces - 1;
  // Right to left, as the kernel's append: the slots past the old end first.
  for (unsigned i = pieces; i-- > 0;) {
    const unsigned at = end + i;
    slots[at] = piece_entry[i];
    if (at < mt_pivot_count(maple_leaf_64)) pivots[at] = piece_last[i];
  }
  ma_set_meta(leaf, maple_leaf_64, new_end, 0);
  if (d > 0 && mt_is_alloc(mt))
    propagate_gap(mt, path, d, ma_leaf_max_gap(leaf, maple_leaf_64, path.min[d], path.max[d]));
}

void mas_wr_exact_fit(ma_state* mas, WrPlan& plan, void* entry) {
  maple_tree* mt = mas->tree;
  const Path& path = plan.path;
  const int d = path.leaf_depth;
  maple_node* leaf = mte_to_node(path.node[d]);
  // The NULL extension may have moved the offset one slot left.
  unsigned offset = path.offset[d];
  const unsigned long* pivots = ma_pivots(leaf, maple_leaf_64);
  while (offset > 0 && pivots[offset - 1] >= plan.index) --offset;
  rcu_assign_point(mt);
  ma_slots(leaf, maple_leaf_64)[offset] = entry;
  if (d > 0) propagate_gap(mt, path, d, ma_leaf_max_gap(leaf, maple_leaf_64, path.min[d], path.max[d]));
}

// The order of the rcu-node-published-before-pivots canary: `fresh` (filled) is linked at
// `link` with its pivots zeroed, then each pivot is written back, each write an RCU
// access point, as a fill that runs after rcu_assign_pointer would.
void publish_then_write_pivots(maple_tree* mt, void** link, maple_enode* fresh) {
  unsigned long* pivots = ma_pivots(mte_to_node(fresh), mte_node_type(fresh));
  const unsigned count = mt_pivot_count(mte_node_type(fresh));
  std::vector<unsigned long> filled(pivots, pivots + count);
  std::fill(pivots, pivots + count, 0UL);
  rcu_assign_point(mt);
  *link = fresh;
  for (unsigned i = 0; i < count; ++i) {
    if (!filled[i]) continue;
    rcu_assign_point(mt);
    pivots[i] = filled[i];
  }
}

// The nodes leaving the tree in one rebuild: a few per level, kept without a heap
// allocation; only a spanning store over many nodes spills into the vector.
class NodeList {
 public:
  void push_back(maple_node* node) {
    if (count_ < kInline) inline_[count_++] = node;
    else more_.push_back(node);
  }
  template <typename Fn>
  void for_each(Fn fn) const {
    for (unsigned i = 0; i < count_; ++i) fn(inline_[i]);
    for (maple_node* node : more_) fn(node);
  }

 private:
  static constexpr unsigned kInline = 32;
  maple_node* inline_[kInline];
  unsigned count_ = 0;
  std::vector<maple_node*> more_;
};

// Appends the nodes at `depth` from a to b inclusive, in key order (the tree is not yet
// modified, so walking from the root finds each next one).
void collect_level(const maple_tree* mt, int depth, maple_enode* a, unsigned long a_max, maple_enode* b,
                   unsigned long b_min, NodeList& out) {
  maple_enode* cur = a;
  unsigned long cur_max = a_max;
  for (;;) {
    out.push_back(mte_to_node(cur));
    if (cur == b) return;
    if (cur_max + 1 == b_min) {  // b is next: no walk needed (a push's pair)
      out.push_back(mte_to_node(b));
      return;
    }
    Path p;
    walk_path(mt, cur_max + 1, p, depth);
    cur = p.node[depth];
    cur_max = p.max[depth];
  }
}

// The structural rebuild described at the top of this file. Long because its phases
// (collect, fill, split, link, publish, free) share one plan and must run in this order
// for RCU readers: splitting it would pass the whole state between the pieces.
void mas_wr_rebuild(ma_state* mas, WrPlan& plan, void* entry) {
  maple_tree* mt = mas->tree;
  Path pa = plan.path;
  Path pb;
  const bool spanning = plan.type == wr_spanning_store;
  // CANARY spanning-store-misses-next-node: the right-hand walk stops at mas->last, so a
  // store ending on a leaf's last pivot leaves out the next leaf (and its leading NULL).
  const bool to_last = mmt::defect_enabled(mmt::Defect::SpanningStoreMissesNextNode);
  if (spanning) walk_path(mt, mas->last == ULONG_MAX || to_last ? mas->last : mas->last + 1, pb);
  else pb = pa;
  int d = pa.leaf_depth;
  maple_enode* a = pa.node[d];
  maple_enode* b = pb.node[d];
  unsigned long a_min = pa.min[d], b_max = pb.max[d];

  // Two content buffers, swapped level to level instead of copied.
  BigNode buffers[2];
  BigNode* cur = &buffers[0];
  auto other = [&]() -> BigNode& {
    BigNode& next = cur == &buffers[0] ? buffers[1] : buffers[0];
    next.count = 0;
    return next;
  };
  const unsigned long index = spanning ? mas->index : plan.index;
  const unsigned long last = spanning ? mas->last : plan.last;
  leaf_content(*cur, a, a_min, pa.max[d], b, b_max, index, last, entry);

  NodeList dead;
  for (;;) {
    BigNode& c = *cur;
    const maple_type type = d == pa.leaf_depth ? maple_leaf_64 : mt_internal_type(mt);
    const bool whole = a_min == 0 && b_max == ULONG_MAX;
    const unsigned slot_count = mt_slot_count(type);
    int split = -1;  // the cut a push into a sibling chose
    // CANARY rebalance-leaves-node-short: the sufficiency test is off by one, so a node
    // one slot short of the minimum is kept.
    const unsigned sufficient =
        mt_min_slots(type) + (mmt::defect_enabled(mmt::Defect::RebalanceLeavesNodeShort) ? 0 : 1);
    if (!whole && c.count < sufficient) {
      // Rebalance: pull in a neighbour at this depth, as mast_spanning_rebalance picks
      // it: from the parent up, the first level with a node to the right or the left
      // decides, the right preferred.
      bool take_right = false;
      int k = d - 1;
      for (; k >= 0; --k) {
        if (pb.offset[k] < path_end(pb, k)) {
          take_right = true;
          break;
        }
        if (pa.offset[k] > 0) break;
      }
      // A sibling's path comes from ours; a cousin's needs a walk.
      if (take_right) {
        Path pn;
        if (k == d - 1) sibling_path(pb, d, +1, pn);
        else walk_path(mt, b_max + 1, pn, d);
        copy_all(c, pn.node[d], pn.max[d]);
        pb = pn;
        b = pn.node[d];
        b_max = pn.max[d];
      } else {
        Path pn;
        if (k == d - 1) sibling_path(pa, d, -1, pn);
        else walk_path(mt, a_min - 1, pn, d);
        BigNode& merged = other();
        copy_all(merged, pn.node[d], pn.max[d]);
        for (unsigned i = 0; i < c.count; ++i) merged.push(c.pivot[i], c.slot[i], c.gap[i]);
        cur = &merged;
        pa = pn;
        a = pn.node[d];
        a_min = pn.min[d];
      }
    } else if (!whole && c.count > slot_count && a == b && plan.type == wr_split_store) {
      // mas_push_data: a split first tries to move its data into the left sibling, then
      // the right one, when the two fit with room to spare; the pair is then cut where
      // the kernel cuts it (the far node full but for one slot), which is what packs
      // ascending loads into leaves of 15-16 entries.
      const unsigned b_end = c.count - 1;
      unsigned space = 2 * slot_count - 2;
      if (ma_is_leaf(type)) --space;
      if (b_max == ULONG_MAX) --space;
      maple_node* parent = mte_to_node(pa.node[d - 1]);
      const maple_type ptype = mte_node_type(pa.node[d - 1]);
      const unsigned slot = pa.offset[d - 1];
      const unsigned long pmax = pa.max[d - 1];
      if (slot > 0) {
        auto* sib = static_cast<maple_enode*>(ma_slots(parent, ptype)[slot - 1]);
        const unsigned long sib_max = ma_pivots(parent, ptype)[slot - 1];
        const unsigned sib_end = ma_data_end(mte_to_node(sib), mte_node_type(sib), sib_max);
        if (b_end + sib_end < space) {
          Path pn;
          sibling_path(pa, d, -1, pn);
          BigNode& merged = other();
          copy_all(merged, sib, sib_max);
          for (unsigned i = 0; i < c.count; ++i) merged.push(c.pivot[i], c.slot[i], c.gap[i]);
          cur = &merged;
          pa = pn;
          a = sib;
          a_min = pn.min[d];
          split = static_cast<int>(mab_no_null_split(merged, slot_count - 2, type));
        }
      }
      if (a == b && slot < path_end(pa, d - 1)) {
        auto* sib = static_cast<maple_enode*>(ma_slots(parent, ptype)[slot + 1]);
        const unsigned long sib_max = ma_slot_max(parent, ptype, slot + 1, pmax);
        const unsigned sib_end = ma_data_end(mte_to_node(sib), mte_node_type(sib), sib_max);
        if (b_end + sib_end < space) {
          Path pn;
          sibling_path(pb, d, +1, pn);
          copy_all(*cur, sib, sib_max);
          pb = pn;
          b = sib;
          b_max = sib_max;
          split = static_cast<int>(mab_no_null_split(*cur, b_end + sib_end - (slot_count - 2), type));
        }
      }
    }

    BigNode& content = *cur;
    // Internal root content of one child: that child becomes the root.
    // The old levels die only after the new root is published: a lock-free reader may be
    // entering the old root until then, and a dead node's pivots hold its rcu_head.
    if (whole && !ma_is_leaf(type) && content.count == 1) {
      collect_level(mt, d, a, pa.max[d], b, pb.min[d], dead);
      maple_enode* old_root = mt_root_enode(mt);
      set_root_node(mt, static_cast<maple_enode*>(content.slot[0]));
      free_upper_levels(mt, old_root, ULONG_MAX, 0, d);
      break;
    }

    const Parts parts = mab_calc_split(content, type, split);
    BigNode built;  // the new nodes, as content for the level above
    unsigned long part_min = a_min;
    for (unsigned i = 0; i < parts.count; ++i) {
      const unsigned from = parts.from[i];
      const unsigned to = i + 1 < parts.count ? parts.from[i + 1] : content.count;
      maple_node* node = mas_take_node(mas);
      fill_node(mt, node, type, content, from, to);
      // Only allocation-range trees keep gaps (their internal nodes are arange_64).
      const unsigned long gap = !mt_is_alloc(mt)   ? 0
                                : ma_is_leaf(type) ? content_leaf_gap(content, from, to, part_min)
                                                   : content_internal_gap(content, from, to);
      built.push(content.pivot[to - 1], mt_mk_node(node, type), gap);
      part_min = content.pivot[to - 1] + 1;
    }

    // Every old node in [a..b] at this depth leaves the tree.
    collect_level(mt, d, a, pa.max[d], b, pb.min[d], dead);

    if (whole) {
      maple_enode* old_root = mt_root_enode(mt);
      if (built.count == 1) {
        set_root_node(mt, static_cast<maple_enode*>(built.slot[0]));
      } else {
        const maple_type rtype = mt_internal_type(mt);
        maple_node* root = mas_take_node(mas);
        fill_node(mt, root, rtype, built, 0, built.count);
        set_root_node(mt, mt_mk_node(root, rtype));
      }
      if (d > 0) free_upper_levels(mt, old_root, ULONG_MAX, 0, d);
      break;
    }
    // A rebalance or spanning store goes on up (as the kernel's, which rebuilds every
    // level to the root) while the level above is short of its minimum: a node of the
    // rightmost spine may be, and then it takes data from its neighbour.
    const bool rebalancing = plan.type == wr_rebalance || plan.type == wr_spanning_store;
    const bool parent_short = rebalancing && !(pa.min[d - 1] == 0 && pb.max[d - 1] == ULONG_MAX) &&
                              path_end(pa, d - 1) + 1 < mt_min_slots(mte_node_type(pa.node[d - 1])) + 1;
    if (a == b && built.count == 1 && !parent_short) {
      // One node replaces one node: swap the pointer in the parent.
      maple_node* parent = mte_to_node(pa.node[d - 1]);
      const maple_type ptype = mte_node_type(pa.node[d - 1]);
      const unsigned slot = pa.offset[d - 1];
      auto* fresh = static_cast<maple_enode*>(built.slot[0]);
      mte_set_parent(fresh, parent, slot);
      // CANARY rcu-node-published-before-pivots: the new node is linked into its parent
      // first and its pivots are written after, while readers may be inside it.
      if (mmt::defect_enabled(mmt::Defect::RcuNodePublishedBeforePivots)) {
        publish_then_write_pivots(mt, &ma_slots(parent, ptype)[slot], fresh);
      } else {
        rcu_assign_point(mt);
        ma_slots(parent, ptype)[slot] = fresh;
      }
      // CANARY node-replace-skips-gap-update: a node store's new leaf leaves the parent's
      // gap for its slot as it was.
      if (!(plan.type == wr_node_store && mmt::defect_enabled(mmt::Defect::NodeReplaceSkipsGapUpdate)))
        propagate_gap(mt, pa, d, built.gap[0]);
      break;
    }

    // Go up one level: the parents' slots around the replaced run, with the new nodes.
    BigNode& up = other();
    maple_enode* pa_node = pa.node[d - 1];
    maple_enode* pb_node = pb.node[d - 1];
    if (pa.offset[d - 1] > 0) {
      copy_slots(up, pa_node, pa.max[d - 1], 0, pa.offset[d - 1] - 1);
      // CANARY destroy-frees-live-nodes (seed 003): the clean-up after a spanning store
      // also frees a node that stays linked into the tree.
      if (spanning && mmt::defect_enabled(mmt::Defect::DestroyFreesLiveNodes))
        dead.push_back(mte_to_node(static_cast<maple_enode*>(up.slot[0])));
    }
    for (unsigned i = 0; i < built.count; ++i) up.push(built.pivot[i], built.slot[i], built.gap[i]);
    const unsigned pb_end = path_end(pb, d - 1);
    if (pb.offset[d - 1] < pb_end) copy_slots(up, pb_node, pb.max[d - 1], pb.offset[d - 1] + 1, pb_end);
    cur = &up;
    --d;
    a = pa_node;
    b = pb_node;
    a_min = pa.min[d];
    b_max = pb.max[d];
  }
  dead.for_each([mt](maple_node* node) { mt_free_node(mt, node); });
}

// Executes a planned store using the state's reserved nodes. With `position` the
// cursor is left on the range written (the advanced API's contract); the normal API
// discards its cursor and skips that walk.
void mas_wr_execute(ma_state* mas, WrPlan& plan, void* entry, bool position = true) {
  maple_tree* mt = mas->tree;
  mas->store_type = plan.type;
  switch (plan.type) {
    case wr_store_root:
      mas_store_root(mas, entry);
      break;
    case wr_new_root:
      mas_new_root(mas, entry);
      break;
    case wr_exact_fit:
      mas_wr_exact_fit(mas, plan, entry);
      break;
    case wr_append: mas_wr_append(mas, plan, entry); break;
    case wr_slot_store:
      mas_wr_leaf_in_place(mas, plan, entry);
      break;
    case wr_node_store:
      if (mt_in_rcu(mt)) mas_wr_rebuild(mas, plan, entry);
      else mas_wr_leaf_in_place(mas, plan, entry);
      break;
    case wr_spanning_store:
      if (mas->index == 0 && mas->last == ULONG_MAX) {
        mas_new_root(mas, entry);
        break;
      }
      mas_wr_rebuild(mas, plan, entry);
      break;
    case wr_split_store:
    case wr_rebalance:
      mas_wr_rebuild(mas, plan, entry);
      break;
    case wr_invalid:
      break;
  }
  if (mas->mas_flags & MA_STATE_PREALLOC) ++mas->stores_in_prealloc;
  if (!position) {
    mas->status = ma_start;
    mas->node = nullptr;
    return;
  }
  // Leave the cursor on the range just written (extended over empty neighbours).
  const unsigned long index = plan.type == wr_spanning_store ? mas->index : plan.index;
  if (xa_is_node(mt->ma_root)) {
    mas_descend_walk(mas, index);
  } else {
    mas->index = plan.type == wr_spanning_store ? mas->index : plan.index;
    mas->last = plan.type == wr_spanning_store ? mas->last : plan.last;
    mas->status = ma_start;
    mas->node = nullptr;
  }
}

// Plans, reserves (GFP_NOWAIT) and executes. On a failed reservation the state holds
// -ENOMEM and the tree is untouched.
void* mas_wr_store_gfp_once(ma_state* mas, void* entry, mmt::gfp_t gfp, bool position = true) {
  WrPlan plan;
  mas_wr_plan(mas, entry, plan);
  mas->store_type = plan.type;
  const unsigned long request = mas_prealloc_calc(mas, plan, entry);
  if (request > mas->alloc_count) {
    mas_node_count_gfp(mas, request, gfp);
    if (mas->status == ma_error) return plan.content;
  }
  mas_wr_execute(mas, plan, entry, position);
  return plan.content;
}

// mas_store_gfp's retry loop; `position` as for mas_wr_execute.
int mas_store_gfp_common(ma_state* mas, void* entry, mmt::gfp_t gfp, bool position) {
  const unsigned long index = mas->index, last = mas->last;
  int ret = 0;
  for (;;) {
    mas->status = ma_start;
    mas_wr_store_gfp_once(mas, entry, mmt::gfp::kNowait, position);
    if (mas_nomem(mas, gfp)) {
      mas_set_range(mas, index, last);
      continue;
    }
    break;
  }
  if (mas_is_err(mas)) ret = mas_error(mas);
  mas_destroy(mas);
  return ret;
}

// mas_erase's body; `position` as for mas_wr_execute.
void* mas_erase_common(ma_state* mas, bool position) {
  mas->status = ma_start;
  void* entry = mas_walk(mas);
  if (!entry) return nullptr;
  const unsigned long index = mas->index;
  for (;;) {
    mas->status = ma_start;
    mas_wr_store_gfp_once(mas, nullptr, mmt::gfp::kNowait, position);
    if (mas_nomem(mas, mmt::gfp::kKernel)) {
      // The range may have changed while the lock was dropped.
      mas_set(mas, index);
      mas_walk(mas);
      continue;
    }
    break;
  }
  mas_destroy(mas);
  return entry;
}

}  // namespace

namespace mmt::maple {
// Exposed for tests: the worst-case reservation the kernel's calculation asks for.
unsigned long mas_prealloc_request(ma_state* mas, void* entry, store_type* type) {
  WrPlan plan;
  mas_wr_plan(mas, entry, plan);
  if (type) *type = plan.type;
  return mas_prealloc_calc(mas, plan, entry);
}
}  // namespace mmt::maple

// ---- locking -------------------------------------------------------------------------

void mtree_lock(maple_tree* mt) {
  const void* me = &mmt::sched::current_or_host();
  if (mt->ma_lock.locked && mt->ma_lock.owner == me)
    mmt::raise_failure("maple.lock", "mtree_lock", "recursive acquisition of a maple tree lock (self-deadlock)");
  while (mt->ma_lock.locked) {
    if (!mmt::sched::current_thread())
      mmt::raise_failure("maple.lock", "mtree_lock", "maple tree lock held by a green thread, taken from the host");
    mmt::sched::yield_point(kSiteMtreeLockSpin);
  }
  mt->ma_lock.locked = 1;
  mt->ma_lock.owner = me;
  mmt::sched::preempt_disable();
}

void mtree_unlock(maple_tree* mt) {
  if (!mt->ma_lock.locked) mmt::raise_failure("maple.lock", "mtree_unlock", "unlock of a maple tree lock not held");
  if (mt->ma_lock.owner != &mmt::sched::current_or_host())
    mmt::raise_failure("maple.lock", "mtree_unlock", "maple tree lock released by a thread that does not hold it");
  mt->ma_lock.locked = 0;
  mt->ma_lock.owner = nullptr;
  mmt::sched::preempt_enable();
  mmt::sched::release_point(kSiteMtreeUnlock);
}

// ---- advanced API --------------------------------------------------------------------

void* mas_store(ma_state* mas, void* entry) {
  if (mas->index > mas->last) {
    mas_set_err(mas, -EINVAL);
    return nullptr;
  }
  return mas_wr_store_gfp_once(mas, entry, mmt::gfp::kNowait);
}

int mas_store_gfp(ma_state* mas, void* entry, mmt::gfp_t gfp) {
  return mas_store_gfp_common(mas, entry, gfp, true);
}

int mas_preallocate(ma_state* mas, void* entry, mmt::gfp_t gfp) {
  WrPlan plan;
  mas_wr_plan(mas, entry, plan);
  mas->store_type = plan.type;
  const unsigned long request = mas_prealloc_calc(mas, plan, entry);
  mas->stores_in_prealloc = 0;
  if (request > mas->alloc_count) {
    mas->node_request = request;
    mas_alloc_nodes(mas, gfp);
    if (mas->status == ma_error) {
      mas_destroy(mas);
      mas_reset(mas);
      return -ENOMEM;
    }
  }
  mas->mas_flags |= MA_STATE_PREALLOC;
  mas->status = ma_start;
  return 0;
}

void mas_store_prealloc(ma_state* mas, void* entry) {
  // A preallocation covers exactly one store: another store made with this state since
  // mas_preallocate may have used the reserved nodes (the seed-000 bug hid from the
  // kernel's left-over-node check because the first store happened to leave enough).
  if ((mas->mas_flags & MA_STATE_PREALLOC) && mas->stores_in_prealloc > 0)
    mas_bug(mas, fmt::format("mas_store_prealloc: {} other store(s) of [{:#x}, {:#x}] already used this "
                             "preallocation window",
                             mas->stores_in_prealloc, mas->index, mas->last));
  WrPlan plan;
  mas_wr_plan(mas, entry, plan);
  // Reserved nodes are the only ones this store may use.
  if (!(mas->mas_flags & MA_STATE_PREALLOC) && mas_prealloc_calc(mas, plan, entry) > mas->alloc_count)
    mas_bug(mas, "mas_store_prealloc without mas_preallocate");
  mas_wr_execute(mas, plan, entry);
  mas_destroy(mas);
}

void* mas_erase(ma_state* mas) { return mas_erase_common(mas, true); }

// Stores entry only if [mas->index, mas->last] is empty: -EEXIST otherwise.
int mas_insert_gfp(ma_state* mas, void* entry, mmt::gfp_t gfp) {
  const unsigned long index = mas->index, last = mas->last;
  int ret = 0;
  for (;;) {
    ma_state probe = *mas;
    probe.alloc = nullptr;
    probe.alloc_count = 0;
    probe.status = ma_start;
    probe.index = probe.last = index;
    void* existing = mas_walk(&probe);
    if (!existing && probe.last < last && probe.status == ma_active) existing = mas_next(&probe, last);
    if (existing) {
      ret = -EEXIST;
      break;
    }
    mas->status = ma_start;
    mas_set_range(mas, index, last);
    mas_wr_store_gfp_once(mas, entry, mmt::gfp::kNowait);
    if (mas_nomem(mas, gfp)) continue;
    if (mas_is_err(mas)) ret = mas_error(mas);
    break;
  }
  return ret;
}

// ---- normal API writes ------------------------------------------------------------------

int mtree_store_range(maple_tree* mt, unsigned long index, unsigned long last, void* entry, mmt::gfp_t gfp) {
  if (xa_is_advanced(entry)) return -EINVAL;
  if (index > last) return -EINVAL;
  ma_state mas = ma_state_for(mt, index, last);
  mtree_lock(mt);
  const int ret = mas_store_gfp_common(&mas, entry, gfp, false);
  mtree_unlock(mt);
  return ret;
}

int mtree_store(maple_tree* mt, unsigned long index, void* entry, mmt::gfp_t gfp) {
  return mtree_store_range(mt, index, index, entry, gfp);
}

int mtree_insert_range(maple_tree* mt, unsigned long first, unsigned long last, void* entry, mmt::gfp_t gfp) {
  if (xa_is_advanced(entry)) return -EINVAL;
  if (first > last) return -EINVAL;
  ma_state mas = ma_state_for(mt, first, last);
  mtree_lock(mt);
  const int ret = mas_insert_gfp(&mas, entry, gfp);
  mas_destroy(&mas);
  mtree_unlock(mt);
  return ret;
}

int mtree_insert(maple_tree* mt, unsigned long index, void* entry, mmt::gfp_t gfp) {
  return mtree_insert_range(mt, index, index, entry, gfp);
}

void* mtree_erase(maple_tree* mt, unsigned long index) {
  ma_state mas = ma_state_for(mt, index, index);
  mtree_lock(mt);
  void* entry = mas_erase_common(&mas, false);
  mtree_unlock(mt);
  return entry;
}
