// Layout-changing operations: mmap (top-down placement, MAP_FIXED, merging with
// neighbours), munmap (split, detach from the tree, then zap and free — the kernel's
// gather-then-remove flow), mprotect (vma_modify: merge into a neighbour or split),
// brk (expand in place; shrink through the normal munmap path) and mremap (shrink,
// grow in place, or move_vma with the VM_ACCOUNT hand-off).
//
// Every path allocates (VMA from the slab, maple nodes with mas_preallocate) before it
// changes anything it cannot undo, so -ENOMEM leaves the mm consistent: at worst a VMA
// has been split, which changes no page's mapping.
#include <cerrno>

#include <fmt/format.h>

#include "internal.h"
#include "mmtorture/sched/yield_point.h"
#include "mmtorture/core/defects.h"
#include "mmtorture/maple/kernel_api.h"
#include "mmtorture/vma/ops.h"

namespace mmt::vma {

namespace {

// move_page_tables over one table of the mm (present or swap ptes): every entry of
// [old_addr, old_addr + old_len) moves to the same offset from new_addr. The ranges may
// overlap, so the entries are taken out before any is put back.
template <typename Entry>
void move_ptes(std::map<unsigned long, Entry>& table, unsigned long old_addr, unsigned long old_len,
               unsigned long new_addr) {
  std::vector<std::pair<unsigned long, Entry>> moved;
  for (auto it = table.lower_bound(old_addr >> kPageShift);
       it != table.end() && it->first < ((old_addr + old_len) >> kPageShift);)
    moved.emplace_back(it->first, it->second), it = table.erase(it);
  for (auto& [vpn, entry] : moved) table[vpn - (old_addr >> kPageShift) + (new_addr >> kPageShift)] = entry;
}

constexpr unsigned long kVmDataDefault = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;

// RAII write lock of mmap_lock.
class MmapWriteLock {
 public:
  explicit MmapWriteLock(Mm& mm, Site site) : mm_(mm) { mmap_write_lock(mm_, site); }
  ~MmapWriteLock() { mmap_write_unlock(mm_); }
  MmapWriteLock(const MmapWriteLock&) = delete;
  MmapWriteLock& operator=(const MmapWriteLock&) = delete;

 private:
  Mm& mm_;
};

bool accountable(unsigned long flags) { return (flags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) == VM_WRITE; }

// get_unmapped_area, top-down: the highest free range of len below mmap_base.
long get_unmapped_area(Mm& mm, unsigned long len) {
  const VmConfig& config = mm.context().config();
  MA_STATE(mas, &mm.mm_mt, 0, 0);
  // CANARY topdown-gap-miscalc (seed 003): the search asks for a page less than needed.
  const unsigned long want = defect_enabled(Defect::TopdownGapMiscalc) && len > kPageSize ? len - kPageSize : len;
  if (mas_empty_area_rev(&mas, config.mmap_min_addr, config.mmap_base - 1, want)) return -ENOMEM;
  // The answer must be right, not just allowed: a range that overlaps a mapping would be
  // stored over it (and show up later, differently, in whichever check meets it first).
  if (Vma* vma = find_vma(mm, mas.index); vma && vma->vm_start < mas.index + len)
    raise_failure(FailureSubject::entry(mas.index, mas.index + len - 1, mm.id()), "vma.unmapped_area",
                  "get_unmapped_area",
                  fmt::format("the free range found for {} pages, [{:#x}-{:#x}), overlaps vma#{} [{:#x}-{:#x})",
                              len >> kPageShift, mas.index, mas.index + len, vma->id, vma->vm_start, vma->vm_end),
                  dump_mm(mm));
  return static_cast<long>(mas.index);
}

bool range_free(Mm& mm, unsigned long start, unsigned long end) {
  Vma* vma = find_vma(mm, start);
  return !vma || vma->vm_start >= end;
}

// Maps [addr, addr + len) with flags, merging with the neighbours when it can
// (mmap_region). The range is free. Accounting has been charged by the caller. With a
// file, the mapping starts at page `file_pgoff` of it; anonymous memory's pgoff is the
// linear page index of addr.
long mmap_region(Mm& mm, unsigned long addr, unsigned long len, unsigned long flags, File* file = nullptr,
                 unsigned long file_pgoff = 0) {
  const unsigned long end = addr + len;
  const unsigned long pgoff = file ? file_pgoff : addr >> kPageShift;
  Vma* next = find_vma(mm, addr);
  if (next && next->vm_start != end) next = nullptr;
  Vma* prev = nullptr;
  if (addr) {
    MA_STATE(mas, &mm.mm_mt, addr - 1, addr - 1);
    prev = static_cast<Vma*>(mas_walk(&mas));
  }
  const bool merge_prev = can_merge_after(prev, flags, file, nullptr, pgoff);
  // Merging with both removes next, which a VMA with ->close never is by a merge: then
  // only prev grows.
  const bool merge_next = can_merge_before(next, flags, file, nullptr, pgoff, len >> kPageShift) &&
                          (!merge_prev || !prev->anon_vma || !next->anon_vma || prev->anon_vma == next->anon_vma) &&
                          !(merge_prev && vma_has_close(next->vm_ops));
  MA_STATE(mas, &mm.mm_mt, 0, 0);
  if (merge_prev) {
    // Extend prev over the new range (and over next when both merge).
    const unsigned long new_end = merge_next ? next->vm_end : end;
    if (vma_prealloc(mm, mas, prev->vm_start, new_end, prev)) return -ENOMEM;
    if (merge_next) anon_vma_clone(prev, next);  // prev will map next's pages
    vma_start_write(prev);
    if (merge_next) vma_start_write(next);
    {
      RmapWriteLocks lock(prev->vm_file, prev->anon_vma ? prev->anon_vma : (merge_next ? next->anon_vma : nullptr));
      prev->vm_end = new_end;
      if (merge_next && !prev->anon_vma) prev->anon_vma = next->anon_vma;
      vma_store(mm, mas, prev->vm_start, new_end, prev);
    }
    if (merge_next) {
      // next's pages now belong to prev: its ptes are unchanged, its VMA goes away.
      vma_mark_detached(next);
      --mm.map_count;
      unlink_anon_vmas(next);
      if (next->vm_file) vma_unlink_file(next, false);
      vma_free(mm, next);
    }
  } else if (merge_next) {
    if (vma_prealloc(mm, mas, addr, next->vm_end, next)) return -ENOMEM;
    vma_start_write(next);
    {
      RmapWriteLocks lock(next->vm_file, next->anon_vma);
      next->vm_start = addr;
      next->vm_pgoff = pgoff;
      vma_store(mm, mas, addr, next->vm_end, next);
    }
  } else {
    if (mm.map_count >= mm.context().config().max_map_count) return -ENOMEM;
    Vma* vma = vma_alloc(mm);
    if (!vma) return -ENOMEM;
    if (vma_prealloc(mm, mas, addr, end, vma)) {
      // CANARY mmap-leaks-vma-on-enomem: the error path forgets the VMA it allocated.
      if (!defect_enabled(Defect::MmapLeaksVmaOnEnomem)) vma_free(mm, vma);
      return -ENOMEM;
    }
    vma->vm_start = addr;
    vma->vm_end = end;
    vma->vm_flags = flags;
    vma->vm_pgoff = pgoff;
    vma->vm_file = file;
    vma->vm_ops = file ? file->mmap_ops : nullptr;
    vma_start_write(vma);  // before a lock-free reader can find it
    vma_store(mm, mas, addr, end, vma);
    // get_file, and the file's mmap hook (shm_mmap opens the new VMA).
    if (file) vma_link_file(vma);
    ++mm.map_count;
  }
  mm.total_vm += len >> kPageShift;
  return static_cast<long>(addr);
}

// MAP_FIXED over existing mappings: the new VMA replaces them with one tree store, so
// every allocation (the VMA, the edge splits, the store's nodes) happens before any
// mapping is lost, and -ENOMEM leaves the layout as it was (the order newer kernels
// use: gather the old VMAs, store the new one, then tear the old ones down).
long mmap_replace(Mm& mm, unsigned long addr, unsigned long len, unsigned long flags, File* file,
                  unsigned long file_pgoff) {
  const unsigned long end = addr + len;
  if (mm.map_count + 2 >= mm.context().config().max_map_count) return -ENOMEM;
  Vma* vma = vma_alloc(mm);
  if (!vma) return -ENOMEM;
  Vma* first = find_vma(mm, addr);
  if (first && first->vm_start < addr) {
    if (int ret = split_vma(mm, first, addr, false)) return vma_free(mm, vma), ret;
  }
  Vma* last = find_vma(mm, end - 1);
  if (last && last->vm_start < end && last->vm_end > end) {
    if (int ret = split_vma(mm, last, end, true)) return vma_free(mm, vma), ret;
  }
  std::vector<Vma*> old;
  {
    MA_STATE(mas, &mm.mm_mt, addr, addr);
    void* entry;
    mas_for_each(&mas, entry, end - 1) old.push_back(static_cast<Vma*>(entry));
  }
  MA_STATE(mas, &mm.mm_mt, 0, 0);
  if (vma_prealloc(mm, mas, addr, end, vma)) return vma_free(mm, vma), -ENOMEM;
  vma->vm_start = addr;
  vma->vm_end = end;
  vma->vm_flags = flags;
  vma->vm_pgoff = file ? file_pgoff : addr >> kPageShift;
  vma->vm_file = file;
  vma->vm_ops = file ? file->mmap_ops : nullptr;
  vma_start_write(vma);
  for (Vma* gone : old) vma_start_write(gone);
  {
    AnonVmaWriteLock lock(old.empty() ? nullptr : old.front()->anon_vma);
    vma_store(mm, mas, addr, end, vma);
  }
  for (Vma* gone : old) vma_mark_detached(gone);
  if (file) vma_link_file(vma);
  ++mm.map_count;
  mm.total_vm += len >> kPageShift;
  remove_vmas(mm, old);
  return static_cast<long>(addr);
}

}  // namespace

long do_mmap_locked(Mm& mm, File* file, unsigned long addr, unsigned long len, unsigned long prot, unsigned long flags,
                    unsigned long pgoff) {
  const VmConfig& config = mm.context().config();
  const unsigned long type = flags & (MAP_SHARED | MAP_PRIVATE);
  if (type != MAP_SHARED && type != MAP_PRIVATE) return -EINVAL;
  if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) return -EINVAL;
  if (len == 0) return -EINVAL;
  const unsigned long aligned_len = page_align(len);
  if (aligned_len == 0 || aligned_len > config.task_size) return -ENOMEM;
  const bool fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
  if (fixed && !page_aligned(addr)) return -EINVAL;
  if (fixed && (addr > config.task_size - aligned_len)) return -ENOMEM;
  if (fixed && addr < config.mmap_min_addr) return -EPERM;
  // The file offset must not wrap (do_mmap's -EOVERFLOW).
  if (file && pgoff + (aligned_len >> kPageShift) < pgoff) return -EOVERFLOW;

  unsigned long vm_flags = calc_vm_prot_bits(prot) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
  if (type == MAP_SHARED) vm_flags |= VM_SHARED | VM_MAYSHARE;
  if (flags & MAP_NORESERVE) vm_flags |= VM_NORESERVE;
  if (flags & MAP_GROWSDOWN) vm_flags |= VM_GROWSDOWN;

  if (fixed) {
    if ((flags & MAP_FIXED_NOREPLACE) && !(flags & MAP_FIXED) && !range_free(mm, addr, addr + aligned_len))
      return -EEXIST;
  } else {
    // A hint is honoured when the range is free, as the kernel does.
    const unsigned long hint = addr & kPageMask;
    if (!(hint >= config.mmap_min_addr && hint <= config.task_size - aligned_len &&
          range_free(mm, hint, hint + aligned_len))) {
      const long found = get_unmapped_area(mm, aligned_len);
      if (found < 0) return found;
      addr = static_cast<unsigned long>(found);
    } else {
      addr = hint;
    }
  }
  if (mm.map_count >= config.max_map_count) return -ENOMEM;
  const unsigned long pages = aligned_len >> kPageShift;
  if (accountable(vm_flags)) {
    if (mm.context().vm_acct_memory(pages)) return -ENOMEM;
    vm_flags |= VM_ACCOUNT;
  }
  const long ret = (flags & MAP_FIXED) && !range_free(mm, addr, addr + aligned_len)
                       ? mmap_replace(mm, addr, aligned_len, vm_flags, file, pgoff)
                       : mmap_region(mm, addr, aligned_len, vm_flags, file, pgoff);
  if (ret < 0 && (vm_flags & VM_ACCOUNT)) mm.context().vm_unacct_memory(pages);
  return ret;
}

long vm_mmap(Mm& mm, unsigned long addr, unsigned long len, unsigned long prot, unsigned long flags) {
  if (!(flags & MAP_ANONYMOUS)) return -EBADF;
  MmapWriteLock lock(mm, Site{"vm_mmap"});
  return do_mmap_locked(mm, nullptr, addr, len, prot, flags, 0);
}

long vm_mmap_file(Mm& mm, File* file, unsigned long addr, unsigned long len, unsigned long prot, unsigned long flags,
                  unsigned long pgoff) {
  if (!file) return -EBADF;
  if (flags & (MAP_ANONYMOUS | MAP_GROWSDOWN)) return -EINVAL;
  MmapWriteLock lock(mm, Site{"vm_mmap"});
  return do_mmap_locked(mm, file, addr, len, prot, flags, pgoff);
}

int do_vmi_munmap(Mm& mm, unsigned long start, unsigned long len) {
  const VmConfig& config = mm.context().config();
  if (!page_aligned(start) || start > config.task_size || len > config.task_size - start) return -EINVAL;
  len = page_align(len);
  if (len == 0) return -EINVAL;
  const unsigned long end = start + len;
  Vma* vma = find_vma(mm, start);
  if (!vma || vma->vm_start >= end) return 0;
  // Split the first and last VMAs at the edges of the range (each split allocates; a
  // failure here leaves an extra split, which changes no mapping).
  if (vma->vm_start < start) {
    if (vma->vm_end > end && mm.map_count + 1 >= config.max_map_count) return -ENOMEM;
    if (int ret = split_vma(mm, vma, start, false)) return ret;
  }
  Vma* last = find_vma(mm, end - 1);
  if (last && last->vm_start < end && last->vm_end > end) {
    if (int ret = split_vma(mm, last, end, true)) return ret;
  }
  // Gather what lies inside, then detach it from the tree with one NULL store.
  std::vector<Vma*> detached;
  {
    MA_STATE(mas, &mm.mm_mt, start, start);
    void* entry;
    mas_for_each(&mas, entry, end - 1) detached.push_back(static_cast<Vma*>(entry));
  }
  MA_STATE(mas, &mm.mm_mt, 0, 0);
  const unsigned long first = detached.front()->vm_start;
  const unsigned long stop = detached.back()->vm_end;
  if (vma_prealloc(mm, mas, first, stop, nullptr)) {
    // CANARY munmap-enomem-drops-total-vm: the pages of the gathered VMAs were counted
    // out while gathering them, and the error path does not give them back.
    if (defect_enabled(Defect::MunmapEnomemDropsTotalVm))
      for (const Vma* gone : detached) mm.total_vm -= gone->pages();
    return -ENOMEM;
  }
  for (Vma* gone : detached) vma_start_write(gone);
  {
    AnonVmaWriteLock lock(detached.front()->anon_vma);
    vma_store(mm, mas, first, stop, nullptr);
  }
  for (Vma* gone : detached) vma_mark_detached(gone);
  remove_vmas(mm, detached);
  return 0;
}

int expand_downwards(Mm& mm, Vma* vma, unsigned long address) {
  address &= kPageMask;
  if (address < mm.context().config().mmap_min_addr) return -EPERM;
  if (address >= vma->vm_start) return 0;
  // acct_stack_growth's RLIMIT_STACK: the stack's whole size after growing.
  if (vma->vm_end - address > mm.context().config().stack_rlimit) return -ENOMEM;
  // The guard gap: a stack does not grow up to an accessible mapping below it.
  if (Vma* prev = vma_prev(mm, vma); prev && !(prev->vm_flags & VM_GROWSDOWN) && (prev->vm_flags & VM_ACCESS_FLAGS) &&
                                     address - prev->vm_end < mm.context().config().stack_guard_gap)
    return -ENOMEM;
  // The growth's pages are charged (acct_stack_growth) and its VMA gets its anon_vma
  // before anything of the tree changes.
  const unsigned long grow = (vma->vm_start - address) >> kPageShift;
  if ((vma->vm_flags & VM_ACCOUNT) && mm.context().vm_acct_memory(grow)) return -ENOMEM;
  auto uncharge = [&] {
    if (vma->vm_flags & VM_ACCOUNT) mm.context().vm_unacct_memory(grow);
    return -ENOMEM;
  };
  if (anon_vma_prepare(mm, vma)) return uncharge();
  MA_STATE(mas, &mm.mm_mt, 0, 0);
  if (vma_prealloc(mm, mas, address, vma->vm_end, vma)) return uncharge();
  // CANARY expand-stack-without-vma-lock: the StackRot-era shape, the VMA's bounds
  // change under lock-free faults that may hold it read-locked.
  if (!defect_enabled(Defect::ExpandStackWithoutVmaLock)) vma_start_write(vma);
  {
    RmapWriteLocks lock(vma->vm_file, vma->anon_vma);
    vma->vm_start = address;
    vma->vm_pgoff -= grow;
    vma_store(mm, mas, address, vma->vm_end, vma);
  }
  mm.total_vm += grow;
  return 0;
}

int vm_munmap(Mm& mm, unsigned long start, unsigned long len) {
  MmapWriteLock lock(mm, Site{"vm_munmap"});
  return do_vmi_munmap(mm, start, len);
}

namespace {

// Applies new flags to [start, end) inside vma (vma_modify_flags): merge into prev or
// next when the result is compatible, else split at the edges and change in place. Long
// because it follows the kernel's vma_merge() cases for mprotect one by one.
int vma_modify_flags(Mm& mm, Vma* vma, unsigned long start, unsigned long end, unsigned long newflags) {
  Vma* prev = vma_prev(mm, vma);
  if (prev && prev->vm_end != vma->vm_start) prev = nullptr;
  Vma* next = vma_next(mm, vma);
  if (next && next->vm_start != vma->vm_end) next = nullptr;
  const unsigned long pgoff = vma->vm_pgoff + ((start - vma->vm_start) >> kPageShift);
  const unsigned long pages = (end - start) >> kPageShift;
  bool merge_prev = start == vma->vm_start && can_merge_after(prev, newflags, vma->vm_file, vma->anon_vma, pgoff);
  bool merge_next = end == vma->vm_end && can_merge_before(next, newflags, vma->vm_file, vma->anon_vma, pgoff, pages);
  const bool anon_compatible =
      merge_prev && merge_next && (!prev->anon_vma || !next->anon_vma || prev->anon_vma == next->anon_vma);
  // vma_merge_existing_range's rules for VMAs with ->close (a merge never calls it, so
  // such a VMA is never removed by one): a merge that would remove vma does not happen,
  // and one that would also remove next merges with prev alone.
  if (start == vma->vm_start && end == vma->vm_end && (merge_prev || merge_next) && vma_has_close(vma->vm_ops)) {
    // CANARY merge-removes-vma-with-close: vma_merge's case 7 before fc0c8f9089c2 (prev
    // absorbs all of vma, next stays): the rule is not applied, and vma goes without
    // ->close.
    const bool case7 = merge_prev && !anon_compatible;
    if (!(case7 && defect_enabled(Defect::MergeRemovesVmaWithClose))) merge_prev = merge_next = false;
  }
  if (merge_prev && merge_next && vma_has_close(next->vm_ops)) merge_next = false;
  MA_STATE(mas, &mm.mm_mt, 0, 0);

  if (merge_prev && merge_next && end == vma->vm_end &&
      (!prev->anon_vma || !next->anon_vma || prev->anon_vma == next->anon_vma)) {
    // prev absorbs vma and next.
    if (vma_prealloc(mm, mas, prev->vm_start, next->vm_end, prev)) return -ENOMEM;
    anon_vma_clone(prev, vma);
    anon_vma_clone(prev, next);
    for (Vma* locked : {prev, vma, next}) vma_start_write(locked);
    {
      RmapWriteLocks lock(vma->vm_file, prev->anon_vma ? prev->anon_vma : vma->anon_vma);
      if (!prev->anon_vma && vma->anon_vma) prev->anon_vma = vma->anon_vma;
      if (!prev->anon_vma) prev->anon_vma = next->anon_vma;
      prev->vm_end = next->vm_end;
      vma_store(mm, mas, prev->vm_start, prev->vm_end, prev);
    }
    for (Vma* gone : {vma, next}) {
      vma_mark_detached(gone);
      // CANARY merge-keeps-map-count: only one of the two VMAs merged away is counted.
      if (gone == vma || !defect_enabled(Defect::MergeKeepsMapCount)) --mm.map_count;
      unlink_anon_vmas(gone);
      if (gone->vm_file) vma_unlink_file(gone, false);
      vma_free(mm, gone);
    }
    return 0;
  }
  if (merge_prev) {
    // prev grows over [start, end); vma keeps the rest (or disappears).
    if (vma_prealloc(mm, mas, prev->vm_start, end, prev)) return -ENOMEM;
    anon_vma_clone(prev, vma);
    vma_start_write(prev);
    vma_start_write(vma);
    {
      RmapWriteLocks lock(vma->vm_file, prev->anon_vma ? prev->anon_vma : vma->anon_vma);
      if (!prev->anon_vma) prev->anon_vma = vma->anon_vma;
      prev->vm_end = end;
      if (end < vma->vm_end) {
        vma->vm_pgoff += pages;
        vma->vm_start = end;
        // CANARY prealloc-redundant-write (seed 000): the shrunk VMA is written to the
        // tree as well, inside the window mas_preallocate reserved for prev's store.
        if (defect_enabled(Defect::PreallocRedundantWrite)) {
          mas_set_range(&mas, vma->vm_start, vma->vm_end - 1);
          mas_store(&mas, vma);
        }
      }
      vma_store(mm, mas, prev->vm_start, end, prev);
    }
    if (end == vma->vm_end) {
      vma_mark_detached(vma);
      --mm.map_count;
      unlink_anon_vmas(vma);
      if (vma->vm_file) vma_unlink_file(vma, false);
      vma_free(mm, vma);
    }
    return 0;
  }
  if (merge_next) {
    // next grows down over [start, end); vma keeps the rest (or disappears).
    if (vma_prealloc(mm, mas, start, next->vm_end, next)) return -ENOMEM;
    anon_vma_clone(next, vma);
    vma_start_write(next);
    vma_start_write(vma);
    {
      RmapWriteLocks lock(vma->vm_file, next->anon_vma ? next->anon_vma : vma->anon_vma);
      if (!next->anon_vma) next->anon_vma = vma->anon_vma;
      next->vm_start = start;
      next->vm_pgoff = pgoff;
      if (start > vma->vm_start) vma->vm_end = start;
      vma_store(mm, mas, start, next->vm_end, next);
    }
    if (start == vma->vm_start) {
      vma_mark_detached(vma);
      --mm.map_count;
      unlink_anon_vmas(vma);
      if (vma->vm_file) vma_unlink_file(vma, false);
      vma_free(mm, vma);
    }
    return 0;
  }
  if (start > vma->vm_start) {
    if (int ret = split_vma(mm, vma, start, true)) return ret;
  }
  if (end < vma->vm_end) {
    if (int ret = split_vma(mm, vma, end, false)) return ret;
  }
  // CANARY mprotect-skips-vma-start-write: the flags change in place with no VMA write
  // lock, under a fault that holds the VMA read-locked (the StackRot-era bug class).
  if (!defect_enabled(Defect::MprotectSkipsVmaStartWrite)) vma_start_write(vma);
  AnonVmaWriteLock lock(vma->anon_vma);
  vma->vm_flags = newflags;
  return 0;
}

}  // namespace

int do_mprotect(Mm& mm, unsigned long start, unsigned long len, unsigned long prot) {
  MmapWriteLock lock(mm, Site{"do_mprotect_pkey"});
  return do_mprotect_locked(mm, start, len, prot);
}

int do_mprotect_locked(Mm& mm, unsigned long start, unsigned long len, unsigned long prot) {
  if (!page_aligned(start)) return -EINVAL;
  if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) return -EINVAL;
  if (len == 0) return 0;
  len = page_align(len);
  if (len == 0 || start + len < start) return -ENOMEM;
  const unsigned long end = start + len;
  // As the kernel: the range is changed VMA by VMA; a hole ends the walk with -ENOMEM,
  // leaving the pieces before it changed.
  unsigned long cursor = start;
  while (cursor < end) {
    Vma* vma = find_vma(mm, cursor);
    if (!vma || vma->vm_start > cursor) return -ENOMEM;
    const unsigned long piece_end = vma->vm_end < end ? vma->vm_end : end;
    unsigned long newflags = (vma->vm_flags & ~VM_ACCESS_FLAGS) | calc_vm_prot_bits(prot);
    unsigned long charged = 0;
    // mprotect_fixup: making private memory writable charges it (once: VM_ACCOUNT stays).
    if ((newflags & VM_WRITE) && !(vma->vm_flags & (VM_ACCOUNT | VM_WRITE | VM_SHARED | VM_NORESERVE))) {
      charged = (piece_end - cursor) >> kPageShift;
      if (mm.context().vm_acct_memory(charged)) return -ENOMEM;
      newflags |= VM_ACCOUNT;
    }
    if (newflags != vma->vm_flags) {
      if (int ret = vma_modify_flags(mm, vma, cursor, piece_end, newflags)) {
        // CANARY mprotect-enomem-keeps-charge: the fail path keeps the charge.
        if (charged && !defect_enabled(Defect::MprotectEnomemKeepsCharge)) mm.context().vm_unacct_memory(charged);
        // CANARY mprotect-drops-late-enomem: the error of a VMA after the first is lost.
        if (cursor > start && defect_enabled(Defect::MprotectDropsLateEnomem)) return 0;
        return ret;
      }
      if (!(newflags & VM_WRITE)) {
        // Write-protect the ptes of the range.
        sched::SpinGuard guard(mm.page_table_lock, Site{"change_pte_range"});
        for (auto it = mm.ptes.lower_bound(cursor >> kPageShift);
             it != mm.ptes.end() && it->first < (piece_end >> kPageShift); ++it)
          it->second.writable = false;
      }
    }
    cursor = piece_end;
  }
  return 0;
}

unsigned long do_brk(Mm& mm, unsigned long newbrk) {
  MmapWriteLock lock(mm, Site{"sys_brk"});
  const unsigned long oldbrk = mm.brk;
  if (newbrk < mm.start_brk || newbrk > mm.context().config().task_size) return oldbrk;
  const unsigned long new_top = page_align(newbrk);
  const unsigned long old_top = page_align(oldbrk);
  if (new_top == old_top) {
    mm.brk = newbrk;
    return newbrk;
  }
  if (new_top < old_top) {
    // CANARY brk-munmap-shortcut (seed 002): shrink the heap VMA in place, skipping the
    // munmap path and its anon_vma locking.
    if (defect_enabled(Defect::BrkMunmapShortcut)) {
      Vma* heap = vma_lookup(mm, new_top);
      if (heap && heap->vm_start < new_top && heap->vm_end == old_top) {
        MA_STATE(mas, &mm.mm_mt, 0, 0);
        if (vma_prealloc(mm, mas, new_top, old_top, nullptr)) return oldbrk;
        heap->vm_end = new_top;
        sched::yield_point(Site{"do_brk_munmap: shortcut"});
        vma_store(mm, mas, new_top, old_top, nullptr);
        zap_page_range(mm, new_top, old_top);
        if (heap->vm_flags & VM_ACCOUNT) mm.context().vm_unacct_memory((old_top - new_top) >> kPageShift);
        mm.total_vm -= (old_top - new_top) >> kPageShift;
        mm.brk = newbrk;
        return newbrk;
      }
    }
    // Shrinking goes through the normal munmap path (with its locking).
    if (do_vmi_munmap(mm, new_top, old_top - new_top)) {
      // CANARY brk-enomem-moves-brk: the error path leaves mm->brk at the new break.
      if (defect_enabled(Defect::BrkEnomemMovesBrk)) mm.brk = newbrk;
      return oldbrk;
    }
    mm.brk = newbrk;
    return newbrk;
  }
  // Growing: refuse to run into the next mapping (with a guard page).
  Vma* next = find_vma(mm, old_top);
  if (next && next->vm_start < new_top + kPageSize) return oldbrk;
  const unsigned long pages = (new_top - old_top) >> kPageShift;
  // CANARY brk-enomem-moves-brk: the error path leaves mm->brk at the new break.
  const bool keep_new_brk = defect_enabled(Defect::BrkEnomemMovesBrk);
  if (mm.context().vm_acct_memory(pages)) {
    if (keep_new_brk) mm.brk = newbrk;
    return oldbrk;
  }
  if (mmap_region(mm, old_top, new_top - old_top, kVmDataDefault | VM_ACCOUNT) < 0) {
    mm.context().vm_unacct_memory(pages);
    if (keep_new_brk) mm.brk = newbrk;
    return oldbrk;
  }
  mm.brk = newbrk;
  return newbrk;
}

namespace {

// move_vma: the old range becomes its own VMA (split at both edges first, so nothing
// after this point needs a VMA allocation), a copy with the same pgoff is placed at
// new_addr, the ptes move, and the old VMA is removed. VM_ACCOUNT is handed over: the
// moved pages' charge passes from the old VMA to the copy instead of being uncharged
// and charged again. If the old VMA cannot be removed (its tree store cannot reserve
// nodes), it stays mapped but empty and keeps its own charge, and the copy is charged
// for itself, as the kernel does ("OOM: unable to split vma, just get accounts right").
long move_vma(Mm& mm, Vma* vma, unsigned long old_addr, unsigned long old_len, unsigned long new_len,
              unsigned long new_addr) {
  if (mm.map_count + 3 >= mm.context().config().max_map_count) return -ENOMEM;
  const bool partial = vma->vm_start < old_addr || vma->vm_end > old_addr + old_len;
  if (vma->vm_start < old_addr) {
    if (int ret = split_vma(mm, vma, old_addr, true)) return ret;
  }
  if (vma->vm_end > old_addr + old_len) {
    if (int ret = split_vma(mm, vma, old_addr + old_len, false)) return ret;
  }
  // vma now covers exactly the old range; no fault may use it while its ptes move.
  vma_start_write(vma);
  Vma* fresh = vma_alloc(mm);
  if (!fresh) return -ENOMEM;
  MA_STATE(mas, &mm.mm_mt, 0, 0);
  if (vma_prealloc(mm, mas, new_addr, new_addr + new_len, fresh)) {
    vma_free(mm, fresh);
    return -ENOMEM;
  }
  fresh->vm_start = new_addr;
  fresh->vm_end = new_addr + new_len;
  fresh->vm_flags = vma->vm_flags;
  fresh->vm_pgoff = vma->vm_pgoff;
  fresh->vm_file = vma->vm_file;
  fresh->vm_ops = vma->vm_ops;
  fresh->anon_vma = vma->anon_vma;
  anon_vma_clone(fresh, vma);
  vma_start_write(fresh);
  vma_store(mm, mas, new_addr, new_addr + new_len, fresh);
  // copy_vma: the copy holds its own file reference and is opened (the old VMA is
  // closed when it is removed below).
  if (fresh->vm_file) vma_link_file(fresh);
  ++mm.map_count;
  mm.total_vm += new_len >> kPageShift;
  {
    // move_page_tables, with its file's i_mmap_rwsem held for write (take_rmap_locks: the
    // copy has the same pgoff, so the kernel's need_rmap_locks holds): an i_mmap walker
    // sees each pte at its old address or its new one, never in neither VMA.
    vma_assert_page_tables_locked(vma, "move_page_tables");
    IMmapWriteLock rmap_lock(vma->vm_file, Site{"take_rmap_locks"});
    sched::SpinGuard guard(mm.page_table_lock, Site{"move_page_tables"});
    move_ptes(mm.ptes, old_addr, old_len, new_addr);
    move_ptes(mm.swap_ptes, old_addr, old_len, new_addr);  // swap ptes move with the present ones
  }
  MA_STATE(old_mas, &mm.mm_mt, 0, 0);
  if (vma_prealloc(mm, old_mas, vma->vm_start, vma->vm_end, nullptr)) {
    if (vma->vm_flags & VM_ACCOUNT) mm.context().vm_acct_memory_force(vma->pages());
    return static_cast<long>(new_addr);
  }
  {
    AnonVmaWriteLock lock(vma->anon_vma);
    vma_store(mm, old_mas, vma->vm_start, vma->vm_end, nullptr);
  }
  vma_mark_detached(vma);
  const bool accounted = vma->vm_flags & VM_ACCOUNT;
  vma->vm_flags &= ~VM_ACCOUNT;  // the charge now belongs to the copy
  remove_vmas(mm, {vma});
  // CANARY mremap-account-leak (seed 003): the hand-off assumes the old VMA is gone and
  // uncharges the moved pages again when they were part of a larger VMA.
  if (defect_enabled(Defect::MremapAccountLeak) && accounted && partial)
    mm.context().vm_unacct_memory(old_len >> kPageShift);
  // CANARY mremap-uaf (seed 003): the old VMA is used after do_munmap freed it.
  if (defect_enabled(Defect::MremapUaf) && accounted) vma->vm_flags |= VM_ACCOUNT;
  return static_cast<long>(new_addr);
}

}  // namespace

long do_mremap(Mm& mm, unsigned long old_addr, unsigned long old_len, unsigned long new_len, unsigned long flags,
               unsigned long new_addr) {
  if (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED)) return -EINVAL;
  if ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE)) return -EINVAL;
  if (!page_aligned(old_addr)) return -EINVAL;
  old_len = page_align(old_len);
  new_len = page_align(new_len);
  if (new_len == 0 || old_len == 0) return -EINVAL;
  const VmConfig& config = mm.context().config();
  if (new_len > config.task_size || old_addr > config.task_size - old_len) return -EINVAL;
  MmapWriteLock lock(mm, Site{"sys_mremap"});
  Vma* vma = vma_lookup(mm, old_addr);
  if (!vma || old_addr + old_len > vma->vm_end) return -EFAULT;

  if (flags & MREMAP_FIXED) {
    if (!page_aligned(new_addr) || new_addr > config.task_size - new_len || new_addr < config.mmap_min_addr)
      return -EINVAL;
    if (new_addr < old_addr + old_len && old_addr < new_addr + new_len) return -EINVAL;  // overlap
    if (int ret = do_vmi_munmap(mm, new_addr, new_len)) return ret;
    vma = vma_lookup(mm, old_addr);
    if (!vma || old_addr + old_len > vma->vm_end) return -EFAULT;
  }
  if (new_len <= old_len && !(flags & MREMAP_FIXED)) {
    if (new_len < old_len) {
      if (int ret = do_vmi_munmap(mm, old_addr + new_len, old_len - new_len)) return ret;
    }
    return static_cast<long>(old_addr);
  }
  unsigned long charged = 0;
  if (new_len > old_len && (vma->vm_flags & VM_ACCOUNT)) {
    charged = (new_len - old_len) >> kPageShift;
    if (mm.context().vm_acct_memory(charged)) return -ENOMEM;
  }
  // Grow in place when the VMA ends at the old range and nothing follows too closely.
  if (!(flags & MREMAP_FIXED) && old_addr + old_len == vma->vm_end) {
    Vma* next = vma_next(mm, vma);
    const unsigned long new_end = old_addr + new_len;
    if (new_end <= config.task_size && (!next || next->vm_start >= new_end)) {
      MA_STATE(mas, &mm.mm_mt, 0, 0);
      if (vma_prealloc(mm, mas, vma->vm_start, new_end, vma) == 0) {
        vma_start_write(vma);
        {
          RmapWriteLocks rmap_locks(vma->vm_file, vma->anon_vma);
          vma->vm_end = new_end;
          vma_store(mm, mas, vma->vm_start, new_end, vma);
        }
        mm.total_vm += (new_len - old_len) >> kPageShift;
        return static_cast<long>(old_addr);
      }
      if (!(flags & MREMAP_MAYMOVE)) {
        if (charged) mm.context().vm_unacct_memory(charged);
        return -ENOMEM;
      }
    }
  }
  if (!(flags & MREMAP_MAYMOVE)) {
    if (charged) mm.context().vm_unacct_memory(charged);
    return -ENOMEM;
  }
  if (!(flags & MREMAP_FIXED)) {
    const long found = get_unmapped_area(mm, new_len);
    if (found < 0) {
      if (charged) mm.context().vm_unacct_memory(charged);
      return found;
    }
    new_addr = static_cast<unsigned long>(found);
  }
  const long ret = move_vma(mm, vma, old_addr, old_len, new_len, new_addr);
  // CANARY mremap-enomem-keeps-charge: a failed move keeps the growth's charge.
  if (ret < 0 && charged && !defect_enabled(Defect::MremapEnomemKeepsCharge)) mm.context().vm_unacct_memory(charged);
  return ret;
}

}  // namespace mmt::vma
