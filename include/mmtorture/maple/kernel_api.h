// Kernel API facade: the Linux maple tree's names, types and macros, so kernel-style
// test code (as in lib/test_maple_tree.c and tools/testing/radix-tree/maple.c)
// compiles unchanged with `-I include` and links against mmt_maple and mmt_core.
//
//   #include "mmtorture/maple/kernel_api.h"
//   static DEFINE_MTREE(tree);
//   mtree_store_range(&tree, 10, 20, xa_mk_value(1), GFP_KERNEL);
//
// Allocation follows the kernel's userspace harness: requests that cannot sleep fail
// unless mt_set_non_kernel() granted a budget; GFP_KERNEL requests succeed.
#pragma once

#include <cerrno>
#include <climits>

#include "mmtorture/core/gfp.h"
#include "mmtorture/core/rcu.h"
#include "mmtorture/maple/maple_tree.h"
#include "mmtorture/maple/node_alloc.h"
#include "mmtorture/maple/validate.h"

typedef mmt::gfp_t gfp_t;

#define __GFP_IO mmt::gfp::kIo
#define __GFP_FS mmt::gfp::kFs
#define __GFP_HIGH mmt::gfp::kHigh
#define __GFP_DIRECT_RECLAIM mmt::gfp::kDirectReclaim
#define __GFP_KSWAPD_RECLAIM mmt::gfp::kKswapdReclaim
#define __GFP_RECLAIM mmt::gfp::kReclaim
#define __GFP_NOWARN mmt::gfp::kNowarn
#define __GFP_NOFAIL mmt::gfp::kNofail
#define __GFP_ZERO mmt::gfp::kZero
#define GFP_KERNEL mmt::gfp::kKernel
#define GFP_NOWAIT mmt::gfp::kNowait
#define GFP_ATOMIC mmt::gfp::kAtomic
#define gfpflags_allow_blocking(gfp) mmt::gfp::allows_blocking(gfp)

#define MTREE_INIT(name, __flags) {{0, nullptr}, (__flags), nullptr}
#define DEFINE_MTREE(name) struct maple_tree name = MTREE_INIT(name, 0)

#define MA_STATE(name, mt, first, end)                                                           \
  struct ma_state name = {(mt), (first), (end), nullptr, 0, ULONG_MAX, nullptr, ma_start, 0, 0, \
                          0,    0,       wr_invalid, 0,   0, 0}

#define mas_for_each(__mas, __entry, __max) while (((__entry) = mas_find((__mas), (__max))) != NULL)
#define mas_for_each_rev(__mas, __entry, __min) \
  while (((__entry) = mas_find_rev((__mas), (__min))) != NULL)
#define mt_for_each(__tree, __entry, __index, __max)                          \
  for (__entry = mt_find(__tree, &(__index), __max); __entry;                  \
       __entry = mt_find_after(__tree, &(__index), __max))

#define MT_BUG_ON(__tree, __x)                                                               \
  do {                                                                                       \
    if (__x) {                                                                               \
      mt_dump(__tree, mt_dump_hex);                                                          \
      mmt::raise_failure("MT_BUG_ON", __func__, #__x, mmt::maple::mt_dump_string(__tree, mt_dump_hex)); \
    }                                                                                        \
  } while (0)

inline void rcu_read_lock() { mmt::rcu_backend().read_lock(); }
inline void rcu_read_unlock() { mmt::rcu_backend().read_unlock(); }
inline void synchronize_rcu() { mmt::rcu_backend().synchronize_rcu(); }
inline void rcu_barrier() { mmt::rcu_backend().rcu_barrier(); }

// Harness knobs (tools/testing/shared/linux.c) over the default test allocator.
inline void mt_set_non_kernel(unsigned int budget) {
  mmt::maple::default_test_allocator().set_non_kernel(budget);
}
inline unsigned long mt_get_alloc_size() { return sizeof(maple_node); }
// Nodes currently allocated by the allocator in force (leak checks compare it to 0).
inline int mt_nr_allocated() { return static_cast<int>(mmt::maple::node_allocator().live_nodes()); }
inline void mt_zero_nr_tallocated() { mmt::maple::default_test_allocator().reset_counters(); }
inline int mt_nr_tallocated() { return static_cast<int>(mmt::maple::default_test_allocator().attempts()); }
