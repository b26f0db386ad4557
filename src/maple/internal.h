// Internal helpers shared by the maple tree's source files: node encoding, per-type
// geometry, data end and metadata, the "big node" content buffer used by every
// structural write, and node allocation through the ma_state.
#pragma once

#include <cstring>

#include "mmtorture/maple/maple_tree.h"
#include "mmtorture/maple/node_alloc.h"
#include "mmtorture/sched/yield_point.h"

namespace mmt::maple {

// ---- encoding ---------------------------------------------------------------------
// Encoded node: address | type << 3 | 4. The tree's root pointer additionally carries
// bit 1 (an XArray internal entry above 4096), which xa_is_node() recognises.
constexpr unsigned long kNodeTag = 0x4;
constexpr unsigned long kRootParent = 0x1;   // root node's parent: tree address | 1
constexpr unsigned long kParentTag = 0x6;    // non-root parent: node | slot << 3 | 6
constexpr unsigned long kParentSlotShift = 3;
constexpr unsigned long kParentSlotMask = 0xF8;

inline maple_node* mte_to_node(const maple_enode* enode) {
  return reinterpret_cast<maple_node*>(reinterpret_cast<unsigned long>(enode) & ~MAPLE_NODE_MASK);
}
inline maple_type mte_node_type(const maple_enode* enode) {
  return static_cast<maple_type>((reinterpret_cast<unsigned long>(enode) >> 3) & 0xF);
}
inline maple_enode* mt_mk_node(const maple_node* node, maple_type type) {
  return reinterpret_cast<maple_enode*>(reinterpret_cast<unsigned long>(node) |
                                        (static_cast<unsigned long>(type) << 3) | kNodeTag);
}
inline void* mte_mk_root(const maple_enode* enode) {
  return reinterpret_cast<void*>(reinterpret_cast<unsigned long>(enode) | 2);
}
inline maple_enode* mte_safe_root(const void* root) {
  return reinterpret_cast<maple_enode*>(reinterpret_cast<unsigned long>(root) & ~2UL);
}
inline bool ma_is_leaf(maple_type type) { return type < maple_range_64; }
inline bool mte_is_leaf(const maple_enode* enode) { return ma_is_leaf(mte_node_type(enode)); }

inline bool mte_is_root(const maple_enode* enode) {
  return (reinterpret_cast<unsigned long>(mte_to_node(enode)->parent) & kRootParent) != 0;
}
inline maple_node* mte_parent(const maple_enode* enode) {
  return reinterpret_cast<maple_node*>(reinterpret_cast<unsigned long>(mte_to_node(enode)->parent) &
                                       ~MAPLE_NODE_MASK);
}
inline unsigned mte_parent_slot(const maple_enode* enode) {
  return (reinterpret_cast<unsigned long>(mte_to_node(enode)->parent) & kParentSlotMask) >>
         kParentSlotShift;
}
inline void mte_set_parent(maple_enode* child, const maple_node* parent, unsigned slot) {
  mte_to_node(child)->parent = reinterpret_cast<maple_pnode*>(
      reinterpret_cast<unsigned long>(parent) | (static_cast<unsigned long>(slot) << kParentSlotShift) |
      kParentTag);
}
inline void mte_set_root_parent(maple_enode* enode, const maple_tree* mt) {
  mte_to_node(enode)->parent =
      reinterpret_cast<maple_pnode*>(reinterpret_cast<unsigned long>(mt) | kRootParent);
}
inline bool ma_dead_node(const maple_node* node) {
  return reinterpret_cast<const maple_node*>(reinterpret_cast<unsigned long>(node->parent) &
                                             ~MAPLE_NODE_MASK) == node;
}
inline void ma_set_node_dead(maple_node* node) {
  node->parent = reinterpret_cast<maple_pnode*>(node);
}
// A node whose memory holds the allocator's free poison: no live or dead (RCU-pending)
// node has that parent word, so a walk that finds it is reading freed memory — what
// KASAN would report in the kernel.
inline bool ma_freed_node(const maple_node* node) {
  constexpr unsigned long kFreedWord = 0x0101010101010101UL * kNodePoisonFree;
  return reinterpret_cast<unsigned long>(node->parent) == kFreedWord;
}

// ---- RCU access points (mt_set_rcu_access_points) -----------------------------------
extern bool g_rcu_access_points;
inline constexpr mmt::Site kSiteRcuDereference{"maple: rcu_dereference (a walk enters a node)"};
inline constexpr mmt::Site kSiteRcuAssign{"maple: rcu_assign_pointer (a write into a live RCU tree)"};
// The read side: a walk is about to read a node another CPU may be replacing.
inline void rcu_dereference_point() {
  if (g_rcu_access_points) mmt::sched::yield_point(kSiteRcuDereference);
}
// The write side: the next store is visible to lock-free readers of an RCU-mode tree.
inline void rcu_assign_point(const maple_tree* mt) {
  if (g_rcu_access_points && (mt->ma_flags & MT_FLAGS_USE_RCU)) mmt::sched::yield_point(kSiteRcuAssign);
}

// ---- geometry -----------------------------------------------------------------------
inline unsigned mt_slot_count(maple_type t) {
  return t == maple_arange_64 ? MAPLE_ARANGE64_SLOTS : t == maple_dense ? MAPLE_NODE_SLOTS
                                                                         : MAPLE_RANGE64_SLOTS;
}
inline unsigned mt_pivot_count(maple_type t) {
  return t == maple_arange_64 ? MAPLE_ARANGE64_SLOTS - 1 : t == maple_dense ? 0 : MAPLE_RANGE64_SLOTS - 1;
}
// Minimum occupancy (as a data end offset count) for a non-root node.
inline unsigned mt_min_slots(maple_type t) {
  return t == maple_arange_64 ? MAPLE_ARANGE64_SLOTS / 2 - 1 : MAPLE_RANGE64_SLOTS / 2 - 2;
}
inline unsigned long* ma_pivots(maple_node* node, maple_type t) {
  return t == maple_arange_64 ? node->ma64.pivot : node->mr64.pivot;
}
inline void** ma_slots(maple_node* node, maple_type t) {
  return t == maple_arange_64 ? node->ma64.slot : node->mr64.slot;
}
inline unsigned long* ma_gaps(maple_node* node, maple_type t) {
  return t == maple_arange_64 ? node->ma64.gap : nullptr;
}
inline bool mt_is_alloc(const maple_tree* mt) { return (mt->ma_flags & MT_FLAGS_ALLOC_RANGE) != 0; }
// The internal node type this tree uses.
inline maple_type mt_internal_type(const maple_tree* mt) {
  return mt_is_alloc(mt) ? maple_arange_64 : maple_range_64;
}

// Offset of the last used slot (the kernel's ma_data_end). Range nodes keep it in the
// metadata only while pivot[14] is unused.
inline unsigned ma_data_end(maple_node* node, maple_type t, unsigned long max) {
  if (t == maple_arange_64) return node->ma64.meta.end;
  const unsigned long last_pivot = node->mr64.pivot[MAPLE_RANGE64_SLOTS - 2];
  if (last_pivot == 0) return node->mr64.meta.end;
  if (last_pivot == max) return MAPLE_RANGE64_SLOTS - 2;
  return MAPLE_RANGE64_SLOTS - 1;
}
inline void ma_set_meta(maple_node* node, maple_type t, unsigned end, unsigned gap_offset) {
  if (t == maple_arange_64) {
    node->ma64.meta = maple_metadata{static_cast<unsigned char>(end), static_cast<unsigned char>(gap_offset)};
  } else if (end < MAPLE_RANGE64_SLOTS - 1) {
    node->mr64.meta = maple_metadata{static_cast<unsigned char>(end), 0};
  }
}
// Upper bound of slot `offset` in a node spanning [.., max].
inline unsigned long ma_slot_max(maple_node* node, maple_type t, unsigned offset, unsigned long max) {
  return offset < mt_pivot_count(t) ? ma_pivots(node, t)[offset] : max;
}
// ma_slot_max for the data end itself: its pivot may be implied.
inline unsigned long ma_safe_pivot(maple_node* node, maple_type t, unsigned offset, unsigned long max) {
  if (offset >= mt_pivot_count(t)) return max;
  const unsigned long p = ma_pivots(node, t)[offset];
  return p ? p : (offset == 0 ? p : max);
}

// The offset of the slot holding index in a node with N pivot slots, without knowing
// the node's data end: the number of pivots in use that are below index. Pivots past
// the data end are 0 and a pivot in use is never 0 except at offset 0 (both checked by
// mt_validate), so for index > 0 "in use and below index" is (pivot - 1) < (index - 1)
// in unsigned arithmetic (0 wraps to ULONG_MAX), and offset 0 is compared directly.
// The pivot at the data end is the node's maximum (>= index), so it is never counted,
// and a full node's implied last slot is reached when all N pivots are below index.
// Counting instead of scanning until the first pivot >= index has no data-dependent
// branch, which on random lookups mispredicts once per level.
template <unsigned N>
inline unsigned slot_offset(const unsigned long* pivots, unsigned long index) {
  unsigned offset = pivots[0] < index;
  const unsigned long below = index - 1;
  for (unsigned i = 1; i < N; ++i) offset += (pivots[i] - 1) < below;
  return offset;
}

// slot_offset for any node type; index 0 is always in slot 0.
inline unsigned node_offset(maple_node* node, maple_type type, unsigned long index) {
  if (index == 0) return 0;
  if (type == maple_arange_64) return slot_offset<MAPLE_ARANGE64_SLOTS - 1>(node->ma64.pivot, index);
  if (type == maple_dense) return 0;
  return slot_offset<MAPLE_RANGE64_SLOTS - 1>(node->mr64.pivot, index);
}

// A fresh cursor over [index, last] in start state (what MA_STATE builds).
inline ma_state ma_state_for(maple_tree* mt, unsigned long index, unsigned long last) {
  ma_state mas{};
  mas.tree = mt;
  mas.index = index;
  mas.last = last;
  mas.status = ma_start;
  mas.max = ULONG_MAX;
  return mas;
}

inline const char* maple_type_name(maple_type t) {
  switch (t) {
    case maple_dense: return "dense";
    case maple_leaf_64: return "leaf_64";
    case maple_range_64: return "range_64";
    case maple_arange_64: return "arange_64";
  }
  return "invalid";
}

inline bool mas_is_active(const ma_state* mas) { return mas->status == ma_active; }
inline bool mas_is_start(const ma_state* mas) { return mas->status == ma_start; }
inline bool mas_is_none(const ma_state* mas) { return mas->status == ma_none; }
inline bool mas_is_ptr(const ma_state* mas) { return mas->status == ma_root; }
inline bool mas_is_paused(const ma_state* mas) { return mas->status == ma_pause; }
inline maple_enode* ma_error_node(int error) {
  return reinterpret_cast<maple_enode*>((static_cast<unsigned long>(static_cast<long>(error)) << 2) | 2UL);
}
inline void mas_set_err(ma_state* mas, int error) {
  mas->node = ma_error_node(error);
  mas->status = ma_error;
}

inline unsigned mt_height_of(const maple_tree* mt) {
  return (mt->ma_flags & MT_FLAGS_HEIGHT_MASK) >> MT_FLAGS_HEIGHT_OFFSET;
}
// The tree's attributes: every flag but the height (what __mt_dup requires equal).
inline unsigned mt_attr(const maple_tree* mt) { return mt->ma_flags & ~MT_FLAGS_HEIGHT_MASK; }
inline void mt_set_height(maple_tree* mt, unsigned height) {
  mt->ma_flags = (mt->ma_flags & ~MT_FLAGS_HEIGHT_MASK) | (height << MT_FLAGS_HEIGHT_OFFSET);
}
inline maple_enode* mt_root_enode(const maple_tree* mt) {
  return xa_is_node(mt->ma_root) ? mte_safe_root(mt->ma_root) : nullptr;
}

// ---- big node: the content of one or more nodes being rebuilt ------------------------
constexpr unsigned kBigSlots = 2 * MAPLE_RANGE64_SLOTS + 24;

struct BigNode {
  unsigned long pivot[kBigSlots];  // inclusive upper bound of each slot
  void* slot[kBigSlots];
  unsigned long gap[kBigSlots];    // internal levels of alloc trees: child's largest gap
  unsigned count = 0;

  void push(unsigned long piv, void* entry, unsigned long child_gap = 0) {
    pivot[count] = piv;
    slot[count] = entry;
    gap[count] = child_gap;
    ++count;
  }
};

// ---- node allocation through the state ----------------------------------------------
// Takes one node from the state's reservation, or nullptr when it is empty.
maple_node* mas_pop_node(ma_state* mas);
// Largest gap in a leaf spanning [min, max] with data end `end`.
unsigned long ma_leaf_max_gap(maple_node* node, maple_type t, unsigned long min, unsigned long max);
// Largest gap of any node: leaves are scanned, arange nodes read their metadata.
unsigned long ma_node_max_gap(maple_node* node, maple_type t, unsigned long min, unsigned long max);
unsigned ma_arange_max_gap_offset(maple_node* node, unsigned end);
// Frees (or defers through RCU) a node that has left the tree.
void mt_free_node(maple_tree* mt, maple_node* node);
// Frees a whole subtree (every node below and including enode, which spans up to max).
void mt_destroy_walk(maple_tree* mt, maple_enode* enode, unsigned long max);
// Reservation helpers: top up to node_request with gfp / ask for `count` nodes.
void mas_alloc_nodes(ma_state* mas, gfp_t gfp);
void mas_node_count_gfp(ma_state* mas, unsigned long count, gfp_t gfp);
// Descends to the leaf holding index (tree must hold a node).
void* mas_descend_walk(ma_state* mas, unsigned long index);

}  // namespace mmt::maple
