// How far down 6.12's reverse gap search reaches: mas_empty_area_rev (and
// mtree_alloc_rrange) measures the room a slot leaves below the window's end as
// max - slot_min + 1 in unsigned arithmetic, which for a window ending at ULONG_MAX and
// a slot starting at 0 wraps to 0. Such a search never answers inside the root's first
// slot. Oracles (IntervalModel users) raise the window's start to the floor given here
// before asking for the highest fit; the tree's own search applies the kernel's count.
#pragma once

#include "mmtorture/maple/maple_tree.h"

namespace mmt::maple {

// The lowest index a reverse gap search of mt over a window ending at max can return,
// in *floor (0 unless max is ULONG_MAX and the root is a node: then one past the root's
// first slot). False when it can return nothing (the root's first slot is all of it).
bool mt_rev_area_floor(const maple_tree* mt, unsigned long max, unsigned long* floor);

}  // namespace mmt::maple
