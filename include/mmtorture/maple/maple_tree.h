// The maple tree: a range-based B-tree with the Linux kernel's semantics and node
// layout (lib/maple_tree.c), re-implemented for mmtorture. Inclusive ranges
// [index, last] over unsigned long map to entries; NULL means empty and adjacent NULL
// ranges always coalesce. 256-byte nodes: leaves (maple_leaf_64) and plain internal
// nodes (maple_range_64) have 16 slots / 15 pivots; allocation-range trees
// (MT_FLAGS_ALLOC_RANGE) use maple_arange_64 internal nodes with 10 slots / 9 pivots /
// 10 gaps so free ranges can be found without visiting leaves.
//
// Two APIs, as in the kernel: the normal API (mtree_*, mt_*) takes the tree's own lock
// and allocates as it needs; the advanced API (mas_*) works on a cursor (struct
// ma_state) under a lock the caller holds, and lets the caller preallocate nodes
// (mas_preallocate) so the store itself (mas_store_prealloc) cannot fail.
//
// The kernel's type and function names live in the global namespace because kernel-
// style test code uses them unqualified; mmtorture's own helpers live in mmt::maple.
// The kernel's macros and constants (GFP_KERNEL, MA_STATE, xa_mk_value, ...) are in
// kernel_api.h.
#pragma once

#include <climits>
#include <cstdint>
#include <string>

#include "mmtorture/core/gfp.h"
#include "mmtorture/core/rcu.h"
#include "mmtorture/core/site.h"

// ---------------------------------------------------------------------------------
// Node layout (64-bit)
// ---------------------------------------------------------------------------------
#define MAPLE_NODE_SLOTS 31
#define MAPLE_RANGE64_SLOTS 16
#define MAPLE_ARANGE64_SLOTS 10
#define MAPLE_ALLOC_SLOTS (MAPLE_NODE_SLOTS - 1)
#define MAPLE_NODE_MASK 255UL
#define MAPLE_HEIGHT_MAX 31
#define MAPLE_RESERVED_RANGE 4096

enum maple_type {
  maple_dense = 0,
  maple_leaf_64 = 1,
  maple_range_64 = 2,
  maple_arange_64 = 3,
};

// Opaque pointer kinds, as in the kernel: an encoded node (address | type | tag) and
// an encoded parent pointer.
struct maple_enode;
struct maple_pnode;

// Two bytes at the end of a node that is not full: the offset of the last used slot,
// and (arange nodes) the offset of the largest gap.
struct maple_metadata {
  unsigned char end;
  unsigned char gap;
};

// Leaves and range internal nodes: slot i covers (pivot[i-1], pivot[i]]; slot 0 starts
// at the node's minimum, the last used slot ends at the node's maximum. While the node
// is not full the last eight bytes (slot 15) hold the metadata.
struct maple_range_64 {
  struct maple_pnode* parent;
  unsigned long pivot[MAPLE_RANGE64_SLOTS - 1];
  union {
    void* slot[MAPLE_RANGE64_SLOTS];
    struct {
      void* pad[MAPLE_RANGE64_SLOTS - 1];
      struct maple_metadata meta;
    };
  };
};

// Allocation-range internal nodes: gap[i] is the largest run of empty indices in the
// subtree under slot i; meta.gap names the slot holding the largest of them.
struct maple_arange_64 {
  struct maple_pnode* parent;
  unsigned long pivot[MAPLE_ARANGE64_SLOTS - 1];
  void* slot[MAPLE_ARANGE64_SLOTS];
  unsigned long gap[MAPLE_ARANGE64_SLOTS];
  struct maple_metadata meta;
};

// A node that has been removed from the tree and waits for its RCU grace period: its
// parent points at itself (how readers recognise a dead node) and the rcu head reuses
// the first pivots, which readers no longer trust once they see the node is dead.
struct maple_dead {
  struct maple_pnode* parent;
  mmt::RcuHead rcu;
};

struct alignas(256) maple_node {
  union {
    struct {
      struct maple_pnode* parent;
      void* slot[MAPLE_NODE_SLOTS];
    };
    struct maple_range_64 mr64;
    struct maple_arange_64 ma64;
    struct maple_dead dead;
  };
};
static_assert(sizeof(maple_node) == 256, "maple nodes are 256 bytes");

// ---------------------------------------------------------------------------------
// Tree
// ---------------------------------------------------------------------------------
#define MT_FLAGS_ALLOC_RANGE 0x01u
#define MT_FLAGS_USE_RCU 0x02u
#define MT_FLAGS_HEIGHT_OFFSET 0x02u
#define MT_FLAGS_HEIGHT_MASK 0x7Cu
#define MT_FLAGS_LOCK_MASK 0x300u
#define MT_FLAGS_LOCK_IRQ 0x100u
#define MT_FLAGS_LOCK_BH 0x200u
#define MT_FLAGS_LOCK_EXTERN 0x300u
// mas_alloc_cyclic handed out the last index of its range: the next allocation wraps.
#define MT_FLAGS_ALLOC_WRAPPED 0x0800u

// The tree's internal spinlock (for trees without MT_FLAGS_LOCK_EXTERN). Green threads
// stand for CPUs: a thread that finds it held spins through yield points until the
// holder releases it; holding it is atomic context (preempt_disable), so a sleeping
// allocation under it is caught; taking it twice on one thread is a Failure.
struct maple_spinlock {
  unsigned int locked;
  const void* owner;  // the holding green thread (or the host)
};

struct maple_tree {
  struct maple_spinlock ma_lock;
  unsigned int ma_flags;
  void* ma_root;
};

// ---------------------------------------------------------------------------------
// Cursor
// ---------------------------------------------------------------------------------
enum maple_status {
  ma_active,
  ma_start,
  ma_root,
  ma_none,
  ma_pause,
  ma_overflow,
  ma_underflow,
  ma_error,
};

enum store_type : int {
  wr_invalid,
  wr_new_root,
  wr_store_root,
  wr_exact_fit,
  wr_spanning_store,
  wr_split_store,
  wr_rebalance,
  wr_append,
  wr_node_store,
  wr_slot_store,
};

#define MA_STATE_BULK 1
#define MA_STATE_REBALANCE 2
#define MA_STATE_PREALLOC 4

// The advanced API's cursor. After a lookup index/last hold the full range of what was
// found; node/min/max/offset locate it. Preallocated nodes hang off `alloc` (a list
// threaded through the nodes themselves), `alloc_count` of them.
struct ma_state {
  struct maple_tree* tree;
  unsigned long index;
  unsigned long last;
  struct maple_enode* node;
  unsigned long min;
  unsigned long max;
  struct maple_node* alloc;
  enum maple_status status;
  unsigned char depth;
  unsigned char offset;
  unsigned char mas_flags;
  unsigned char end;
  enum store_type store_type;
  unsigned long node_request;
  unsigned int alloc_count;
  // Stores since the last mas_preallocate(): a preallocation covers one store.
  unsigned int stores_in_prealloc;
};

// ---------------------------------------------------------------------------------
// Normal API (takes the tree lock; allocates with the given gfp)
// ---------------------------------------------------------------------------------
void mt_init_flags(struct maple_tree* mt, unsigned int flags);
void mt_init(struct maple_tree* mt);
void* mtree_load(struct maple_tree* mt, unsigned long index);
int mtree_store(struct maple_tree* mt, unsigned long index, void* entry, mmt::gfp_t gfp);
int mtree_store_range(struct maple_tree* mt, unsigned long index, unsigned long last, void* entry,
                      mmt::gfp_t gfp);
int mtree_insert(struct maple_tree* mt, unsigned long index, void* entry, mmt::gfp_t gfp);
int mtree_insert_range(struct maple_tree* mt, unsigned long first, unsigned long last, void* entry,
                       mmt::gfp_t gfp);
void* mtree_erase(struct maple_tree* mt, unsigned long index);
int mtree_alloc_range(struct maple_tree* mt, unsigned long* startp, void* entry, unsigned long size,
                      unsigned long min, unsigned long max, mmt::gfp_t gfp);
int mtree_alloc_rrange(struct maple_tree* mt, unsigned long* startp, void* entry, unsigned long size,
                       unsigned long min, unsigned long max, mmt::gfp_t gfp);
// Cyclic allocation (6.12): stores entry at the first free index at or above *next in
// [range_lo, range_hi], wrapping to range_lo when there is none; *startp is the index,
// *next the one after it. Returns 0, 1 when the search wrapped (or the previous call
// handed out the range's last index), -EBUSY when the range is full, -ENOMEM, or
// (mtree_) -EINVAL for a tree without MT_FLAGS_ALLOC_RANGE or a reserved entry.
int mtree_alloc_cyclic(struct maple_tree* mt, unsigned long* startp, void* entry, unsigned long range_lo,
                       unsigned long range_hi, unsigned long* next, mmt::gfp_t gfp);
// Copies mt into the empty tree new_mt (same shape, same entries). -ENOMEM leaves
// new_mt empty with nothing leaked.
int mtree_dup(struct maple_tree* mt, struct maple_tree* new_mt, mmt::gfp_t gfp);
int __mt_dup(struct maple_tree* mt, struct maple_tree* new_mt, mmt::gfp_t gfp);
void mtree_destroy(struct maple_tree* mt);
void __mt_destroy(struct maple_tree* mt);
void* mt_find(struct maple_tree* mt, unsigned long* index, unsigned long max);
void* mt_find_after(struct maple_tree* mt, unsigned long* index, unsigned long max);
void* mt_next(struct maple_tree* mt, unsigned long index, unsigned long max);
void* mt_prev(struct maple_tree* mt, unsigned long index, unsigned long min);
void mt_set_in_rcu(struct maple_tree* mt);
void mt_clear_in_rcu(struct maple_tree* mt);
bool mt_in_rcu(const struct maple_tree* mt);
// RCU access points, a stress knob (process-wide, as the canaries: one world per
// process). On, every node a walk enters (the kernel's rcu_dereference of a slot) and
// every write into a live RCU-mode tree (rcu_assign_pointer of a slot or of the root,
// each in-place pivot and slot write of a slot store) is a scheduler yield point, so
// lock-free readers meet a writer exactly where the memory-ordering contract is about.
// Off by default: each point may cost a scheduling draw.
void mt_set_rcu_access_points(bool on);
bool mt_rcu_access_points();
bool mt_external_lock(const struct maple_tree* mt);
bool mtree_empty(const struct maple_tree* mt);
unsigned int mt_height(const struct maple_tree* mt);
void mtree_lock(struct maple_tree* mt);
void mtree_unlock(struct maple_tree* mt);

// ---------------------------------------------------------------------------------
// Advanced API (caller holds the lock)
// ---------------------------------------------------------------------------------
void* mas_walk(struct ma_state* mas);
void* mas_find(struct ma_state* mas, unsigned long max);
void* mas_find_range(struct ma_state* mas, unsigned long max);
void* mas_find_rev(struct ma_state* mas, unsigned long min);
void* mas_find_range_rev(struct ma_state* mas, unsigned long min);
void* mas_next(struct ma_state* mas, unsigned long max);
void* mas_next_range(struct ma_state* mas, unsigned long max);
void* mas_prev(struct ma_state* mas, unsigned long min);
void* mas_prev_range(struct ma_state* mas, unsigned long min);
void mas_pause(struct ma_state* mas);
void mas_reset(struct ma_state* mas);
void mas_set(struct ma_state* mas, unsigned long index);
void mas_set_range(struct ma_state* mas, unsigned long start, unsigned long last);
int mas_empty_area(struct ma_state* mas, unsigned long min, unsigned long max, unsigned long size);
int mas_empty_area_rev(struct ma_state* mas, unsigned long min, unsigned long max,
                       unsigned long size);
// Stores entry over [mas->index, mas->last] allocating with GFP_NOWAIT; on failure the
// state holds -ENOMEM (see mas_nomem) and the tree is unchanged. Returns the entry
// that was at mas->index.
void* mas_store(struct ma_state* mas, void* entry);
int mas_store_gfp(struct ma_state* mas, void* entry, mmt::gfp_t gfp);
// Reserves the worst-case node count for storing entry over [mas->index, mas->last].
int mas_preallocate(struct ma_state* mas, void* entry, mmt::gfp_t gfp);
// Stores using only the reserved nodes. Running short is a BUG (a Failure that dumps
// the tree): the caller has made irreversible changes and cannot handle an error.
void mas_store_prealloc(struct ma_state* mas, void* entry);
void* mas_erase(struct ma_state* mas);
int mas_insert_gfp(struct ma_state* mas, void* entry, mmt::gfp_t gfp);
// mtree_alloc_cyclic under the lock the caller holds (dropped around a sleeping
// allocation when the tree's lock is internal).
int mas_alloc_cyclic(struct ma_state* mas, unsigned long* startp, void* entry, unsigned long range_lo,
                     unsigned long range_hi, unsigned long* next, mmt::gfp_t gfp);
// The bulk-store entry point of 6.1-6.12: reserves, with GFP_KERNEL, the nodes a tree
// of nr_entries entries stored one after another through this state needs (the
// kernel's estimate), for the stores that follow; mas_destroy() frees what is left.
// Returns 0 or -ENOMEM. The model's stores through a bulk state build the tree they
// would build without it (the kernel's bulk mode packs leaves and rebalances at
// mas_destroy: same entries, another shape).
int mas_expected_entries(struct ma_state* mas, unsigned long nr_entries);
// If the state holds -ENOMEM, allocates what the failed operation asked for (dropping
// an internal tree lock around a sleeping allocation) and returns true to ask for a
// retry.
bool mas_nomem(struct ma_state* mas, mmt::gfp_t gfp);
// Frees nodes the state still holds (left over from a preallocation).
void mas_destroy(struct ma_state* mas);
bool mas_is_err(const struct ma_state* mas);
int mas_error(const struct ma_state* mas);
unsigned long mas_allocated(const struct ma_state* mas);

// ---------------------------------------------------------------------------------
// Validation and dumps
// ---------------------------------------------------------------------------------
// Walks the whole tree and checks every kernel invariant; a broken one raises an
// mmt::FailureError naming the check and the node, with the tree dump attached.
void mt_validate(struct maple_tree* mt);
enum mt_dump_format { mt_dump_dec, mt_dump_hex };
void mt_dump(const struct maple_tree* mt, enum mt_dump_format format);

// ---------------------------------------------------------------------------------
// Entry encoding (the XArray conventions the maple tree shares)
// ---------------------------------------------------------------------------------
inline void* xa_mk_value(unsigned long v) { return reinterpret_cast<void*>((v << 1) | 1); }
inline unsigned long xa_to_value(const void* entry) {
  return reinterpret_cast<unsigned long>(entry) >> 1;
}
inline bool xa_is_value(const void* entry) { return reinterpret_cast<unsigned long>(entry) & 1; }
inline void* xa_mk_internal(unsigned long v) { return reinterpret_cast<void*>((v << 2) | 2); }
inline unsigned long xa_to_internal(const void* entry) {
  return reinterpret_cast<unsigned long>(entry) >> 2;
}
inline bool xa_is_internal(const void* entry) {
  return (reinterpret_cast<unsigned long>(entry) & 3) == 2;
}
#define XA_ZERO_ENTRY xa_mk_internal(257)
#define XA_RETRY_ENTRY xa_mk_internal(256)
inline bool xa_is_zero(const void* entry) { return entry == XA_ZERO_ENTRY; }
inline bool xa_is_node(const void* entry) {
  return xa_is_internal(entry) && reinterpret_cast<unsigned long>(entry) > 4096;
}
// Internal entries up to XA_RETRY_ENTRY are refused by the normal API.
inline bool xa_is_advanced(const void* entry) {
  return xa_is_internal(entry) && reinterpret_cast<unsigned long>(entry) <=
         reinterpret_cast<unsigned long>(XA_RETRY_ENTRY);
}
inline bool mt_is_reserved(const void* entry) {
  return reinterpret_cast<unsigned long>(entry) < MAPLE_RESERVED_RANGE && xa_is_internal(entry);
}
// Errors travel as internal entries holding a negative errno (the kernel's MA_ERROR).
inline bool xa_is_err(const void* entry) {
  return xa_is_internal(entry) &&
         reinterpret_cast<unsigned long>(entry) >= ((static_cast<unsigned long>(-4095L) << 2) | 2);
}
inline int xa_err(const void* entry) {
  return xa_is_err(entry) ? static_cast<int>(reinterpret_cast<long>(entry) >> 2) : 0;
}
// The node of a state that holds an errno (the kernel header's MA_ERROR).
#define MA_ERROR(err) \
  (reinterpret_cast<struct maple_enode*>((static_cast<unsigned long>(static_cast<long>(err)) << 2) | 2UL))
