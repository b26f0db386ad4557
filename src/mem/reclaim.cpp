// Reclaim (memory.h): the LRU, one shrink pass over it (isolate a batch from the old
// end, unmap through RmapOps, free what nobody else references, rotate the rest), the
// kswapd daemon, and its wake-up. A reclaimed anonymous page goes to a swap slot
// (swap.cpp) without any I/O; when the device is full it cannot be reclaimed. A
// page-cache page is unmapped through its file's i_mmap (RmapOps), written back if a
// shared mapping dirtied it, and dropped from its cache (RmapOps::remove_mapping).
//
// Reclaim holds its own reference on each isolated page while it works — as the
// kernel's isolate_lru_folios() does — so the page cannot be freed while RmapOps
// sleeps on an anon_vma lock and other threads run; whoever drops the last reference
// (reclaim or the owner) frees it.
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "mmtorture/core/failure.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/sched/event_log.h"
#include "mmtorture/sched/progress.h"
#include "mmtorture/sched/scheduler.h"
#include "mmtorture/sched/yield_point.h"

namespace mmt::mem {

namespace {
constexpr uint64_t kSwapClusterMax = 32;   // pages isolated per batch, as SWAP_CLUSTER_MAX
constexpr unsigned kMaxReclaimRetries = 16;  // fruitless kswapd passes before it stays asleep
}  // namespace

void Memory::lru_list_add(Page* page) {
  page->list_prev = nullptr;
  page->list_next = lru_head_;
  (lru_head_ ? lru_head_->list_prev : lru_tail_) = page;
  lru_head_ = page;
  page->set(PG_lru);
  ++lru_size_;
}

void Memory::lru_list_del(Page* page) {
  (page->list_prev ? page->list_prev->list_next : lru_head_) = page->list_next;
  (page->list_next ? page->list_next->list_prev : lru_tail_) = page->list_prev;
  page->list_prev = page->list_next = nullptr;
  page->clear(PG_lru);
  --lru_size_;
}

void Memory::lru_add(Page* page) {
  check_allocated_head(page, "lru_add");
  if (page->test(PG_lru) || page->test(PG_isolated))
    raise_failure("mem.bad_lru", "lru_add",
                  fmt::format("adding a page that is already on the LRU or isolated: {}", describe_page(*page)));
  lru_list_add(page);
}

void Memory::lru_del(Page* page) {
  if (page && page->test(PG_lru)) lru_list_del(page);
}

// Long because it is shrink_folio_list's one pass: isolate a batch, then per page the
// anonymous path (swap slot, unmap) and the page-cache path (unmap, writeback, drop from
// the cache), each step's outcome deciding the next, and the putback.
uint64_t Memory::shrink_lru(uint64_t nr_to_reclaim, Site site) {
  const uint64_t swap_outs_before = stats_.swap_outs;
  uint64_t to_scan = lru_size_;  // one look at every page at most: rotated ones come last
  uint64_t reclaimed = 0;
  std::vector<Page*> batch;
  size_t done = 0;  // pages of the batch already put back or freed
  // Puts an isolated page back: out of the swap cache (its slot now belongs to the swap
  // ptes try_to_unmap made, or is freed if it made none; ptes still mapping the page
  // keep it, and a later swap-in of a swap pte reads into a fresh page), off isolation,
  // and our reference dropped — freeing the page if it was the last one.
  auto putback = [&](Page* page, bool unmapped) {
    if (page->test(PG_swapcache)) delete_from_swap_cache(page);
    // (A writeback is over before its page goes back; an unwound one ends here.)
    page->clear(PG_isolated | PG_locked | PG_writeback);
    if (--page->refcount == 0) {
      // Ours was the last reference: swapped out if we unmapped it, else its owner
      // let go while we held it.
      if (unmapped && page->test(PG_swapbacked)) ++stats_.swap_outs;
      free_block(page, false);
      ++stats_.pages_reclaimed;
      ++reclaimed;
    } else {
      lru_list_add(page);  // putback at the new end: activate/rotate
      ++stats_.pages_rotated;
    }
  };
  // A daemon unwound at the end of a run (it may be anywhere in the pass) must not
  // leave pages isolated with our reference and a swap slot: put the rest back.
  struct Unwind {
    std::vector<Page*>& batch;
    size_t& done;
    decltype(putback)& put;
    ~Unwind() {
      while (done < batch.size()) put(batch[done++], false);
    }
  } unwind{batch, done, putback};
  while (to_scan > 0 && lru_tail_ && reclaimed < nr_to_reclaim) {
    // isolate_lru_folios: a batch from the old end, each with a reference of ours.
    batch.clear();
    done = 0;
    while (batch.size() < kSwapClusterMax && to_scan > 0 && lru_tail_) {
      Page* page = lru_tail_;
      lru_list_del(page);
      page->set(PG_isolated);
      ++page->refcount;
      batch.push_back(page);
      --to_scan;
    }
    for (Page* page : batch) {
      ++stats_.pages_scanned;
      // Only a page whose references are all explained by its mappings (plus ours, and
      // its cache's for a page-cache page) can be freed; a pinned page, or one someone
      // holds, is not worth unmapping.
      const bool file = page->mapping != nullptr;
      const bool only_mappings = page->refcount - (file ? 2 : 1) == page->mapcount;
      bool unmapped = false;
      if (only_mappings && page->mapcount > 0 && rmap_ops_ && !page->test(PG_locked)) {
        // An anonymous page needs a swap slot before its ptes can go (add_to_swap in
        // shrink_folio_list); with swap full it stays, as the kernel activates it.
        if (file || !page->test(PG_swapbacked) || add_to_swap(page)) {
          page->set(PG_locked);
          unmapped = rmap_ops_->try_to_unmap(page);  // may sleep; our reference keeps the page
          page->clear(PG_locked);
        }
      }
      if (file && rmap_ops_ && page->mapcount == 0 && !page->test(PG_locked)) {
        // pageout: a page a shared mapping dirtied is written first. The write is I/O
        // (others run meanwhile and may map, dirty or look up the page again); it ends
        // clean, and the freeze below decides whether it can go now.
        if (page->test(PG_dirty) && page->refcount == 2) {
          page->clear(PG_dirty);
          page->set(PG_writeback);
          ++stats_.file_writebacks;
          sched::yield_point(Site{"pageout: writeback"});
          page->clear(PG_writeback);
        }
        // __remove_mapping: no yield between the freeze and the drop.
        if (rmap_ops_->remove_mapping(page)) {
          ++stats_.file_dropped;
          unmapped = true;
        }
      }
      ++done;
      putback(page, unmapped);
      sched::yield_point(site);
    }
  }
  if (reclaimed) kswapd_failures_ = 0;  // reclaim works again: kswapd may be woken
  if (sched::EventLog* log = sched::event_log())
    log->note(sched::EventKind::Reclaim, "reclaims {} of {} pages at {} ({} swapped out)", reclaimed, nr_to_reclaim,
              site.name, stats_.swap_outs - swap_outs_before);
  return reclaimed;
}

void Memory::wakeup_kswapd() {
  // After kMaxReclaimRetries fruitless passes kswapd is left asleep until some reclaim
  // frees a page again (pgdat->kswapd_failures): with swap full, waking it on every
  // allocation would only rescan an unreclaimable LRU.
  if (!kswapd_ || kswapd_pending_ || kswapd_active_ || kswapd_failures_ >= kMaxReclaimRetries) return;
  kswapd_pending_ = true;
  ++stats_.kswapd_wakeups;
  kswapd_wait_.wake_up();
}

void Memory::start_kswapd() {
  sched::Scheduler* scheduler = sched::Scheduler::running();
  if (!scheduler)
    raise_failure("mem.kswapd", "start_kswapd",
                  "start_kswapd() without a running scheduler: pass the Scheduler to start it before run()");
  start_kswapd(*scheduler);
}

void Memory::start_kswapd(sched::Scheduler& scheduler) {
  if (kswapd_scheduler_ == &scheduler) return;  // once per run
  kswapd_scheduler_ = &scheduler;
  kswapd_pending_ = kswapd_active_ = false;
  kswapd_failures_ = 0;
  kswapd_ = &scheduler.spawn("kswapd0", [this] { kswapd_main(); }, sched::SpawnOptions{.daemon = true});
}

// kswapd: sleep until woken, then balance_pgdat(): reclaim until free pages reach the
// high watermark, giving up for this wake-up when a pass frees nothing.
void Memory::kswapd_main() {
  for (;;) {
    kswapd_wait_.wait_event([this] { return kswapd_pending_; }, Site{"kswapd_wait"});
    sched::Scheduler* scheduler = sched::Scheduler::running();
    if (!kswapd_pending_ || (scheduler && scheduler->doomed())) return;
    kswapd_pending_ = false;
    kswapd_active_ = true;
    ++stats_.kswapd_runs;
    {
      sched::OpScope op("balance_pgdat");
      while (nr_free_ < config_.high_pages && !scheduler->doomed()) {
        const uint64_t want = std::max(kSwapClusterMax, config_.high_pages - nr_free_);
        if (shrink_lru(want, Site{"kswapd"}) == 0) {
          ++kswapd_failures_;
          break;
        }
      }
    }
    kswapd_active_ = false;
  }
}

}  // namespace mmt::mem
