// Page migration for alloc_contig_range and long-term pinning (cma.h): LRU isolation
// and putback, and migrate_pages with its passes over pages that returned -EAGAIN.
// The reverse-map step (moving the ptes under the refcount freeze) is the vma layer's
// (mem::RmapOps::try_to_migrate).
#include <cerrno>

#include "mmtorture/cma/cma.h"
#include "mmtorture/sched/yield_point.h"

namespace mmt::cma {

namespace {
constexpr Site kSiteMigratePass{"migrate_pages"};
}  // namespace

bool Cma::isolate_lru_page(mem::Page* page) {
  if (!page->test(mem::PG_lru) || page->refcount <= 0) return false;
  memory_.lru_del(page);
  page->set(mem::PG_isolated);
  memory_.get_page(page);
  ++stats_.pages_isolated;
  return true;
}

void Cma::putback_lru_page(mem::Page* page) {
  page->clear(mem::PG_isolated);
  // Its owner may have let go meanwhile: then ours is the last reference and the page
  // is freed rather than put back.
  if (page->refcount == 1) {
    memory_.put_page(page);
    return;
  }
  memory_.lru_add(page);
  memory_.put_page(page);
}

// unmap_and_move for one isolated page: 0 (moved or freed), -EAGAIN (the freeze
// failed: try again next pass) or -ENOMEM (no target page).
int Cma::unmap_and_move(mem::Page* page, gfp_t target_gfp, Site target_site) {
  if (page->refcount == 1 && page->mapcount == 0) {
    // Only our isolation reference is left: the owner let go, nothing to move.
    page->clear(mem::PG_isolated);
    memory_.put_page(page);
    ++stats_.pages_freed_isolated;
    count(CmaOutcome::MigrateFreed);
    return 0;
  }
  mem::Page* target = memory_.alloc_pages(target_gfp, 0, target_site);
  if (!target) {
    ++stats_.migrate_nomem;
    count(CmaOutcome::MigrateNomem);
    return -ENOMEM;
  }
  if (const int rc = rmap_.try_to_migrate(page, target)) {
    memory_.put_page(target);
    ++stats_.migrate_again;
    count(CmaOutcome::MigrateAgain);
    witness_page(page);  // as the refcount freeze found it: nothing yielded since
    return rc;
  }
  page->clear(mem::PG_isolated);
  memory_.put_page(page);  // our reference was the last one: the old frame is free
  memory_.lru_add(target);
  memory_.put_page(target);  // the mappings hold the rest
  ++stats_.pages_migrated;
  count(CmaOutcome::MigrateMoved);
  return 0;
}

int Cma::migrate_pages(std::vector<mem::Page*>& pages, gfp_t target_gfp, Site target_site, uint64_t* failed_pfn) {
  for (unsigned pass = 0; pass < options_.migrate_passes && !pages.empty(); ++pass) {
    std::vector<mem::Page*> again;
    for (size_t i = 0; i < pages.size(); ++i) {
      mem::Page* page = pages[i];
      const int rc = unmap_and_move(page, target_gfp, target_site);
      if (rc == -ENOMEM) {
        if (failed_pfn) *failed_pfn = page->pfn;
        again.insert(again.end(), pages.begin() + static_cast<std::ptrdiff_t>(i), pages.end());
        pages.swap(again);
        return -ENOMEM;
      }
      if (rc != 0) {
        if (failed_pfn) *failed_pfn = page->pfn;
        again.push_back(page);
      }
    }
    pages.swap(again);
    if (!pages.empty()) sched::yield_point(kSiteMigratePass);  // the kernel's cond_resched between passes
  }
  return static_cast<int>(pages.size());
}

}  // namespace mmt::cma
