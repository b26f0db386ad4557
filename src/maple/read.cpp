// Maple tree read side: initialisation, the descending walk, lookups and iteration
// (mas_walk/find/next/prev and their normal-API wrappers). Reads never modify the tree;
// a cursor whose node died under it (RCU mode: a writer replaced it while the reader
// was preempted) re-walks from the root, which is what the kernel's dead-node retry does.
#include <fmt/format.h>

#include <cerrno>

#include "internal.h"
#include "mmtorture/core/failure.h"

using namespace mmt::maple;

namespace {
void* mas_state_walk_at(ma_state* mas, unsigned long index);
}  // namespace

namespace mmt::maple {

bool g_rcu_access_points = false;

// One failure for every walk (mas_walk and friends, mtree_load's lookup): one bug, one
// signature, whichever reader met it.
[[noreturn]] void raise_walked_into_freed_node(unsigned long index, unsigned depth) {
  mmt::raise_failure("maple.rcu_freed_node", "maple walk",
                     fmt::format("a walk for {:#x} entered a freed node at depth {}: a reader outlived the node's grace "
                                 "period, or the node was freed without one",
                                 index, depth));
}

// A walk from the root met a dead node with no scheduling point inside the walk (RCU
// access points off): nothing could have replaced the node between the walk's start and
// now, so the live tree still links a node that was killed (replaced or freed), and the
// retry from the root would meet it again forever. One failure instead of that hang.
[[noreturn]] void raise_dead_node_linked(unsigned long index, unsigned depth) {
  mmt::raise_failure("maple.dead_node_linked", "maple walk",
                     fmt::format("a walk for {:#x} met a dead node at depth {} with no writer able to run since it "
                                 "left the root: the tree still links a node that was replaced or freed",
                                 index, depth));
}

// Descends from the root to the leaf holding `index`; fills the cursor's node, bounds,
// offset and end and sets index/last to the slot's range. The tree must hold a node.
// Only the leaf's data end is computed: above it, the slot's upper bound is its pivot,
// or the node's maximum for a full node's last slot (see slot_offset).
void* mas_descend_walk(ma_state* mas, unsigned long index) {
  maple_enode* enode = mt_root_enode(mas->tree);
  unsigned long min = 0, max = ULONG_MAX;
  unsigned char depth = 0;
  for (;;) {
    rcu_dereference_point();
    maple_node* node = mte_to_node(enode);
    if (ma_freed_node(node)) raise_walked_into_freed_node(index, depth);
    const maple_type type = mte_node_type(enode);
    const unsigned long* pivots = ma_pivots(node, type);
    const unsigned offset = node_offset(node, type, index);
    const unsigned long slot_min = offset ? pivots[offset - 1] + 1 : min;
    const unsigned long slot_max = offset < mt_pivot_count(type) ? pivots[offset] : max;
    void* entry = ma_slots(node, type)[offset];
    // Read, then check: a node replaced since the walk read its parent's slot is dead,
    // and once its free is queued its first pivots hold the rcu_head — what was just
    // read may be garbage. The kernel's walks retry from the root here; so do we (the
    // root itself may have become an entry or nothing: the state walk decides).
    if (ma_dead_node(node)) {
      if (!g_rcu_access_points) raise_dead_node_linked(index, depth);
      if (!xa_is_node(mas->tree->ma_root)) return mas_state_walk_at(mas, index);
      enode = mt_root_enode(mas->tree);
      min = 0;
      max = ULONG_MAX;
      depth = 0;
      continue;
    }
    if (ma_is_leaf(type)) {
      mas->node = enode;
      mas->min = min;
      mas->max = max;
      mas->offset = static_cast<unsigned char>(offset);
      mas->end = static_cast<unsigned char>(ma_data_end(node, type, max));
      mas->depth = depth;
      mas->index = slot_min;
      mas->last = slot_max;
      mas->status = ma_active;
      return entry;
    }
    enode = static_cast<maple_enode*>(entry);
    min = slot_min;
    max = slot_max;
    ++depth;
  }
}

}  // namespace mmt::maple

namespace {

// Positions the cursor at `index` whatever the tree's shape. Returns the entry there.
// Empty tree: status none, range [0, ULONG_MAX]. Root entry: status root.
void* mas_state_walk_at(ma_state* mas, unsigned long index) {
  void* root = mas->tree->ma_root;
  if (!root) {
    mas->status = ma_none;
    mas->node = nullptr;
    mas->index = 0;
    mas->last = ULONG_MAX;
    return nullptr;
  }
  if (!xa_is_node(root)) {
    mas->status = ma_root;
    mas->node = nullptr;
    if (index == 0) {
      mas->index = mas->last = 0;
      return root;
    }
    mas->index = 1;
    mas->last = ULONG_MAX;
    return nullptr;
  }
  return mas_descend_walk(mas, index);
}

// A cursor whose node died since it read it (RCU mode: a writer replaced the node while
// the reader was preempted) resumes in the live tree at the first index past the range
// it had reached, and looks at the slot it lands on before moving on. Re-walking to the
// old range's start and stepping past that slot would return what a writer stored
// inside the range already passed — below the caller's position.
bool mas_node_died(const ma_state* mas) {
  return mas->status == ma_active && mas->node && ma_dead_node(mte_to_node(mas->node));
}

// Moves the cursor from its exhausted leaf to the first slot of the next leaf. The
// common case takes one hop through the parent: the next leaf is the parent's next
// slot, and when that slot's pivot is written down (not the parent's implied maximum)
// both its bounds are known without the parent's own range — 14 leaves in 15 of a
// packed tree. Otherwise (the parent's last slot or implied pivot, a leaf or parent
// that died under an RCU reader, the root) the walk from the root, which knows every
// bound. The hop is one rcu_dereference access point (one node entered), the walk one per level.
void mas_next_leaf(ma_state* mas) {
  const unsigned long next = mas->max + 1;
  maple_node* leaf = mte_to_node(mas->node);
  if (!mte_is_root(mas->node) && !ma_dead_node(leaf)) {
    const maple_type ptype = mt_internal_type(mas->tree);
    const unsigned slot = mte_parent_slot(mas->node);
    if (slot + 1 < mt_pivot_count(ptype)) {
      rcu_dereference_point();
      maple_node* parent = mte_parent(mas->node);
      const unsigned long* pivots = ma_pivots(parent, ptype);
      const unsigned long next_max = pivots[slot + 1];
      auto* enode = static_cast<maple_enode*>(ma_slots(parent, ptype)[slot + 1]);
      // Read, then check, as the walk does: a parent replaced since is garbage.
      if (next_max != 0 && pivots[slot] + 1 == next && !ma_freed_node(parent) && !ma_dead_node(parent) &&
          !ma_dead_node(leaf)) {
        maple_node* node = mte_to_node(enode);
        if (ma_freed_node(node)) raise_walked_into_freed_node(next, mas->depth);
        const maple_type type = mte_node_type(enode);
        const unsigned end = ma_data_end(node, type, next_max);
        const unsigned long first_last = end ? ma_pivots(node, type)[0] : next_max;
        if (!ma_dead_node(node)) {
          mas->node = enode;
          mas->min = next;
          mas->max = next_max;
          mas->offset = 0;
          mas->end = static_cast<unsigned char>(end);
          mas->index = next;
          mas->last = first_last;
          return;
        }
      }
    }
  }
  mas_descend_walk(mas, next);
}

// Moves to the next slot (skipping NULLs unless `empty`), crossing into the next leaf
// when needed. Returns NULL with status overflow when nothing starts at or below max.
void* mas_next_slot(ma_state* mas, unsigned long max, bool empty) {
  const bool landed_first = mas_node_died(mas);  // then on a slot already: look at it first
  if (landed_first) {
    if (mas->last == ULONG_MAX || mas->last >= max) {
      mas->status = ma_overflow;
      return nullptr;
    }
    mas_descend_walk(mas, mas->last + 1);
  }
  bool landed = landed_first;
  for (;;) {
    if (landed) {
      landed = false;
    } else if (mas->last >= max) {
      // At the limit: the next slot starts beyond it. The cursor stays on this slot, as
      // the kernel's does, so a later mas_next with a larger max carries on from here.
      mas->status = ma_overflow;
      return nullptr;
    } else if (mas->offset >= mas->end) {
      mas_next_leaf(mas);
    } else {
      maple_node* node = mte_to_node(mas->node);
      const maple_type type = mte_node_type(mas->node);
      const unsigned long* pivots = ma_pivots(node, type);
      ++mas->offset;
      mas->index = pivots[mas->offset - 1] + 1;
      mas->last = mas->offset < mas->end ? pivots[mas->offset] : mas->max;
    }
    if (mas->index > max) {
      mas->status = ma_overflow;
      return nullptr;
    }
    void* entry = ma_slots(mte_to_node(mas->node), mte_node_type(mas->node))[mas->offset];
    if (entry || empty) return entry;
    if (mas->last >= max) {
      mas->status = ma_overflow;
      return nullptr;
    }
  }
}

// Mirror of mas_next_slot towards lower indices; status underflow at the bottom.
void* mas_prev_slot(ma_state* mas, unsigned long min, bool empty) {
  const bool landed_first = mas_node_died(mas);
  if (landed_first) {
    if (mas->index == 0 || mas->index <= min) {
      mas->status = ma_underflow;
      return nullptr;
    }
    mas_descend_walk(mas, mas->index - 1);
  }
  bool landed = landed_first;
  for (;;) {
    if (landed) {
      landed = false;
    } else if (mas->index <= min) {
      // At the limit: the previous slot ends below it; the cursor stays on this slot.
      mas->status = ma_underflow;
      return nullptr;
    } else if (mas->offset == 0) {
      mas_descend_walk(mas, mas->min - 1);
    } else {
      maple_node* node = mte_to_node(mas->node);
      const maple_type type = mte_node_type(mas->node);
      const unsigned long* pivots = ma_pivots(node, type);
      --mas->offset;
      mas->last = pivots[mas->offset];
      mas->index = mas->offset ? pivots[mas->offset - 1] + 1 : mas->min;
    }
    if (mas->last < min) {
      mas->status = ma_underflow;
      return nullptr;
    }
    void* entry = ma_slots(mte_to_node(mas->node), mte_node_type(mas->node))[mas->offset];
    if (entry || empty) return entry;
    if (mas->index <= min) {
      mas->status = ma_underflow;
      return nullptr;
    }
  }
}

// The setups of the iterators (6.12's mas_next_setup, mas_prev_setup, mas_find_setup,
// mas_find_rev_setup): from the cursor's status, where the walk continues, or the
// answer when there is nothing to walk. Returns true when *entry is the answer.
//
// States at the edges, as the kernel leaves them: a root-entry tree (one entry at index
// 0, no node) has the cursor on [0, 0] (status root) or on [1, ULONG_MAX] (status none);
// a search that reached its limit leaves the cursor on the last slot it looked at with
// status overflow / underflow, and a later call with a wider limit carries on from
// there; a paused or none cursor walks again from index (none: a tree may have grown
// since).
bool mas_next_setup(ma_state* mas, unsigned long max, void** entry) {
  *entry = nullptr;
  const bool was_none = mas->status == ma_none;
  if (mas->last >= max) {
    mas->status = ma_overflow;
    return true;
  }
  switch (mas->status) {
    case ma_active: return false;
    case ma_none:
    case ma_pause:
    case ma_start:
      mas->status = ma_start;
      mas_walk(mas);
      break;
    case ma_overflow:
      // Overflowed before, and the limit moved: carry on from the slot it stopped at.
      if (!mas->node) {
        mas_walk(mas);
        break;
      }
      mas->status = ma_active;
      break;
    case ma_underflow:
      // The caller expects the cursor one before where it is.
      *entry = mas_walk(mas);
      if (*entry) return true;
      break;
    case ma_root: break;
    case ma_error: return true;
  }
  if (mas->status == ma_active) return false;
  if (mas->status == ma_root) {
    if (was_none && mas->index == 0) {
      mas->index = mas->last = 0;
      return true;
    }
    mas->index = 1;
    mas->last = ULONG_MAX;
    mas->status = ma_none;
    return true;
  }
  return true;  // none: an empty tree
}

bool mas_prev_setup(ma_state* mas, unsigned long min, void** entry) {
  *entry = nullptr;
  if (mas->index <= min) {
    mas->status = ma_underflow;
    return true;
  }
  switch (mas->status) {
    case ma_active: return false;
    case ma_start: break;
    case ma_none:
    case ma_pause: mas->status = ma_start; break;
    case ma_underflow:
      // Underflowed before, and the limit moved: carry on from the slot it stopped at.
      if (!mas->node) {
        mas->status = ma_start;
        break;
      }
      mas->status = ma_active;
      break;
    case ma_overflow:
      // The caller expects the cursor one after where it is.
      *entry = mas_walk(mas);
      if (*entry) return true;
      break;
    case ma_root: break;
    case ma_error: return true;
  }
  if (mas->status == ma_start) mas_walk(mas);
  if (mas->status == ma_root) {
    if (mas->index == 0) {
      mas->status = ma_none;
      return true;
    }
    mas->index = mas->last = 0;
    *entry = mas->tree->ma_root;
    return true;
  }
  if (mas->status == ma_none) {
    if (mas->index) {
      // Walked to the range above a root entry: the previous entry is the root's.
      mas->index = mas->last = 0;
      mas->status = ma_root;
      *entry = mas->tree->ma_root;
    }
    return true;
  }
  return false;
}

bool mas_find_setup(ma_state* mas, unsigned long max, void** entry) {
  *entry = nullptr;
  switch (mas->status) {
    case ma_active:
      return mas->last >= max;
    case ma_start:
      break;
    case ma_pause:
      if (mas->last >= max) return true;
      mas->index = ++mas->last;
      mas->status = ma_start;
      break;
    case ma_none:
      if (mas->last >= max) return true;
      mas->index = mas->last;
      mas->status = ma_start;
      break;
    case ma_underflow:
      // Pointing at the entry before, unable to go lower.
      if (mas->index >= max) {
        mas->status = ma_overflow;
        return true;
      }
      *entry = mas_walk(mas);
      if (*entry) return true;
      break;
    case ma_overflow:
      if (mas->last >= max) return true;
      *entry = mas_walk(mas);
      if (*entry) return true;
      break;
    case ma_root:
      break;
    case ma_error:
      return true;
  }
  if (mas->status == ma_start) {
    // First call, or continuing after a pause.
    if (mas->index > max) return true;
    *entry = mas_walk(mas);
    if (*entry) return true;
  }
  if (mas->status == ma_root) {
    // Root entry tree, past index 0: nothing at or after the cursor.
    mas->status = ma_none;
    mas->index = 1;
    mas->last = ULONG_MAX;
    return true;
  }
  if (mas->status == ma_none) return true;
  return mas->index == max;
}

bool mas_find_rev_setup(ma_state* mas, unsigned long min, void** entry) {
  *entry = nullptr;
  switch (mas->status) {
    case ma_active: return mas->index < min;
    case ma_start:
      break;
    case ma_pause:
      if (mas->index <= min) {
        mas->status = ma_underflow;
        return true;
      }
      mas->last = --mas->index;
      mas->status = ma_start;
      break;
    case ma_none:
      if (mas->index <= min) return true;
      mas->last = mas->index;
      mas->status = ma_start;
      break;
    case ma_overflow:
      // The caller expects the cursor one after where it is.
      if (mas->index <= min) {
        mas->status = ma_underflow;
        return true;
      }
      if (!mas->node) {
        mas->status = ma_start;
        break;
      }
      mas->status = ma_active;
      break;
    case ma_underflow:
      // The caller expects the cursor one before where it is.
      if (mas->index <= min) return true;
      if (!mas->node) {
        mas->status = ma_start;
        break;
      }
      mas->status = ma_active;
      break;
    case ma_root:
      // The root entry was the answer last time: nothing below it.
      mas->status = ma_none;
      return true;
    case ma_error:
      return true;
  }
  if (mas->status == ma_start) {
    // First call, or continuing after a pause.
    if (mas->index < min) return true;
    *entry = mas_walk(mas);
    if (*entry) return true;
  }
  if (mas->status == ma_root) {
    mas->status = ma_none;
    return true;
  }
  if (mas->status == ma_none) {
    // Walked to the range above a root entry (or an empty tree): the previous location
    // is index 0.
    mas->index = mas->last = 0;
    mas->status = ma_root;
    *entry = mas->tree->ma_root;
    return true;
  }
  return mas->index < min;
}

}  // namespace

// ---- initialisation and locking ------------------------------------------------------

void mt_init_flags(maple_tree* mt, unsigned int flags) {
  mt->ma_lock.locked = 0;
  mt->ma_lock.owner = nullptr;
  mt->ma_flags = flags & ~MT_FLAGS_HEIGHT_MASK;
  mt->ma_root = nullptr;
}

void mt_init(maple_tree* mt) { mt_init_flags(mt, 0); }

bool mt_in_rcu(const maple_tree* mt) { return (mt->ma_flags & MT_FLAGS_USE_RCU) != 0; }
void mt_set_rcu_access_points(bool on) { mmt::maple::g_rcu_access_points = on; }
bool mt_rcu_access_points() { return mmt::maple::g_rcu_access_points; }
void mt_set_in_rcu(maple_tree* mt) { mt->ma_flags |= MT_FLAGS_USE_RCU; }
void mt_clear_in_rcu(maple_tree* mt) { mt->ma_flags &= ~MT_FLAGS_USE_RCU; }
bool mt_external_lock(const maple_tree* mt) {
  return (mt->ma_flags & MT_FLAGS_LOCK_MASK) == MT_FLAGS_LOCK_EXTERN;
}
bool mtree_empty(const maple_tree* mt) { return mt->ma_root == nullptr; }
unsigned int mt_height(const maple_tree* mt) { return mt_height_of(mt); }

// ---- cursor state --------------------------------------------------------------------

void mas_reset(ma_state* mas) {
  mas->status = ma_start;
  mas->node = nullptr;
}
void mas_pause(ma_state* mas) {
  mas->status = ma_pause;
  mas->node = nullptr;
}
void mas_set_range(ma_state* mas, unsigned long start, unsigned long last) {
  mas->index = start;
  mas->last = last;
  mas_reset(mas);
}
void mas_set(ma_state* mas, unsigned long index) { mas_set_range(mas, index, index); }
bool mas_is_err(const ma_state* mas) { return mas->status == ma_error; }
int mas_error(const ma_state* mas) { return mas->status == ma_error ? xa_err(mas->node) : 0; }

// ---- lookups ---------------------------------------------------------------------------

void* mas_walk(ma_state* mas) {
  void* entry = mas_state_walk_at(mas, mas->index);
  if (mas->status == ma_root && mas->index != 0) mas->status = ma_none;
  return entry;
}

void* mas_find(ma_state* mas, unsigned long max) {
  void* entry;
  if (mas_find_setup(mas, max, &entry)) return entry;
  entry = mas_next_slot(mas, max, false);
  mas->status = ma_active;  // overflow is not sticky for mas_find
  return entry;
}

void* mas_find_range(ma_state* mas, unsigned long max) {
  void* entry;
  if (mas_find_setup(mas, max, &entry)) return entry;
  entry = mas_next_slot(mas, max, true);
  mas->status = ma_active;
  return entry;
}

void* mas_find_rev(ma_state* mas, unsigned long min) {
  void* entry;
  if (mas_find_rev_setup(mas, min, &entry)) return entry;
  return mas_prev_slot(mas, min, false);  // underflow stays (the kernel's does)
}

void* mas_find_range_rev(ma_state* mas, unsigned long min) {
  void* entry;
  if (mas_find_rev_setup(mas, min, &entry)) return entry;
  entry = mas_prev_slot(mas, min, true);
  mas->status = ma_active;
  return entry;
}

void* mas_next(ma_state* mas, unsigned long max) {
  void* entry;
  if (mas_next_setup(mas, max, &entry)) return entry;
  return mas_next_slot(mas, max, false);
}

void* mas_next_range(ma_state* mas, unsigned long max) {
  void* entry;
  if (mas_next_setup(mas, max, &entry)) return entry;
  return mas_next_slot(mas, max, true);
}

void* mas_prev(ma_state* mas, unsigned long min) {
  void* entry;
  if (mas_prev_setup(mas, min, &entry)) return entry;
  return mas_prev_slot(mas, min, false);
}

void* mas_prev_range(ma_state* mas, unsigned long min) {
  void* entry;
  if (mas_prev_setup(mas, min, &entry)) return entry;
  return mas_prev_slot(mas, min, true);
}

// ---- normal API reads --------------------------------------------------------------------

namespace {
// A read-side critical section for the normal API's lookups.
struct RcuReadGuard {
  RcuReadGuard() { mmt::rcu_backend().read_lock(); }
  ~RcuReadGuard() { mmt::rcu_backend().read_unlock(); }
  RcuReadGuard(const RcuReadGuard&) = delete;
  RcuReadGuard& operator=(const RcuReadGuard&) = delete;
};
}  // namespace

namespace {
// mtree_load's descent (the kernel's mtree_lookup_walk): only the entry is wanted, so
// no cursor, bounds or data end are kept, which also skips reading pivot[14] and the
// metadata on cache lines the lookup otherwise does not need.
// Sets *dead when it met a node replaced since its parent was read (its contents may be
// the rcu_head by then): the caller starts over from the root, as the kernel does.
void* mtree_lookup_walk(maple_enode* enode, unsigned long index, bool* dead) {
  for (unsigned depth = 0;; ++depth) {
    rcu_dereference_point();
    maple_node* node = mte_to_node(enode);
    if (ma_freed_node(node)) raise_walked_into_freed_node(index, depth);
    const maple_type type = mte_node_type(enode);
    void* entry = ma_slots(node, type)[node_offset(node, type, index)];
    if (ma_dead_node(node)) {
      if (!g_rcu_access_points) raise_dead_node_linked(index, depth);
      *dead = true;
      return nullptr;
    }
    if (ma_is_leaf(type)) return entry;
    enode = static_cast<maple_enode*>(entry);
  }
}
}  // namespace

void* mtree_load(maple_tree* mt, unsigned long index) {
  RcuReadGuard rcu;
  void* entry;
  for (;;) {
    void* root = mt->ma_root;
    if (!xa_is_node(root)) {
      entry = index == 0 ? root : nullptr;  // empty tree, or a root entry at index 0
      break;
    }
    bool dead = false;
    entry = mtree_lookup_walk(mte_safe_root(root), index, &dead);
    if (!dead) break;
  }
  return xa_is_zero(entry) ? nullptr : entry;
}

void* mt_find(maple_tree* mt, unsigned long* index, unsigned long max) {
  if (*index > max) return nullptr;
  RcuReadGuard rcu;
  ma_state mas = ma_state_for(mt, *index, *index);
  void* entry = mas_state_walk_at(&mas, *index);
  if (xa_is_zero(entry)) entry = nullptr;
  while (!entry && mas.status == ma_active && mas.last < max) {
    entry = mas_next_slot(&mas, max, false);
    if (xa_is_zero(entry)) entry = nullptr;
  }
  if (entry) *index = mas.last + 1;
  return entry;
}

void* mt_find_after(maple_tree* mt, unsigned long* index, unsigned long max) {
  if (*index == 0) return nullptr;  // wrapped past ULONG_MAX
  return mt_find(mt, index, max);
}

void* mt_next(maple_tree* mt, unsigned long index, unsigned long max) {
  RcuReadGuard rcu;
  ma_state mas = ma_state_for(mt, index, index);
  return mas_next(&mas, max);
}

void* mt_prev(maple_tree* mt, unsigned long index, unsigned long min) {
  RcuReadGuard rcu;
  ma_state mas = ma_state_for(mt, index, index);
  return mas_prev(&mas, min);
}
