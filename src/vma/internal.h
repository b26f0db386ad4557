// Shared internals of the VMA manager: VMA allocation from the slab, the maple-tree
// store discipline (reserve with GFP_KERNEL, store with mas_store_prealloc under the
// anon_vma lock), anon_vma linking, splitting, merge tests and page-table zapping.
#pragma once

#include <vector>

#include "mmtorture/core/site.h"
#include "mmtorture/vma/alloc_sites.h"
#include "mmtorture/vma/mm.h"

namespace mmt::vma {

inline constexpr Site kSiteCowFault{"wp_page_copy"};
inline constexpr Site kSiteForkWindow{"copy_present_pte: between get_page and page_dup_rmap"};
inline constexpr Site kSiteZapWindow{"zap_pte_range: before tlb_flush"};

Vma* vma_alloc(Mm& mm);  // GFP_KERNEL from the vm_area_struct slab; null on failure
void vma_free(Mm& mm, Vma* vma);

// First VMA with vm_end > addr (find_vma), or null.
Vma* find_vma(Mm& mm, unsigned long addr);
Vma* vma_prev(Mm& mm, const Vma* vma);
Vma* vma_next(Mm& mm, const Vma* vma);

// The tree discipline. vma_prealloc reserves nodes for storing `entry` over
// [start, end) with GFP_KERNEL (sleeping is allowed here: no rmap lock is held yet);
// vma_store then performs that store without allocating.
int vma_prealloc(Mm& mm, ma_state& mas, unsigned long start, unsigned long end, void* entry);
void vma_store(Mm& mm, ma_state& mas, unsigned long start, unsigned long end, void* entry);

// Write-locks the anon_vma of a VMA being adjusted (vma_prepare/vma_complete).
class AnonVmaWriteLock : public sched::RwSemWriteGuard {
 public:
  explicit AnonVmaWriteLock(AnonVma* anon_vma)
      : sched::RwSemWriteGuard(anon_vma ? &anon_vma->lock : nullptr, Site{"anon_vma_lock_write"},
                               Site{"anon_vma_unlock_write"}) {}
};

// vma_prepare's locks for a VMA whose range or pgoff changes: its file's i_mmap_rwsem
// (null file: none), then its anon_vma's lock, both for write, in the kernel's order
// (mm/rmap.c), so a walker of either list sees every VMA on it stable.
class RmapWriteLocks {
 public:
  RmapWriteLocks(File* file, AnonVma* anon_vma) : file_(file, Site{"i_mmap_lock_write"}), anon_(anon_vma) {}

 private:
  IMmapWriteLock file_;  // taken first, released last
  AnonVmaWriteLock anon_;
};

// Linking and unlinking take the anon_vma's write lock: never call them while holding
// one (AnonVmaWriteLock), nor in atomic context.
void anon_vma_link(Vma* vma, AnonVma* anon_vma);
void anon_vma_unlink(Vma* vma, AnonVma* anon_vma);
void anon_vma_clone(Vma* dst, const Vma* src);
// anon_vma_fork's clone: links dst to src's chain and, when the chain holds an anon_vma
// no VMA uses as its own and with fewer than two children, makes it dst's anon_vma.
void anon_vma_clone_for_fork(Vma* dst, const Vma* src);
void unlink_anon_vmas(Vma* vma);

// anon_vma_prepare: gives vma its anon_vma on first need (a fault, a stack growth).
// 0, or -ENOMEM when the anon_vma cannot be allocated. Under mmap_lock (read or write).
int anon_vma_prepare(Mm& mm, Vma* vma);

// Splits vma at addr: the new VMA takes [vm_start, addr) when new_below, else
// [addr, vm_end). 0 or -ENOMEM (nothing changed).
int split_vma(Mm& mm, Vma* vma, unsigned long addr, bool new_below);

// Whether a VMA with these properties may be extended to cover an adjacent range with
// `flags`, `anon_vma` and starting page offset `pgoff` (is_mergeable_vma +
// is_mergeable_anon_vma + pgoff contiguity).
// Same file (null for anonymous memory) and, for a file, pgoff is its file offset.
// Whether the merge may remove a VMA (one with ->close never goes) is the caller's rule.
bool can_merge_after(const Vma* prev, unsigned long flags, const File* file, const AnonVma* anon_vma,
                     unsigned long pgoff);
bool can_merge_before(const Vma* next, unsigned long flags, const File* file, const AnonVma* anon_vma,
                      unsigned long pgoff, unsigned long pages);

// Removes the ptes of [start, end) in vma: mapcount dropped per pte, the page
// references put only after the (simulated) TLB flush.
void zap_page_range(Mm& mm, unsigned long start, unsigned long end);

// Removes VMAs already detached from the tree: zap, unaccount, unlink, free.
void remove_vmas(Mm& mm, const std::vector<Vma*>& vmas);

}  // namespace mmt::vma
