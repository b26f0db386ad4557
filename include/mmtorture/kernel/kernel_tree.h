// SPDX-License-Identifier: GPL-2.0-only
// The kernel backend: the Linux kernel's own lib/maple_tree.c (from the distribution's
// linux-source package or the user's tree, compiled at build time — never shipped in
// this repository) running on mmtorture's shim (src/kernel/shim): its spinlock is the
// scheduler's SpinLock, its RCU is the RCU backend in force, its node cache is a
// mem::KmemCache whose fault plan decides every request, and its BUG_ON/WARN_ON and
// CONFIG_DEBUG_MAPLE_TREE checks (MT_BUG_ON, MAS_WARN_ON, mt_validate) raise a Failure
// naming the kernel function, with what the kernel printed (its mt_dump).
//
// Only builds configured with -DMMT_KERNEL_SRC=<tree> have this module (the
// MMT_KERNEL_BACKEND definition says so to the modules above it).
//
//   mem::Memory memory(config, choices, &plan);
//   mem::KmemCache nodes(memory, "maple_node", 256, 256);
//   kernel::KernelEnv env(nodes);
//   kernel::KernelTree tree(kernel::KernelTree::kAllocRange);
//   tree.mtree_store_range(10, 20, xa_value(1), gfp::kKernel);
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mmtorture/core/gfp.h"
#include "mmtorture/mem/slab.h"

struct mmtk_tree;
struct mmtk_state;

namespace mmt::kernel {

// The kernel version compiled in, from its Makefile ("6.12.118").
const char* kernel_version();

// Which bulk entry points the compiled kernel has: mtree_dup (6.8 and later) and
// mas_expected_entries (6.1 and 6.12).
bool have_mtree_dup();
bool have_mas_expected_entries();

// RCU access points in the kernel code (process-wide, as the model's
// mt_set_rcu_access_points): every READ_ONCE, WRITE_ONCE, rcu_dereference and
// rcu_assign_pointer is first a scheduler yield point.
void set_rcu_access_points(bool on);

// The run's kernel environment: routes the kernel code's maple_node cache to `nodes`
// (256-byte, 256-aligned objects) and keeps what the kernel printed. One at a time;
// trees and cursors are used only while one is installed. Spin locks made for the
// kernel code belong to the environment and die with it.
class KernelEnv {
 public:
  explicit KernelEnv(mem::KmemCache& nodes);
  ~KernelEnv();
  KernelEnv(const KernelEnv&) = delete;
  KernelEnv& operator=(const KernelEnv&) = delete;

  mem::KmemCache& nodes() const { return nodes_; }
  // What the kernel printed (pr_*, mt_dump) since the last take_log().
  std::string take_log();
  // Appends to the log (printk).
  void print(std::string_view text);
  // Every node request the kernel made, and those that failed (kmem_cache_alloc and
  // each kmem_cache_alloc_bulk call count once).
  uint64_t node_requests() const { return requests_; }
  uint64_t node_request_failures() const { return request_failures_; }
  // The nodes those requests asked for, granted or not: one per kmem_cache_alloc, `size`
  // per kmem_cache_alloc_bulk (what the differential's shape option compares per
  // mas_preallocate with the model's node allocator requests).
  uint64_t nodes_requested() const { return nodes_requested_; }

  // Releases the tree locks and RCU read sections the kernel code still holds on the
  // host thread (a Failure thrown through its frames leaves them); the destructor
  // does it too.
  void release_held();

  // The installed environment; raises Failure "kernel.no_env" when there is none.
  static KernelEnv& current();

 private:
  friend struct ShimAccess;
  mem::KmemCache& nodes_;
  std::string log_;
  uint64_t requests_ = 0;
  uint64_t request_failures_ = 0;
  uint64_t nodes_requested_ = 0;
  uint64_t epoch_;
  KernelEnv* previous_;
};

// Entries are the kernel's: xa_mk_value(v) = (v << 1) | 1.
inline void* xa_value(unsigned long v) { return reinterpret_cast<void*>((v << 1) | 1); }
inline unsigned long xa_value_of(const void* entry) { return reinterpret_cast<unsigned long>(entry) >> 1; }

// One kernel maple tree (struct maple_tree). The methods are the kernel's functions of
// the same names; the normal API takes the tree's lock itself.
class KernelTree {
 public:
  static constexpr unsigned kAllocRange = 1;  // MT_FLAGS_ALLOC_RANGE
  static constexpr unsigned kRcu = 2;         // mt_set_in_rcu
  explicit KernelTree(unsigned flags);
  // Frees the tree structure. Call mtree_destroy() first: the nodes are not freed here
  // (a tree that failed a check is left as it is, see the stress job).
  ~KernelTree();
  KernelTree(const KernelTree&) = delete;
  KernelTree& operator=(const KernelTree&) = delete;

  void* mtree_load(unsigned long index);
  // A lock-free lookup: mas_find from index up to max under rcu_read_lock; the range of
  // the entry found in *first, *last.
  void* rcu_mas_find(unsigned long index, unsigned long max, unsigned long* first, unsigned long* last);
  int mtree_store_range(unsigned long index, unsigned long last, void* entry, gfp_t gfp);
  int mtree_insert_range(unsigned long index, unsigned long last, void* entry, gfp_t gfp);
  void* mtree_erase(unsigned long index);
  int mtree_alloc_range(unsigned long* startp, void* entry, unsigned long size, unsigned long min,
                        unsigned long max, gfp_t gfp);
  int mtree_alloc_rrange(unsigned long* startp, void* entry, unsigned long size, unsigned long min,
                         unsigned long max, gfp_t gfp);
  void mtree_destroy();
  // mtree_dup(this, into, gfp): copies this tree into the empty tree `into` (same flags).
  // Only where have_mtree_dup(); -EOPNOTSUPP otherwise.
  int mtree_dup(KernelTree& into, gfp_t gfp);
  // __mt_dup: the same without taking either tree's lock (the caller excludes writers,
  // as fork does under the sleeping mmap_lock), so gfp may sleep.
  int mt_dup_unlocked(KernelTree& into, gfp_t gfp);
  void mtree_lock();
  void mtree_unlock();
  unsigned mt_height();
  // The kernel's mt_validate; anything it reports is a Failure ("kernel.mt_validate"
  // for printed errors, "kernel.mt_bug"/"kernel.mt_warn" for its assertions).
  void mt_validate();
  // mmtorture's own shape check, stricter than mt_validate: every node but the root at
  // least minimally occupied (the rightmost ones too, which mt_validate exempts), every
  // leaf at depth mt_height - 1. A break is Failure "maple.strict_shape" with mt_dump.
  void check_strict_shape();
  // The kernel's mt_dump (hex where the version has formats), as text.
  std::string mt_dump();

  mmtk_tree* raw() const { return tree_; }

 private:
  mmtk_tree* tree_;
};

// A cursor (struct ma_state) on a KernelTree; the advanced API, caller holds the lock.
class KernelState {
 public:
  KernelState(KernelTree& tree, unsigned long index, unsigned long last);
  ~KernelState();
  KernelState(const KernelState&) = delete;
  KernelState& operator=(const KernelState&) = delete;

  unsigned long index() const;
  unsigned long last() const;
  void mas_set_range(unsigned long index, unsigned long last);
  // mas->index, mas->last = index, last: the fields only, the state kept (paused,
  // active...), as kernel callers set a range before mas_store.
  void set_index_last(unsigned long index, unsigned long last);
  // The error the state holds (mas_is_err), else 0.
  int error() const;
  void mas_reset();
  void mas_pause();
  void* mas_walk();
  void* mas_find(unsigned long max);
  void* mas_next(unsigned long max);
  void* mas_find_rev(unsigned long min);
  void* mas_prev(unsigned long min);
  int mas_empty_area(unsigned long min, unsigned long max, unsigned long size);
  int mas_empty_area_rev(unsigned long min, unsigned long max, unsigned long size);
  int mas_preallocate(void* entry, gfp_t gfp);
  void mas_store_prealloc(void* entry);
  int mas_store_gfp(void* entry, gfp_t gfp);
  // Errors stay in the state (error()).
  void* mas_store(void* entry);
  // Only where have_mas_expected_entries(); -EOPNOTSUPP otherwise.
  int mas_expected_entries(unsigned long nr_entries);
  void* mas_erase();
  void mas_destroy();

 private:
  mmtk_state* mas_;
};

}  // namespace mmt::kernel
