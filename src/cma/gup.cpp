// pin_user_pages and unpin_user_pages (gup.h): the pin walk (fault in, then take the
// pin under the page-table lock) and FOLL_LONGTERM's check-and-migrate loop for pages
// in CMA memory, in each of the three kernel behaviours.
#include "mmtorture/cma/gup.h"

#include <cerrno>

#include "mmtorture/sched/signal.h"
#include "mmtorture/sched/yield_point.h"
#include "mmtorture/vma/ops.h"

namespace mmt::cma {

namespace {

constexpr Site kSiteGupLookup{"follow_page_pte"};
constexpr Site kSiteLongtermRetry{"__gup_longterm_locked: retry"};
constexpr unsigned kFaultAttempts = 4;

// Under PF_MEMALLOC_PIN the kernel drops __GFP_MOVABLE: the new page must not land in
// CMA (or ZONE_MOVABLE) again.
constexpr gfp_t kLongtermTargetGfp = gfp::kKernel | gfp::kNowarn;

// __get_user_pages: one page at a time, fault in until the pte is there (and writable
// for FOLL_WRITE), then pin it under the page-table lock so it cannot go away between
// the lookup and the pin.
long pin_pages_once(vma::Mm& mm, unsigned long start, unsigned long nr_pages, unsigned gup_flags,
                    std::vector<mem::Page*>& pinned) {
  mem::Memory& memory = mm.context().memory();
  const bool write = (gup_flags & FOLL_WRITE) != 0;
  auto undo = [&](long ret) {
    for (mem::Page* page : pinned) memory.unpin_user_page(page);
    pinned.clear();
    return ret;
  };
  for (unsigned long i = 0; i < nr_pages; ++i) {
    const unsigned long addr = start + i * vma::kPageSize;
    bool done = false;
    for (unsigned attempt = 0; attempt < kFaultAttempts && !done; ++attempt) {
      if (sched::fatal_signal_pending()) return undo(-EINTR);
      {
        mm.mmap_lock.down_read(kSiteGupLookup);
        struct Unlock {
          vma::Mm& mm;
          ~Unlock() { mm.mmap_lock.up_read(kSiteGupLookup); }
        } unlock{mm};
        vma::Vma* vma = vma::vma_lookup(mm, addr);
        if (!vma || !(vma->vm_flags & (write ? vma::VM_WRITE : vma::VM_READ))) return undo(-EFAULT);
        sched::SpinGuard ptl(mm.page_table_lock, kSiteGupLookup);
        auto it = mm.ptes.find(addr >> vma::kPageShift);
        if (it != mm.ptes.end() && (!write || it->second.writable)) {
          memory.pin_user_page(it->second.page);
          pinned.push_back(it->second.page);
          done = true;
        }
      }
      if (!done) {
        if (const int ret = vma::handle_mm_fault(mm, addr, write)) return undo(ret);
      }
    }
    if (!done) return undo(-EFAULT);  // faulted in and lost again every time
  }
  return static_cast<long>(nr_pages);
}

}  // namespace

namespace {

long pin_user_pages_counted(Cma& cma, vma::Mm& mm, unsigned long start, unsigned long nr_pages, unsigned gup_flags,
                            std::vector<mem::Page*>& pages) {
  mem::Memory& memory = cma.memory();
  const LongtermPinMode mode = cma.options().longterm_pin;
  const bool longterm = (gup_flags & FOLL_LONGTERM) != 0;
  bool allow_migrate = longterm && mode != LongtermPinMode::PinInPlace;
  bool migrated = false, migration_failed = false;
  std::vector<mem::Page*> pinned;
  for (;;) {
    const long ret = pin_pages_once(mm, start, nr_pages, gup_flags, pinned);
    if (ret < 0) return ret;
    std::vector<mem::Page*> unpinnable;
    if (allow_migrate) {
      for (mem::Page* page : pinned)
        if (cma.is_cma_pfn(page->pfn)) unpinnable.push_back(page);
    }
    if (unpinnable.empty()) break;
    // check_and_migrate_movable_pages: drop every pin, migrate the CMA pages out, and
    // pin again (the ptes now point at the new pages).
    for (mem::Page* page : pinned) memory.unpin_user_page(page);
    pinned.clear();
    cma.lru_cache().lru_add_drain_all();
    std::vector<mem::Page*> isolated;
    bool failed = false;
    for (mem::Page* page : unpinnable) {
      // The same page pinned twice in the range is isolated once.
      if (page->test(mem::PG_isolated)) continue;
      if (cma.isolate_lru_page(page)) {
        isolated.push_back(page);
      } else {
        failed = true;  // off the LRU (reclaim has it, or it was freed): cannot move it now
      }
    }
    if (!isolated.empty() && cma.migrate_pages(isolated, kLongtermTargetGfp, kSiteLongtermTarget) != 0) failed = true;
    for (mem::Page* page : isolated) cma.putback_lru_page(page);
    if (failed) {
      if (mode == LongtermPinMode::MigrateFirst) {
        cma.count(CmaOutcome::LongtermMigrationFailed);
        return -ENOMEM;
      }
      allow_migrate = false;  // v5.10: "Do get_user_pages without migration"
      migration_failed = true;
    } else {
      migrated = true;
    }
    sched::yield_point(kSiteLongtermRetry);
  }
  if (longterm) {
    bool in_cma = false;
    for (const mem::Page* page : pinned) in_cma |= cma.is_cma_pfn(page->pfn);
    cma.count(migration_failed ? CmaOutcome::LongtermMigrationFailedInPlace
              : in_cma         ? CmaOutcome::LongtermInPlace
              : migrated       ? CmaOutcome::LongtermMigrated
                               : CmaOutcome::LongtermOutsideCma);
  }
  for (mem::Page* page : pinned) {
    if (longterm) cma.note_longterm_pin(page, mode);
    pages.push_back(page);
  }
  return static_cast<long>(nr_pages);
}

}  // namespace

long pin_user_pages(Cma& cma, vma::Mm& mm, unsigned long start, unsigned long nr_pages, unsigned gup_flags,
                    std::vector<mem::Page*>& pages) {
  const long ret = pin_user_pages_counted(cma, mm, start, nr_pages, gup_flags, pages);
  cma.count(ret >= 0         ? CmaOutcome::PinOk
            : ret == -ENOMEM ? CmaOutcome::PinNomem
            : ret == -EINTR  ? CmaOutcome::PinIntr
                             : CmaOutcome::PinFault);
  return ret;
}

void unpin_user_pages(Cma& cma, std::vector<mem::Page*>& pages, unsigned gup_flags) {
  for (mem::Page* page : pages) {
    if (gup_flags & FOLL_LONGTERM) cma.forget_longterm_pin(page);
    cma.memory().unpin_user_page(page);
  }
  pages.clear();
}

}  // namespace mmt::cma
