// Per-VMA locks and lock-free VMA lookup (the kernel's CONFIG_PER_VMA_LOCK, 6.4 on): a
// page fault first looks its VMA up under rcu_read_lock with no mmap_lock at all
// (lock_vma_under_rcu) and read-locks only that VMA; a writer holding mmap_lock for write
// write-locks each VMA it changes (vma_start_write), which waits for that VMA's readers
// and keeps new ones out until mmap_write_unlock ends every VMA write lock of the mm at
// once by advancing the mm's sequence count (vma_end_write_all).
//
// The protocol, as the kernel's: a VMA is write-locked when its vm_lock_seq equals its
// mm's mm_lock_seq. vma_start_read fails when it is (a writer changed it in this mmap
// write section), when the VMA's rwsem cannot be taken for read at once, or when the
// sequence moved while it was taken. The VMA tree is in RCU mode and a VMA is freed only
// after a grace period, so a reader that found it in the tree may read it until it
// leaves rcu_read_lock; a VMA taken out of the tree is marked detached first, and a
// reader that locked it must not use it.
//
// Everything here is active only when VmConfig::per_vma_locks is set: otherwise the
// functions do nothing, faults take mmap_lock as before and VMAs are freed at once, so
// existing runs draw and hash exactly as without per-VMA locks.
//
// Where the lock lives: the kernel of 6.4 allocated it beside the VMA (vma->vm_lock,
// from its own cache). Here the context keeps it in a table looked up by the VMA's
// address (never iterated), so the vm_area_struct slab object, and with it every
// existing run's memory layout, stays as it was.
//
// Checks (Failures, named "vma_lock.*"): vma_start_write without the mmap write lock; a
// VMA detached from the tree without being write-locked; a VMA freed while its lock is
// held; a VMA written after vm_area_free before its grace period ended
// (vma.use_after_free); an RCU reader that reaches a freed vm_area_struct; page tables
// copied or moved by an mmap write-lock holder without their VMA write-locked; a VMA whose
// range, flags, pgoff or anon_vma changed under a reader that holds it read-locked (the
// fault path compares before it installs a pte); a fault that goes on with a detached
// VMA. And at
// every mmap_write_unlock: each VMA that was in the tree when the write lock was taken
// and was changed during it must have been write-locked (recorded in the mm and
// reported by validate_mm, since an unlock cannot throw).
#pragma once

#include <cstdint>

#include "mmtorture/core/rcu.h"
#include "mmtorture/core/site.h"
#include "mmtorture/sched/rwsem.h"

namespace mmt::vma {

class Mm;
class VmContext;
struct Vma;
struct AnonVma;

// What a reader holding vma read-locked relies on not changing.
struct VmaReadSnapshot {
  unsigned long vm_start = 0, vm_end = 0, vm_flags = 0, vm_pgoff = 0;
  const AnonVma* anon_vma = nullptr;
};

// The lock of one VMA (struct vma_lock) and the state the protocol keeps beside it.
struct VmaLock : RcuHead {
  VmaLock(Vma* owner, VmContext* owner_context) : vma(owner), context(owner_context) {}
  Vma* vma;
  VmContext* context;         // the VMA's mm may be gone when its RCU free runs
  bool free_pending = false;  // vm_area_free queued the VMA's RCU free
  // The VMA as vm_area_free left it: until the grace period ends the object is not back
  // in the slab (whose poison would show a later write), so the RCU callback compares.
  VmaReadSnapshot freed_as;
  sched::RwSem lock{"vm_lock"};
  // Equal to the mm's mm_lock_seq while the VMA is write-locked; UINT64_MAX before the
  // first vma_start_write (the kernel's -1).
  uint64_t vm_lock_seq = UINT64_MAX;
  // Not (or no longer) in the mm's tree: set at allocation, cleared by the store that
  // inserts it, set again by vma_mark_detached when it leaves.
  bool detached = true;
  // The VMA as it was when the current mmap write section began (snapshot_seq is that
  // section's mm_lock_seq), for the check at mmap_write_unlock.
  uint64_t snapshot_seq = UINT64_MAX;
  unsigned long snapshot_start = 0, snapshot_end = 0, snapshot_flags = 0, snapshot_pgoff = 0;
  const AnonVma* snapshot_anon_vma = nullptr;
};

// Counters of the lock-free fault path (the kernel's VMA_LOCK_* vm events).
struct VmaLockStats {
  uint64_t success = 0;  // lock_vma_under_rcu returned a read-locked VMA
  uint64_t abort = 0;    // found a VMA but could not use it (locked, no anon_vma yet, moved, detached)
  uint64_t miss = 0;     // no VMA at the address under RCU
};

// mmap_write_lock / mmap_write_unlock: the mmap_lock taken for write, with the per-VMA
// bookkeeping (the snapshot taken after locking; the unlock check, then
// vma_end_write_all). Every write section of mmap_lock goes through these.
void mmap_write_lock(Mm& mm, Site site);
void mmap_write_lock_nested(Mm& mm, unsigned subclass, Site site);
void mmap_write_unlock(Mm& mm, Site site = Site{"mmap_write_unlock"});
// mmap_write_downgrade: the write section ends as at an unlock (every VMA write lock
// with it), and the caller keeps mmap_lock for read.
void mmap_write_downgrade(Mm& mm, Site site = Site{"mmap_write_downgrade"});

// vma_start_write: write-locks vma until mmap_write_unlock; waits for its readers. The
// caller holds the mm's mmap_lock for write (a Failure otherwise).
void vma_start_write(Vma* vma);
// vma_start_read / vma_end_read: the reader's try-lock and its release.
bool vma_start_read(Vma* vma);
void vma_end_read(Vma* vma);
// Whether vma is write-locked in the current mmap write section.
bool vma_is_write_locked(const Vma* vma);
// vma_assert_write_locked: a Failure (at `site`) unless vma is write-locked.
void vma_assert_write_locked(const Vma* vma, const char* site);
// vma_assert_page_tables_locked: a writer holding mmap_lock for write is about to copy
// or change vma's page tables (fork's copy_page_range write-protects and shares them,
// mremap's move_page_tables moves them). A fault under the VMA's own lock may be
// changing them at the same time unless vma_start_write kept it out, so the VMA must be
// write-locked: a Failure (vma_lock.page_tables_not_write_locked, at `site`) otherwise,
// naming the faults that hold it read-locked at that moment if any. Deterministic: the
// rule is broken whether or not a fault happens to race the walk in this run.
void vma_assert_page_tables_locked(const Vma* vma, const char* site);
// vma_mark_detached: the VMA has left the tree; it must be write-locked.
void vma_mark_detached(Vma* vma);
// The store that puts vma into the tree: it is attached from here on.
void vma_mark_attached(Vma* vma);

// lock_vma_under_rcu: the VMA containing addr, read-locked, found without mmap_lock;
// null when there is none or it cannot be used under its own lock (the caller falls back
// to mmap_lock). Counted in the context's VmaLockStats.
Vma* lock_vma_under_rcu(Mm& mm, unsigned long addr);

VmaReadSnapshot vma_read_snapshot(const Vma* vma);
// A Failure (at `site`) when vma differs from `before`, has been detached or is
// write-locked: the reader holds it read-locked, so none of that may have happened.
void vma_check_read_stable(const Vma* vma, const VmaReadSnapshot& before, const char* site);

}  // namespace mmt::vma
