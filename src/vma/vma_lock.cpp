// Per-VMA locks (vma_lock.h): the sequence-count protocol between mmap write sections
// and the VMAs they change, the lock-free fault lookup, and the checks that name a
// broken rule of it.
#include "mmtorture/vma/vma_lock.h"

#include <fmt/format.h>

#include "mmtorture/maple/kernel_api.h"
#include "mmtorture/maple/validate.h"
#include "mmtorture/sched/rcu.h"
#include "mmtorture/sched/yield_point.h"
#include "mmtorture/vma/mm.h"

namespace mmt::vma {

namespace {

bool per_vma_locks(Mm& mm) { return mm.context().config().per_vma_locks; }

// A rule of the protocol broken by (or around) `vma`: the Failure names the VMA's range
// in its mm, whose VMAs are the dump.
[[noreturn]] void fail(const Vma* vma, const char* check, const char* site, const std::string& message) {
  Mm& mm = *vma->vm_mm;
  raise_failure(FailureSubject::entry(vma->vm_start, vma->vm_end - 1, mm.id()), check, site,
                fmt::format("mm {}: {}", mm.id(), message), dump_mm(mm));
}

VmaLock& lock_of(const Vma* vma, const char* site) {
  VmaLock* lock = vma->vm_lock;
  if (!lock) fail(vma, "vma_lock.no_lock", site, fmt::format("vma#{} has no per-VMA lock", vma->id));
  return *lock;
}

// The VMAs in the tree now, for the section's snapshot and its check. Slots holding a
// freed VMA are skipped: validate_mm names them. Both run at every mmap write lock and
// unlock, so the tree is read by one walk of its nodes (maple::for_each_entry; a
// mas_find per VMA was a seventh of a fork-heavy campaign's instructions); a walk that
// meets a freed or dead node is done again with mas_for_each, whose reads report a dead
// node as they always did. Visiting a VMA twice is harmless: the snapshot is taken
// again, and the check keeps its first violation.
template <typename Visit>
void for_each_live_vma(Mm& mm, Visit visit) {
  struct LiveVmas final : maple::LeafVisitor {
    LiveVmas(VmContext& context, Visit& visit) : context(context), visit(visit) {}
    void leaf(unsigned long, unsigned long) override {}
    void entry(unsigned long, unsigned long, void* entry) override {
      if (!context.vma_cache().is_live(entry)) return;
      auto* vma = static_cast<Vma*>(entry);
      if (VmaLock* lock = vma->vm_lock) visit(vma, *lock);
    }
    VmContext& context;
    Visit& visit;
  };
  LiveVmas live(mm.context(), visit);
  if (maple::for_each_entry(&mm.mm_mt, live)) return;
  MA_STATE(mas, &mm.mm_mt, 0, 0);
  void* entry;
  mas_for_each(&mas, entry, ULONG_MAX) live.entry(mas.index, mas.last, entry);
}

void take_snapshot(Mm& mm) {
  for_each_live_vma(mm, [&](Vma* vma, VmaLock& lock) {
    lock.snapshot_seq = mm.mm_lock_seq;
    lock.snapshot_start = vma->vm_start;
    lock.snapshot_end = vma->vm_end;
    lock.snapshot_flags = vma->vm_flags;
    lock.snapshot_pgoff = vma->vm_pgoff;
    lock.snapshot_anon_vma = vma->anon_vma;
  });
}

// At the end of a write section: every VMA that was in the tree at its start and
// changed must have been write-locked, or a lock-free reader could have used it
// half-changed. Recorded, not raised: an unlock cannot throw.
void check_write_section(Mm& mm) {
  if (mm.vma_lock_violation) return;
  for_each_live_vma(mm, [&](Vma* vma, VmaLock& lock) {
    if (mm.vma_lock_violation || lock.snapshot_seq != mm.mm_lock_seq) return;
    // A first anon_vma is anon_vma_prepare's, which the kernel does under mmap_lock for
    // read (lock-free faults never use a VMA without one).
    const bool changed = lock.snapshot_start != vma->vm_start || lock.snapshot_end != vma->vm_end ||
                         lock.snapshot_flags != vma->vm_flags || lock.snapshot_pgoff != vma->vm_pgoff ||
                         (lock.snapshot_anon_vma && lock.snapshot_anon_vma != vma->anon_vma);
    if (!changed || lock.vm_lock_seq == mm.mm_lock_seq) return;
    Failure failure{"vma_lock.modified_without_start_write",
                    "mmap_write_unlock",
                    fmt::format("mm {}: vma#{} changed from [{:#x}-{:#x}) flags {:#x} pgoff {:#x} to [{:#x}-{:#x}) "
                                "flags {:#x} pgoff {:#x} in an mmap write section without vma_start_write",
                                mm.id(), vma->id, lock.snapshot_start, lock.snapshot_end, lock.snapshot_flags,
                                lock.snapshot_pgoff, vma->vm_start, vma->vm_end, vma->vm_flags, vma->vm_pgoff),
                    dump_mm(mm),
                    0,
                    0};
    failure.subject = FailureSubject::entry(vma->vm_start, vma->vm_end - 1, mm.id());
    mm.vma_lock_violation = std::move(failure);
  });
}

// The end of an mmap write section (unlock or downgrade): its check, then
// vma_end_write_all.
void end_write_section(Mm& mm) {
  if (per_vma_locks(mm)) {
    // Unlocks run in destructors, some while a failure unwinds (then the section is not
    // checked): whatever the walk meets (a broken tree) is recorded, never thrown.
    if (!failure_in_flight()) {
      try {
        check_write_section(mm);
      } catch (const FailureError& error) {
        if (!mm.vma_lock_violation) mm.vma_lock_violation = error.failure();
      }
    }
    ++mm.mm_lock_seq;  // vma_end_write_all: every VMA write lock of the section ends here
  }
}

}  // namespace

void mmap_write_lock(Mm& mm, Site site) { mmap_write_lock_nested(mm, 0, site); }

void mmap_write_lock_nested(Mm& mm, unsigned subclass, Site site) {
  if (subclass) mm.mmap_lock.down_write_nested(subclass, site);
  else mm.mmap_lock.down_write(site);
  if (per_vma_locks(mm)) take_snapshot(mm);
}

void mmap_write_unlock(Mm& mm, Site site) {
  end_write_section(mm);
  mm.mmap_lock.up_write(site);
}

void mmap_write_downgrade(Mm& mm, Site site) {
  end_write_section(mm);
  mm.mmap_lock.downgrade_write(site);
}

void vma_start_write(Vma* vma) {
  Mm& mm = *vma->vm_mm;
  if (!per_vma_locks(mm)) return;
  if (mm.mmap_lock.writer() != &sched::current_or_host())
    fail(vma, "vma_lock.start_write_without_mmap_lock", "vma_start_write",
         fmt::format("vma#{} write-locked by a thread that does not hold mmap_lock for write", vma->id));
  VmaLock& lock = lock_of(vma, "vma_start_write");
  if (lock.vm_lock_seq == mm.mm_lock_seq) return;
  // Taking the rwsem for write waits for the VMA's readers; the sequence then keeps new
  // ones out after it is released.
  lock.lock.down_write(Site{"vma_start_write"});
  lock.vm_lock_seq = mm.mm_lock_seq;
  lock.lock.up_write(Site{"vma_start_write"});
}

bool vma_start_read(Vma* vma) {
  Mm& mm = *vma->vm_mm;
  VmaLock& lock = lock_of(vma, "vma_start_read");
  if (lock.vm_lock_seq == mm.mm_lock_seq) return false;
  if (!lock.lock.down_read_trylock(Site{"vma_start_read"})) return false;
  // A writer may have claimed the VMA between the first look and the try-lock.
  if (lock.vm_lock_seq == mm.mm_lock_seq) {
    lock.lock.up_read(Site{"vma_start_read"});
    return false;
  }
  return true;
}

void vma_end_read(Vma* vma) { lock_of(vma, "vma_end_read").lock.up_read(Site{"vma_end_read"}); }

bool vma_is_write_locked(const Vma* vma) {
  Mm& mm = *vma->vm_mm;
  if (!per_vma_locks(mm)) return false;
  const VmaLock* lock = vma->vm_lock;
  return lock && lock->vm_lock_seq == mm.mm_lock_seq;
}

void vma_assert_write_locked(const Vma* vma, const char* site) {
  if (!per_vma_locks(*vma->vm_mm) || vma_is_write_locked(vma)) return;
  fail(vma, "vma_lock.not_write_locked", site,
       fmt::format("vma#{} [{:#x}-{:#x}) changed in the tree without vma_start_write", vma->id, vma->vm_start,
                   vma->vm_end));
}

void vma_assert_page_tables_locked(const Vma* vma, const char* site) {
  if (!per_vma_locks(*vma->vm_mm) || vma_is_write_locked(vma)) return;
  const uint32_t readers = lock_of(vma, site).lock.readers();
  fail(vma, "vma_lock.page_tables_not_write_locked", site,
       fmt::format("vma#{} [{:#x}-{:#x}): its page tables are copied or changed under mmap_lock without "
                   "vma_start_write, so faults under the VMA's own lock may run meanwhile ({} hold it read-locked now)",
                   vma->id, vma->vm_start, vma->vm_end, readers));
}

void vma_mark_detached(Vma* vma) {
  if (!per_vma_locks(*vma->vm_mm)) return;
  vma_assert_write_locked(vma, "vma_mark_detached");
  lock_of(vma, "vma_mark_detached").detached = true;
}

void vma_mark_attached(Vma* vma) {
  if (!per_vma_locks(*vma->vm_mm)) return;
  vma_assert_write_locked(vma, "vma_mark_attached");
  lock_of(vma, "vma_mark_attached").detached = false;
}

Vma* lock_vma_under_rcu(Mm& mm, unsigned long addr) {
  VmContext& context = mm.context();
  VmaLockStats& stats = context.vma_lock_stats();
  sched::RcuReadGuard rcu;
  MA_STATE(mas, &mm.mm_mt, addr, addr);
  void* entry = mas_walk(&mas);
  if (!entry) {
    ++stats.miss;
    return nullptr;
  }
  // The tree may hand a reader a VMA that a writer has taken out since, but never one
  // already freed: VMAs go back to the slab only after a grace period.
  if (!context.vma_cache().is_live(entry))
    raise_failure(FailureSubject::entry(mas.index, mas.last, mm.id()), "vma_lock.rcu_freed_vma", "lock_vma_under_rcu",
                  fmt::format("mm {}: an RCU reader found a freed vm_area_struct at {:#x} ({})", mm.id(), addr,
                              context.vma_cache().describe_object(entry)));
  auto* vma = static_cast<Vma*>(entry);
  if (!vma_start_read(vma)) {
    ++stats.abort;
    return nullptr;
  }
  // Under its own lock the VMA is stable; what the walk saw may not be: it may have
  // moved off addr or left the tree before the lock was taken. And a first fault needs
  // anon_vma_prepare, which needs mmap_lock.
  if (!vma->anon_vma || addr < vma->vm_start || addr >= vma->vm_end || lock_of(vma, "lock_vma_under_rcu").detached) {
    vma_end_read(vma);
    ++stats.abort;
    return nullptr;
  }
  ++stats.success;
  return vma;
}

VmaReadSnapshot vma_read_snapshot(const Vma* vma) {
  return {vma->vm_start, vma->vm_end, vma->vm_flags, vma->vm_pgoff, vma->anon_vma};
}

void vma_check_read_stable(const Vma* vma, const VmaReadSnapshot& before, const char* site) {
  Mm& mm = *vma->vm_mm;
  const VmaLock& lock = lock_of(vma, site);
  if (lock.detached)
    fail(vma, "vma_lock.fault_on_detached", site,
         fmt::format("a fault holding vma#{} read-locked goes on after it left the tree", vma->id));
  if (lock.vm_lock_seq == mm.mm_lock_seq)
    fail(vma, "vma_lock.written_under_reader", site,
         fmt::format("vma#{} became write-locked while a fault held it read-locked", vma->id));
  const VmaReadSnapshot now = vma_read_snapshot(vma);
  if (now.vm_start != before.vm_start || now.vm_end != before.vm_end || now.vm_flags != before.vm_flags ||
      now.vm_pgoff != before.vm_pgoff || now.anon_vma != before.anon_vma)
    fail(vma, "vma_lock.changed_under_reader", site,
         fmt::format("vma#{} changed from [{:#x}-{:#x}) flags {:#x} pgoff {:#x} to [{:#x}-{:#x}) flags {:#x} pgoff "
                     "{:#x} while a fault held it read-locked",
                     vma->id, before.vm_start, before.vm_end, before.vm_flags, before.vm_pgoff, now.vm_start,
                     now.vm_end, now.vm_flags, now.vm_pgoff));
}

}  // namespace mmt::vma
