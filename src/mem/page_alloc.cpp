// The page allocator's GFP semantics (memory.h): watermarks, the fault plan, the slow
// path with kswapd wake-up, direct reclaim, OOM and __GFP_NOFAIL; alloc_pages_exact;
// and the reference-count and reverse-map operations with their misuse checks.
#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "mmtorture/core/failure.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/sched/atomic_context.h"
#include "mmtorture/sched/clock.h"
#include "mmtorture/sched/event_log.h"
#include "mmtorture/sched/scheduler.h"
#include "mmtorture/sched/yield_point.h"

namespace mmt::mem {

namespace {

MigrateType gfp_migratetype(gfp_t gfp) {
  return (gfp & gfp::kMovable) ? MigrateType::Movable : MigrateType::Unmovable;
}

// True while a failure or teardown is ending the run: sleeps return at once then, so
// loops that wait for memory must stop instead of spinning.
bool run_doomed() {
  sched::Scheduler* scheduler = sched::Scheduler::running();
  return scheduler && scheduler->doomed();
}

uint64_t pages_of(size_t bytes) { return (bytes + kPageSize - 1) / kPageSize; }

}  // namespace

std::string gfp_text(gfp_t flags) {
  std::string text;
  gfp_t rest = flags;
  for (auto [base, name] : {std::pair{gfp::kKernel, "GFP_KERNEL"}, std::pair{gfp::kNowait, "GFP_NOWAIT"},
                            std::pair{gfp::kAtomic, "GFP_ATOMIC"}}) {
    if ((flags & base) == base) {
      text = name;
      rest &= ~base;
      break;
    }
  }
  for (auto [bit, name] : {std::pair{gfp::kNofail, "__GFP_NOFAIL"}, std::pair{gfp::kNowarn, "__GFP_NOWARN"},
                           std::pair{gfp::kZero, "__GFP_ZERO"}, std::pair{gfp::kMovable, "__GFP_MOVABLE"},
                           std::pair{gfp::kHigh, "__GFP_HIGH"}}) {
    if (!(rest & bit)) continue;
    text += fmt::format("{}{}", text.empty() ? "" : "|", name);
    rest &= ~bit;
  }
  if (rest || text.empty()) text += fmt::format("{}{:#x}", text.empty() ? "gfp " : "|", rest);
  return text;
}

void Memory::trace_event(TraceEvent event, uint64_t a, uint64_t b, uint64_t c) {
  TraceHash* trace = trace_;
  if (!trace) {
    if (sched::Scheduler* scheduler = sched::Scheduler::running()) trace = &scheduler->trace();
  }
  if (trace) trace->fold(event, a, b, c);
}

// __zone_watermark_ok: the request leaves at least `mark` usable free pages, where
// __GFP_HIGH may dip to half of it and GFP_ATOMIC (high and non-blocking) a quarter
// lower still. Isolated pages are never usable, CMA pages only for movable requests.
bool Memory::watermark_ok(gfp_t gfp, unsigned order, uint64_t mark) const {
  uint64_t usable = nr_free_ - nr_free_by_type_[index_of(MigrateType::Isolate)];
  if (gfp_migratetype(gfp) != MigrateType::Movable) usable -= nr_free_by_type_[index_of(MigrateType::Cma)];
  uint64_t min = mark;
  if (gfp & gfp::kHigh) {
    min -= min / 2;
    if (!gfp::allows_blocking(gfp)) min -= min / 4;
  }
  const uint64_t need = uint64_t{1} << order;
  return usable >= need && usable - need >= min;
}

Page* Memory::get_page_from_freelist(gfp_t gfp, unsigned order, uint64_t mark) {
  if (!watermark_ok(gfp, order, mark)) return nullptr;
  Page* page =
      order == 0 && config_.pcp_batch ? rmqueue_pcplist(gfp_migratetype(gfp)) : rmqueue(order, gfp_migratetype(gfp));
  if (page) prep_new_page(page, order);
  return page;
}

void Memory::prep_new_page(Page* page, unsigned order) {
  page->refcount = 1;
  page->mapcount = 0;
  page->pincount = 0;
  page->flags = PG_allocated;
  page->order = static_cast<uint8_t>(order);
  page->anon_vma = nullptr;
  page->mapping = nullptr;
  page->index = 0;
  page->slab = nullptr;
}

Page* Memory::alloc_pages(gfp_t gfp, unsigned order, Site site) {
  return alloc_pages_internal(gfp, order, site, /*from_slab=*/false);
}

// A slab refill (from_slab) was already checked, yielded and decided by the plan in
// KmemCache::alloc: one request, one decision, one yield point.
Page* Memory::alloc_pages_internal(gfp_t gfp, unsigned order, Site site, bool from_slab) {
  if (!from_slab) {
    sched::might_alloc(gfp, site);
    sched::yield_point(site);
  }
  Page* page = nullptr;
  bool injected = false;
  if (order > kMaxOrder) {
    // The kernel WARNs and fails; a caller asking for this is a bug of its own.
  } else if (!from_slab && plan_ &&
             plan_->should_fail(choices_, FaultRequest{gfp, kPageSize << order, site, nr_free_, config_.min_pages})) {
    ++stats_.injected_failures;
    injected = true;
  } else {
    page = get_page_from_freelist(gfp, order, config_.low_pages);
    if (!page) page = alloc_slowpath(gfp, order, site);
  }
  if (!page) {
    ++stats_.alloc_failures;
    if (!from_slab) {
      stats_.failures_by_class.add(gfp);
      sched::current_or_host().count_alloc_failure();
    }
    trace_event(TraceEvent::Alloc, UINT64_MAX, order, gfp);
    // A slab refill's failure is the slab's to report (one request, one event).
    if (!from_slab)
      if (sched::EventLog* log = sched::event_log())
        log->record(sched::EventKind::AllocFail,
                  fmt::format("allocation fails: order-{} pages ({}) at {}{}", order, gfp_text(gfp), site.name,
                              injected ? ", injected by the fault plan" : ""),
                  gfp_text(gfp));
    return nullptr;
  }
  ++stats_.allocs;
  trace_event(TraceEvent::Alloc, page->pfn, order, gfp);
  return page;
}

// One direct-reclaim round: throttle (the kernel's reclaim_throttle), then one LRU pass.
bool Memory::reclaim_round(gfp_t gfp, unsigned order, Site site) {
  (void)gfp;
  ++stats_.direct_reclaims;
  if (sched::current_thread()) {
    if (config_.reclaim_sleep_ms > 0) sched::msleep(config_.reclaim_sleep_ms, Site{"reclaim_throttle"});
    else sched::cond_resched(Site{"reclaim_throttle"});
  }
  const uint64_t target = std::max<uint64_t>(32, uint64_t{1} << order);  // SWAP_CLUSTER_MAX
  return shrink_lru(target, site) > 0;
}

Page* Memory::alloc_slowpath(gfp_t gfp, unsigned order, Site site) {
  if (gfp & gfp::kKswapdReclaim) wakeup_kswapd();
  if (Page* page = get_page_from_freelist(gfp, order, config_.min_pages)) return page;
  if (!gfp::allows_blocking(gfp)) {
    ++stats_.nowait_failures;
    return nullptr;
  }
  // __alloc_pages_direct_reclaim's "drained" retry, once per attempt: frames waiting on
  // the per-CPU lists (reclaim frees to them too) go back to the buddy lists, where they
  // may merge into the block asked for.
  auto drained_retry = [&]() -> Page* {
    if (nr_pcp_pages() == 0) return nullptr;
    drain_all_pages();
    return get_page_from_freelist(gfp, order, config_.min_pages);
  };
  if (Page* page = drained_retry()) return page;
  unsigned rounds = 0;
  for (;;) {
    if (run_doomed()) return nullptr;
    if (rounds < config_.reclaim_retries) {
      ++rounds;
      reclaim_round(gfp, order, site);
      if (Page* page = get_page_from_freelist(gfp, order, config_.min_pages)) return page;
      if (Page* page = drained_retry()) return page;
      continue;
    }
    if (config_.oom_kill && oom_hook_ && order <= kCostlyOrder) {
      // A kill that returned no memory is no progress (the kernel would wait for the
      // OOM reaper); counting it as progress would loop forever.
      const uint64_t free_before = nr_free_ + nr_pcp_pages();
      if (oom_hook_() && nr_free_ + nr_pcp_pages() > free_before) {
        ++stats_.oom_kills;
        if (Page* page = get_page_from_freelist(gfp, order, config_.min_pages)) return page;
        rounds = 0;  // the victim's memory may still be on its way back: reclaim again
        continue;
      }
    }
    if (!(gfp & gfp::kNofail)) return nullptr;
    if (!sched::current_thread())
      raise_failure("mem.nofail_stuck", site.name,
                    fmt::format("__GFP_NOFAIL order-{} allocation cannot succeed: {} free pages (min {}), nothing "
                                "reclaimable, and no other thread exists to free memory",
                                order, nr_free_, config_.min_pages));
    // __GFP_NOFAIL: keep going, one throttled round at a time, until someone frees
    // memory (an endless wait shows up as the scheduler's hang Failure).
    ++stats_.nofail_rounds;
    reclaim_round(gfp, order, site);
    if (Page* page = get_page_from_freelist(gfp, order, config_.min_pages)) return page;
  }
}

void Memory::check_allocated_head(const Page* page, const char* op) const {
  if (!page) raise_failure("mem.bad_ref", op, fmt::format("{} of a null page", op));
  if (page < pages_.data() || page >= pages_.data() + pages_.size())
    raise_failure("mem.bad_ref", op, fmt::format("{} of a page that is not a frame of this Memory", op));
  if (!page->test(PG_allocated))
    raise_failure("mem.bad_ref", op,
                  fmt::format("{} of a frame that is not an allocated block's head: {}", op, describe_page(*page)));
  if (page->refcount <= 0)
    raise_failure(
        "mem.bad_ref", op,
        fmt::format("{} of a page whose refcount is already {}: {}", op, page->refcount, describe_page(*page)));
}

// free_pages_prepare's "Bad page state": a block must be unmapped and unpinned by the
// time its last reference goes.
void Memory::free_block(Page* page, bool to_tail) {
  if (page->mapcount != 0 || page->pincount != 0)
    raise_failure("mem.bad_page_state", "free_pages_prepare",
                  fmt::format("BUG: Bad page state: freeing a page that is still mapped or pinned: {}",
                              describe_page(*page)));
  if (page->test(PG_lru)) lru_list_del(page);
  const unsigned order = page->order;
  page->refcount = 0;
  page->flags = 0;
  page->anon_vma = nullptr;
  page->mapping = nullptr;
  page->index = 0;
  page->slab = nullptr;
  ++stats_.frees;
  trace_event(TraceEvent::Free, page->pfn, order, 0);
  if (order == 0 && !to_tail && config_.pcp_batch && free_to_pcp(page)) return;
  free_one_block(page->pfn, order, to_tail);
}

void Memory::free_pages(Page* page, unsigned order) {
  if (!page) return;
  if (page >= pages_.data() && page < pages_.data() + pages_.size() && page->test(PG_allocated) &&
      page->order != order)
    raise_failure("mem.bad_free", "free_pages",
                  fmt::format("freeing with order {} a block allocated with order {}: {}", order, page->order,
                              describe_page(*page)));
  check_allocated_head(page, "free_pages");
  if (--page->refcount == 0) free_block(page, false);
}

Page* Memory::alloc_pages_exact(size_t bytes, gfp_t gfp, Site site) {
  if (bytes == 0 || bytes > (kPageSize << kMaxOrder)) {
    ++stats_.alloc_failures;
    stats_.failures_by_class.add(gfp);
    return nullptr;
  }
  const uint64_t used = pages_of(bytes);
  const unsigned order = get_order(bytes);
  Page* page = alloc_pages(gfp, order, site);
  if (!page) return nullptr;
  // split_page(): every frame becomes an order-0 page of its own, then the tail goes.
  for (uint64_t i = 1; i < (uint64_t{1} << order); ++i) prep_new_page(page + i, 0);
  page->order = 0;
  for (uint64_t i = used; i < (uint64_t{1} << order); ++i) {
    --page[i].refcount;
    free_block(page + i, config_.exact_free_to_tail);
  }
  return page;
}

void Memory::free_pages_exact(Page* page, size_t bytes) {
  if (!page) return;
  for (uint64_t i = 0; i < pages_of(bytes); ++i) free_pages(page + i, 0);
}

void Memory::get_page(Page* page) {
  check_allocated_head(page, "get_page");
  ++page->refcount;
}

void Memory::put_page(Page* page) {
  check_allocated_head(page, "put_page");
  if (--page->refcount == 0) free_block(page, false);
}

void Memory::pin_user_page(Page* page) {
  check_allocated_head(page, "pin_user_page");
  page->refcount += kGupPinCountingBias;
  ++page->pincount;
}

void Memory::unpin_user_page(Page* page) {
  check_allocated_head(page, "unpin_user_page");
  if (page->pincount <= 0 || page->refcount < kGupPinCountingBias)
    raise_failure("mem.bad_ref", "unpin_user_page",
                  fmt::format("unpin of a page that is not pinned: {}", describe_page(*page)));
  --page->pincount;
  page->refcount -= kGupPinCountingBias;
  if (page->refcount == 0) free_block(page, false);
}

void Memory::page_add_anon_rmap(Page* page, void* anon_vma, unsigned long index) {
  check_allocated_head(page, "page_add_anon_rmap");
  page->anon_vma = anon_vma;
  page->index = index;
  page->set(PG_anon | PG_swapbacked);
  ++page->mapcount;
}

void Memory::page_add_file_rmap(Page* page) {
  check_allocated_head(page, "page_add_file_rmap");
  if (!page->mapping || page->test(PG_anon))
    raise_failure("mem.bad_mapcount", "page_add_file_rmap",
                  fmt::format("mapping a page that is no file page: {}", describe_page(*page)));
  ++page->mapcount;
}

void Memory::page_dup_rmap(Page* page) {
  check_allocated_head(page, "page_dup_rmap");
  if (page->mapcount <= 0)
    raise_failure("mem.bad_mapcount", "page_dup_rmap",
                  fmt::format("duplicating the mapping of an unmapped page: {}", describe_page(*page)));
  ++page->mapcount;
}

void Memory::page_remove_rmap(Page* page) {
  check_allocated_head(page, "page_remove_rmap");
  if (page->mapcount <= 0)
    raise_failure("mem.bad_mapcount", "page_remove_rmap",
                  fmt::format("mapcount underflow: {}", describe_page(*page)));
  --page->mapcount;
}

}  // namespace mmt::mem
