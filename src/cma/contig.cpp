// alloc_contig_range (cma.h): pageblock isolation and its undo, the migration loop
// over the range (isolate_migratepages_range + migrate_pages, bounded tries, fatal
// signals), the LRU-batch disable around it, and the final take of the free frames.
// Every exit path — success, -EBUSY, -ENOMEM, -EINTR, or a thread unwound at the end
// of a run — restores the pageblocks' types and the LRU-batch state (RAII below).
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>

#include "mmtorture/cma/cma.h"
#include "mmtorture/core/defects.h"
#include "mmtorture/sched/signal.h"
#include "mmtorture/sched/yield_point.h"

namespace mmt::cma {

namespace {

constexpr Site kSiteIsolate{"start_isolate_page_range"};
constexpr Site kSiteScan{"isolate_migratepages_range"};
constexpr uint64_t kClusterMax = 32;  // COMPACT_CLUSTER_MAX: pages isolated per batch

// GFP_HIGHUSER_MOVABLE (+ __GFP_RETRY_MAYFAIL, __GFP_NOWARN): a target may come from
// any movable memory, CMA included, but never from an isolated pageblock.
constexpr gfp_t kContigTargetGfp = gfp::kKernel | gfp::kMovable | gfp::kNowarn;

}  // namespace

// has_unmovable_pages, reduced: an allocated frame that is neither on the LRU nor
// anonymous cannot be migrated. CMA pageblocks skip the test, as in the kernel: their
// pages may be anything cma_alloc handed out, and isolation must still succeed.
int Cma::start_isolate_page_range(uint64_t start, uint64_t end, uint64_t owner, uint64_t* busy_pfn) {
  const uint64_t first = start / mem::kPageblockPages;
  const uint64_t last = (end - 1) / mem::kPageblockPages;
  sched::yield_point(kSiteIsolate);
  // Test every pageblock first, then isolate them all, with no yield in between: the
  // kernel isolates block by block under zone->lock and undoes on failure; the result
  // other threads can observe is the same.
  for (uint64_t block = first; block <= last; ++block) {
    const uint64_t block_pfn = block * mem::kPageblockPages;
    const mem::MigrateType type = memory_.pageblock_migratetype(block_pfn);
    uint64_t unmovable = UINT64_MAX;
    if (type == mem::MigrateType::Isolate) {
      unmovable = block_pfn;
    } else if (type != mem::MigrateType::Cma) {
      for (uint64_t pfn = block_pfn; pfn < block_pfn + mem::kPageblockPages; ++pfn) {
        const mem::Page* page = memory_.pfn_to_page(pfn);
        if (page->test(mem::PG_reserved) ||
            (page->test(mem::PG_allocated) && !page->test(mem::PG_lru) && !page->test(mem::PG_anon))) {
          unmovable = pfn;
          break;
        }
      }
    }
    if (unmovable != UINT64_MAX) {
      if (busy_pfn) *busy_pfn = unmovable;
      return -EBUSY;
    }
  }
  for (uint64_t block = first; block <= last; ++block) {
    isolations_[block] = Isolation{owner, memory_.pageblock_migratetype(block * mem::kPageblockPages)};
    memory_.set_pageblock_migratetype(block * mem::kPageblockPages, mem::MigrateType::Isolate);
  }
  return 0;
}

void Cma::undo_isolate_page_range(uint64_t start, uint64_t end, uint64_t owner) {
  for (uint64_t block = start / mem::kPageblockPages; block <= (end - 1) / mem::kPageblockPages; ++block) {
    if (isolations_[block].owner != owner) continue;
    memory_.set_pageblock_migratetype(block * mem::kPageblockPages, isolations_[block].saved);
    isolations_[block] = Isolation{};
  }
}

// Scans from pfn, isolating LRU pages until kClusterMax are taken; returns where the
// next scan starts. The v5.10 compaction heuristic skips an anonymous page whose
// refcount exceeds its mapcount: it "is probably pinned" (or in a fork/zap window, or
// in an LRU batch) and migration would fail. Skipped pages stay in the range, so the
// final test reports them busy.
uint64_t Cma::isolate_migratepages_range(uint64_t pfn, uint64_t end, std::vector<mem::Page*>& pages) {
  uint64_t scanned = 0;
  while (pfn < end && pages.size() < kClusterMax) {
    mem::Page* page = memory_.pfn_to_page(pfn);
    if (++scanned % kClusterMax == 0) sched::yield_point(kSiteScan);  // cond_resched
    if (page->test(mem::PG_buddy)) {
      pfn += uint64_t{1} << page->order;
      continue;
    }
    ++pfn;
    // Every page left in the range is shown to the completeness witness (if any): the
    // final test will find it busy, and the witness must have seen why.
    if (!page->test(mem::PG_lru) || page->test(mem::PG_locked)) {
      if (page->refcount > 0) count(CmaOutcome::ScanSkippedOffLru);  // not a free frame
      witness_page(page);
      continue;
    }
    if (page->test(mem::PG_anon) && page->refcount > page->mapcount) {
      ++stats_.pages_skipped;
      count(CmaOutcome::ScanSkippedPinned);
      witness_page(page);
      continue;
    }
    if (isolate_lru_page(page)) {
      pages.push_back(page);
      count(CmaOutcome::ScanIsolated);
    } else {
      witness_page(page);
    }
  }
  return pfn;
}

// __alloc_contig_migrate_range (v5.10): a batch is retried until it is empty or
// `contig_tries` migrate_pages calls have not emptied it (-EBUSY). Pages that did not
// move go back to the LRU.
int Cma::alloc_contig_migrate_range(uint64_t start, uint64_t end, uint64_t* busy_pfn) {
  std::vector<mem::Page*> pages;
  ContigWitness* witness = current_witness();
  if (witness) witness->isolated = &pages;
  uint64_t pfn = start;
  unsigned tries = 0;
  int ret = 0;
  while (pfn < end || !pages.empty()) {
    if (sched::fatal_signal_pending()) {
      ret = -EINTR;
      break;
    }
    if (pages.empty()) {
      pfn = isolate_migratepages_range(pfn, end, pages);
      tries = 0;
      if (pages.empty()) continue;
    } else if (++tries == options_.contig_tries) {
      ret = ret < 0 ? ret : -EBUSY;
      break;
    }
    ret = migrate_pages(pages, kContigTargetGfp, kSiteMigrationTarget, busy_pfn);
    if (ret == -ENOMEM) break;
  }
  for (mem::Page* page : pages) putback_lru_page(page);
  if (witness) witness->isolated = nullptr;
  return ret < 0 ? ret : 0;
}

int Cma::alloc_contig_range(uint64_t start, uint64_t end, gfp_t gfp, uint64_t* busy_pfn) {
  (void)gfp;  // the kernel uses it for the migration control; our targets are fixed (kContigTargetGfp)
  if (start >= end || end > memory_.nr_pages())
    raise_failure("cma.bad_range", "alloc_contig_range",
                  fmt::format("range [{}, {}) is empty or runs past the last frame ({})", start, end,
                              memory_.nr_pages()));
  ++stats_.contig_calls;
  const uint64_t owner = ++next_call_;
  // Owners grow, so appending keeps the list sorted; the call leaves it on every exit.
  contig_in_flight_.push_back(owner);
  struct InFlight {
    std::vector<uint64_t>& calls;
    uint64_t owner;
    ~InFlight() { calls.erase(std::find(calls.begin(), calls.end(), owner)); }
  } in_flight{contig_in_flight_, owner};
  if (ContigWitness* witness = current_witness()) witness->owner = owner;
  if (int ret = start_isolate_page_range(start, end, owner, busy_pfn)) {
    ++stats_.isolate_busy;
    count(CmaOutcome::ContigIsolationBusy);
    witness_range(start, end);  // what the isolation test saw, at the same instant
    return ret;
  }
  // drain_all_pages: frames of the range parked on the per-CPU lists are free but not on
  // the buddy lists, so the final test would find them busy, and until then they would
  // be handed out again (to a migration target, even: back into the range).
  // CANARY contig-skips-pcp-drain: the drain is skipped.
  if (!defect_enabled(Defect::ContigSkipsPcpDrain)) {
    if (memory_.nr_pcp_pages() > 0) count(CmaOutcome::ContigPcpDrained);
    memory_.drain_all_pages();
  }
  struct UndoIsolation {
    Cma& cma;
    uint64_t start, end, owner;
    bool skip = false;
    ~UndoIsolation() {
      if (!skip) cma.undo_isolate_page_range(start, end, owner);
    }
  } undo_isolation{*this, start, end, owner};

  int ret = 0;
  {
    // lru_cache_disable (v5.13+) or migrate_prep's lru_add_drain_all (v5.10).
    struct LruBatches {
      Cma& cma;
      bool disable;
      explicit LruBatches(Cma& c, bool d) : cma(c), disable(d) {
        if (disable) {
          cma.lru_cache_.lru_cache_disable();
          ++cma.contig_lru_disabled_;
        } else {
          cma.lru_cache_.lru_add_drain_all();
        }
      }
      ~LruBatches() {
        if (!disable) return;
        --cma.contig_lru_disabled_;
        cma.lru_cache_.lru_cache_enable();
      }
    } batches(*this, options_.lru_cache_disable);
    ret = alloc_contig_migrate_range(start, end, busy_pfn);
  }
  // -EBUSY from migration is not final: pages may have been freed meanwhile, and the
  // test below decides (v5.10 ignores it the same way).
  if (ret && ret != -EBUSY) {
    count(ret == -EINTR ? CmaOutcome::ContigIntr : CmaOutcome::ContigNomem);
    return ret;
  }
  lru_cache_.lru_add_drain_all();
  const uint64_t busy = memory_.isolate_freepages_range(start, end);
  if (busy != end) {
    if (busy_pfn) *busy_pfn = busy;
    witness_range(start, end);  // what the final test saw, at the same instant
    // CANARY contig-early-exit-keeps-isolation: this exit skips undo_isolate_page_range.
    undo_isolation.skip = defect_enabled(Defect::ContigEarlyExitKeepsIsolation);
    count(CmaOutcome::ContigPfnsBusy);
    return -EBUSY;  // "PFNs busy"
  }
  count(CmaOutcome::ContigOk);
  return 0;
}

}  // namespace mmt::cma
