// Gap tracking and free-range search: largest-gap computation for leaves and arange
// nodes, mas_empty_area(_rev) and the allocating stores built on them
// (mtree_alloc_range / mtree_alloc_rrange). In allocation-range trees the per-child gaps
// prune the search; other trees are searched leaf by leaf.
#include <algorithm>
#include <cerrno>

#include "internal.h"
#include "mmtorture/core/defects.h"
#include "mmtorture/maple/gap_reach.h"

namespace mmt::maple {

unsigned long ma_leaf_max_gap(maple_node* node, maple_type t, unsigned long min, unsigned long max) {
  const unsigned end = ma_data_end(node, t, max);
  void** slots = ma_slots(node, t);
  unsigned long gap = 0;
  unsigned long slot_min = min;
  for (unsigned i = 0; i <= end; ++i) {
    const unsigned long slot_max = ma_slot_max(node, t, i, max);
    if (!slots[i]) {
      const unsigned long size = slot_max - slot_min + 1;
      if (size == 0) return ULONG_MAX;  // a NULL spanning everything
      if (size > gap) gap = size;
    }
    slot_min = slot_max + 1;
  }
  return gap;
}

unsigned ma_arange_max_gap_offset(maple_node* node, unsigned end) {
  unsigned best = 0;
  for (unsigned i = 1; i <= end; ++i)
    if (node->ma64.gap[i] > node->ma64.gap[best]) best = i;
  return best;
}

unsigned long ma_node_max_gap(maple_node* node, maple_type t, unsigned long min, unsigned long max) {
  if (ma_is_leaf(t)) return ma_leaf_max_gap(node, t, min, max);
  if (t == maple_arange_64) return node->ma64.gap[node->ma64.meta.gap];
  return 0;
}

bool mt_rev_area_floor(const maple_tree* mt, unsigned long max, unsigned long* floor) {
  *floor = 0;
  maple_enode* root = mt_root_enode(mt);
  if (max != ULONG_MAX || !root) return true;
  maple_node* node = mte_to_node(root);
  const maple_type type = mte_node_type(root);
  if (ma_data_end(node, type, ULONG_MAX) == 0) return false;
  *floor = ma_pivots(node, type)[0] + 1;
  return true;
}

}  // namespace mmt::maple

using namespace mmt::maple;

namespace {

struct GapSearch {
  unsigned long min, max, size;
  bool reverse;
  unsigned long found_index = 0, found_last = 0;
};

// Fits `size` indices of the empty range [s, e] inside the window; records the lowest
// (or highest) fit.
bool fit_gap(GapSearch& g, unsigned long s, unsigned long e) {
  if (e < g.min || s > g.max) return false;
  const unsigned long lo = s > g.min ? s : g.min;
  const unsigned long hi = e < g.max ? e : g.max;
  if (hi - lo < g.size - 1) return false;
  if (g.reverse) {
    g.found_last = hi;
    g.found_index = hi - g.size + 1;
  } else {
    g.found_index = lo;
    g.found_last = lo + g.size - 1;
  }
  return true;
}

// 6.12's reverse walk (mas_rev_awalk) takes a slot, leaf or child, only when the
// window from the slot's start up to the window's end holds `size` indices, and counts
// them as max - slot_min + 1 in unsigned arithmetic. Wherever the count is exact this
// rejects nothing a fit could use; for a window ending at ULONG_MAX and a slot starting
// at 0 it wraps to 0, so that walk never enters the root's first slot (the left spine,
// [0, root pivot 0]) and answers -EBUSY if nothing above fits. The oracle's seed 1001
// op 32 is such a query (tests/kernel/oracle_version_test.cpp shows 6.12 answers it so).
bool rev_room(const GapSearch& g, unsigned long slot_min) { return g.size <= g.max - slot_min + 1; }

bool search_node(GapSearch& g, maple_enode* enode, unsigned long min, unsigned long max) {
  maple_node* node = mte_to_node(enode);
  const maple_type type = mte_node_type(enode);
  const unsigned end = ma_data_end(node, type, max);
  void** slots = ma_slots(node, type);
  const unsigned long* gaps = ma_gaps(node, type);
  for (unsigned step = 0; step <= end; ++step) {
    const unsigned i = g.reverse ? end - step : step;
    const unsigned long slot_min = i ? ma_pivots(node, type)[i - 1] + 1 : min;
    const unsigned long slot_max = ma_slot_max(node, type, i, max);
    if (slot_max < g.min || slot_min > g.max) continue;
    if (g.reverse && !rev_room(g, slot_min)) continue;
    if (ma_is_leaf(type)) {
      // CANARY empty-area-skips-last-slot: the forward walk stops before a leaf's last slot.
      if (!g.reverse && i == end && mmt::defect_enabled(mmt::Defect::EmptyAreaSkipsLastSlot)) continue;
      if (!slots[i] && fit_gap(g, slot_min, slot_max)) return true;
      continue;
    }
    if (gaps && gaps[i] < g.size) continue;
    if (search_node(g, static_cast<maple_enode*>(slots[i]), slot_min, slot_max)) return true;
  }
  return false;
}

int mas_empty_area_common(ma_state* mas, unsigned long min, unsigned long max, unsigned long size, bool reverse) {
  if (min > max) return -EINVAL;
  if (size == 0 || max - min < size - 1) return -EINVAL;
  void* root = mas->tree->ma_root;
  if (!xa_is_node(root)) {
    // mas_sparse_area: an empty tree, or only index 0 in use.
    if (root && min == 0) {
      ++min;
      if (min > max || max - min + 1 < size) return -EBUSY;
    }
    if (reverse) {
      mas->last = max;
      mas->index = max - size + 1;
    } else {
      mas->index = min;
      mas->last = min + size - 1;
    }
    return 0;
  }
  GapSearch g{min, max, size, reverse};
  if (!search_node(g, mt_root_enode(mas->tree), 0, ULONG_MAX)) {
    mas_set_err(mas, -EBUSY);
    return -EBUSY;
  }
  mas->index = g.found_index;
  mas->last = g.found_last;
  mas->status = ma_start;
  mas->node = nullptr;
  return 0;
}

int mtree_alloc_common(maple_tree* mt, unsigned long* startp, void* entry, unsigned long size,
                       unsigned long min, unsigned long max, mmt::gfp_t gfp, bool reverse) {
  if (!mt_is_alloc(mt)) return -EINVAL;
  if (mt_is_reserved(entry)) return -EINVAL;
  ma_state mas = ma_state_for(mt, 0, 0);
  int ret;
  mtree_lock(mt);
  for (;;) {
    ret = mas_empty_area_common(&mas, min, max, size, reverse);
    if (ret) break;
    ret = mas_insert_gfp(&mas, entry, mmt::gfp::kNowait);
    // mas_nomem may drop the lock: the area found may be gone, so search again.
    if (ret == -ENOMEM && mas_nomem(&mas, gfp)) continue;
    if (ret == 0) *startp = mas.index;
    break;
  }
  mas_destroy(&mas);
  mtree_unlock(mt);
  return ret;
}

}  // namespace

int mas_empty_area(ma_state* mas, unsigned long min, unsigned long max, unsigned long size) {
  return mas_empty_area_common(mas, min, max, size, false);
}

int mas_empty_area_rev(ma_state* mas, unsigned long min, unsigned long max, unsigned long size) {
  return mas_empty_area_common(mas, min, max, size, true);
}

int mtree_alloc_range(maple_tree* mt, unsigned long* startp, void* entry, unsigned long size, unsigned long min,
                      unsigned long max, mmt::gfp_t gfp) {
  return mtree_alloc_common(mt, startp, entry, size, min, max, gfp, false);
}

int mtree_alloc_rrange(maple_tree* mt, unsigned long* startp, void* entry, unsigned long size, unsigned long min,
                       unsigned long max, mmt::gfp_t gfp) {
  return mtree_alloc_common(mt, startp, entry, size, min, max, gfp, true);
}

int mas_alloc_cyclic(ma_state* mas, unsigned long* startp, void* entry, unsigned long range_lo, unsigned long range_hi,
                     unsigned long* next, mmt::gfp_t gfp) {
  // First from *next (never below the range), then, if that part is full, from the
  // bottom: the second search is a wrap.
  const unsigned long from = std::max(range_lo, *next);
  int ret = mas_empty_area(mas, from, range_hi, 1);
  if (ret == 0 && (mas->tree->ma_flags & MT_FLAGS_ALLOC_WRAPPED)) {
    // The previous call handed out range_hi's index and wrapped *next to 0.
    mas->tree->ma_flags &= ~MT_FLAGS_ALLOC_WRAPPED;
    ret = 1;
  }
  if (ret < 0 && from > range_lo) {
    mas_reset(mas);
    ret = mas_empty_area(mas, range_lo, range_hi, 1);
    if (ret == 0) ret = 1;
  }
  if (ret < 0) return ret;
  const int stored = mas_insert_gfp(mas, entry, gfp);
  if (stored < 0) {
    mas_destroy(mas);
    return stored;
  }
  *startp = mas->index;
  *next = *startp + 1;
  if (*next == 0) mas->tree->ma_flags |= MT_FLAGS_ALLOC_WRAPPED;
  mas_destroy(mas);
  return ret;
}

int mtree_alloc_cyclic(maple_tree* mt, unsigned long* startp, void* entry, unsigned long range_lo,
                       unsigned long range_hi, unsigned long* next, mmt::gfp_t gfp) {
  if (!mt_is_alloc(mt)) return -EINVAL;
  if (mt_is_reserved(entry)) return -EINVAL;
  ma_state mas = ma_state_for(mt, 0, 0);
  mtree_lock(mt);
  const int ret = mas_alloc_cyclic(&mas, startp, entry, range_lo, range_hi, next, gfp);
  mtree_unlock(mt);
  return ret;
}
