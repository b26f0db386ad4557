// Per-CPU page lists (memory.h, MemConfig::pcp_batch): the kernel's pcp lists for one
// CPU. An order-0 free goes to the head of its list; an order-0 allocation takes the
// head, so the page freed last is handed out first (hot in cache). The lists trade
// batches with the buddy lists: a refill takes `batch` frames by rmqueue, appended at
// the tail; a list beyond its high mark gives `batch` frames back from the tail (the
// coldest) to the buddy, where they merge. What sits on a list does not merge at all —
// the fragmentation seed 001's "after" ordering is about: a region's freed tail waits
// on the list and the next order-0 request (a maple node slab) takes it.
#include <fmt/format.h>

#include "mmtorture/core/failure.h"
#include "mmtorture/mem/memory.h"

namespace mmt::mem {

// rmqueue_pcplist: the head of the list of the request's type, refilled first when
// empty. The caller has checked the watermark (as get_page_from_freelist does before
// rmqueue); frames taken by a refill leave nr_free_pages.
Page* Memory::rmqueue_pcplist(MigrateType type) {
  std::deque<Page*>& list = pcp_lists_[pcp_index(type)];
  if (list.empty()) {
    for (unsigned i = 0; i < config_.pcp_batch; ++i) {
      Page* page = rmqueue(0, type);
      if (!page) break;
      page->flags = PG_pcp;
      page->free_type = type;
      list.push_back(page);
    }
    if (list.empty()) return nullptr;
  }
  Page* page = list.front();
  list.pop_front();
  page->clear(PG_pcp);
  return page;
}

// free_unref_page: an order-0 frame of an unmovable, movable or CMA pageblock goes to
// the head of the list; an isolated pageblock's frame goes straight to the buddy (so
// alloc_contig_range sees it). False when the frame is not for the lists.
bool Memory::free_to_pcp(Page* page) {
  const MigrateType type = pageblock_types_[page->pfn / kPageblockPages];
  if (type == MigrateType::Isolate) return false;
  page->flags = PG_pcp;
  page->free_type = type == MigrateType::Cma ? MigrateType::Movable : type;
  pcp_lists_[pcp_index(page->free_type)].push_front(page);
  if (nr_pcp_pages() > config_.pcp_high) free_pcppages_bulk(config_.pcp_batch);
  return true;
}

// free_pcppages_bulk: `count` frames from the tails of the lists, round robin, back to
// the buddy lists of their pageblock's (current) type.
void Memory::free_pcppages_bulk(uint64_t count) {
  while (count > 0 && nr_pcp_pages() > 0) {
    std::deque<Page*>& list = pcp_lists_[pcp_drain_next_];
    pcp_drain_next_ = (pcp_drain_next_ + 1) % pcp_lists_.size();
    if (list.empty()) continue;
    Page* page = list.back();
    list.pop_back();
    --count;
    page->flags = 0;
    free_one_block(page->pfn, 0, /*to_tail=*/false);
  }
}

void Memory::drain_all_pages() {
  if (nr_pcp_pages() == 0) return;
  ++stats_.pcp_drains;
  free_pcppages_bulk(nr_pcp_pages());
}

}  // namespace mmt::mem
