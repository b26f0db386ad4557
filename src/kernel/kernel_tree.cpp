// SPDX-License-Identifier: GPL-2.0-only
// KernelTree and KernelState (kernel_tree.h): thin C++ over the mmtk_ API, plus the
// checks around the kernel's own mt_validate.
#include "mmtorture/kernel/kernel_tree.h"

#include <fmt/format.h>

#include <new>

#include "mmtorture/core/failure.h"
#include "tree_api.h"

namespace mmt::kernel {

bool have_mtree_dup() { return mmtk_have_mtree_dup() != 0; }
bool have_mas_expected_entries() { return mmtk_have_mas_expected_entries() != 0; }

KernelTree::KernelTree(unsigned flags) {
  KernelEnv::current();
  mmtk_maple_tree_init();
  unsigned raw = 0;
  if (flags & kAllocRange) raw |= MMTK_TREE_ALLOC_RANGE;
  if (flags & kRcu) raw |= MMTK_TREE_RCU;
  tree_ = mmtk_tree_create(raw);
  if (!tree_) throw std::bad_alloc();
}

KernelTree::~KernelTree() { mmtk_tree_free(tree_); }

void* KernelTree::mtree_load(unsigned long index) { return mmtk_mtree_load(tree_, index); }
void* KernelTree::rcu_mas_find(unsigned long index, unsigned long max, unsigned long* first, unsigned long* last) {
  return mmtk_rcu_mas_find(tree_, index, max, first, last);
}
int KernelTree::mtree_store_range(unsigned long index, unsigned long last, void* entry, gfp_t gfp) {
  return mmtk_mtree_store_range(tree_, index, last, entry, gfp);
}
int KernelTree::mtree_insert_range(unsigned long index, unsigned long last, void* entry, gfp_t gfp) {
  return mmtk_mtree_insert_range(tree_, index, last, entry, gfp);
}
void* KernelTree::mtree_erase(unsigned long index) { return mmtk_mtree_erase(tree_, index); }
int KernelTree::mtree_alloc_range(unsigned long* startp, void* entry, unsigned long size, unsigned long min,
                                  unsigned long max, gfp_t gfp) {
  return mmtk_mtree_alloc_range(tree_, startp, entry, size, min, max, gfp);
}
int KernelTree::mtree_alloc_rrange(unsigned long* startp, void* entry, unsigned long size, unsigned long min,
                                   unsigned long max, gfp_t gfp) {
  return mmtk_mtree_alloc_rrange(tree_, startp, entry, size, min, max, gfp);
}
void KernelTree::mtree_destroy() { mmtk_mtree_destroy(tree_); }
int KernelTree::mtree_dup(KernelTree& into, gfp_t gfp) { return mmtk_mtree_dup(tree_, into.tree_, gfp); }
int KernelTree::mt_dup_unlocked(KernelTree& into, gfp_t gfp) { return mmtk___mt_dup(tree_, into.tree_, gfp); }
void KernelTree::mtree_lock() { mmtk_mtree_lock(tree_); }
void KernelTree::mtree_unlock() { mmtk_mtree_unlock(tree_); }
unsigned KernelTree::mt_height() { return mmtk_mt_height(tree_); }

void KernelTree::mt_validate() {
  KernelEnv& env = KernelEnv::current();
  std::string before = env.take_log();
  mmtk_mt_validate(tree_);
  // Some of the kernel's checks only print (pr_err) and carry on: a report is a failure.
  std::string report = env.take_log();
  if (!report.empty()) {
    const std::string first_line = report.substr(0, report.find('\n'));
    raise_failure("kernel.mt_validate", "mt_validate", first_line, before + report + mt_dump());
  }
}

void KernelTree::check_strict_shape() {
  char msg[256];
  if (mmtk_mt_check_strict(tree_, msg, sizeof msg) != 0)
    raise_failure("maple.strict_shape", "mmtorture strict shape check", msg, mt_dump());
}

std::string KernelTree::mt_dump() {
  KernelEnv& env = KernelEnv::current();
  const std::string before = env.take_log();
  mmtk_mt_dump(tree_);
  std::string dump = env.take_log();
  env.print(before);  // what was printed before the dump stays for whoever reports next
  return dump;
}

KernelState::KernelState(KernelTree& tree, unsigned long index, unsigned long last)
    : mas_(mmtk_state_create(tree.raw(), index, last)) {
  if (!mas_) throw std::bad_alloc();
}
KernelState::~KernelState() { mmtk_state_free(mas_); }

unsigned long KernelState::index() const { return mmtk_mas_index(mas_); }
unsigned long KernelState::last() const { return mmtk_mas_last(mas_); }
void KernelState::mas_set_range(unsigned long index, unsigned long last) { mmtk_mas_set_range(mas_, index, last); }
void KernelState::set_index_last(unsigned long index, unsigned long last) {
  mmtk_mas_set_index_last(mas_, index, last);
}
int KernelState::error() const { return mmtk_mas_error(mas_); }
void KernelState::mas_reset() { mmtk_mas_reset(mas_); }
void KernelState::mas_pause() { mmtk_mas_pause(mas_); }
void* KernelState::mas_walk() { return mmtk_mas_walk(mas_); }
void* KernelState::mas_find(unsigned long max) { return mmtk_mas_find(mas_, max); }
void* KernelState::mas_next(unsigned long max) { return mmtk_mas_next(mas_, max); }
void* KernelState::mas_find_rev(unsigned long min) { return mmtk_mas_find_rev(mas_, min); }
void* KernelState::mas_prev(unsigned long min) { return mmtk_mas_prev(mas_, min); }
int KernelState::mas_empty_area(unsigned long min, unsigned long max, unsigned long size) {
  return mmtk_mas_empty_area(mas_, min, max, size);
}
int KernelState::mas_empty_area_rev(unsigned long min, unsigned long max, unsigned long size) {
  return mmtk_mas_empty_area_rev(mas_, min, max, size);
}
int KernelState::mas_preallocate(void* entry, gfp_t gfp) { return mmtk_mas_preallocate(mas_, entry, gfp); }
void KernelState::mas_store_prealloc(void* entry) { mmtk_mas_store_prealloc(mas_, entry); }
int KernelState::mas_store_gfp(void* entry, gfp_t gfp) { return mmtk_mas_store_gfp(mas_, entry, gfp); }
void* KernelState::mas_store(void* entry) { return mmtk_mas_store(mas_, entry); }
int KernelState::mas_expected_entries(unsigned long nr_entries) { return mmtk_mas_expected_entries(mas_, nr_entries); }
void* KernelState::mas_erase() { return mmtk_mas_erase(mas_); }
void KernelState::mas_destroy() { mmtk_mas_destroy(mas_); }

}  // namespace mmt::kernel
