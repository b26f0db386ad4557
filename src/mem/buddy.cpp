// The buddy allocator's free lists (memory.h): per order and migratetype, splitting
// (expand), coalescing (free_one_block), fallback between migratetypes with pageblock
// claiming, and pageblock type changes. The model is mm/page_alloc.c reduced to one
// zone and no per-CPU lists; free lists hand out their head, so the list order alone
// decides which frames come back, deterministically.
#include <fmt/format.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "mmtorture/core/failure.h"
#include "mmtorture/mem/memory.h"

namespace mmt::mem {

const char* migratetype_name(MigrateType type) {
  switch (type) {
    case MigrateType::Unmovable: return "Unmovable";
    case MigrateType::Movable: return "Movable";
    case MigrateType::Cma: return "CMA";
    case MigrateType::Isolate: return "Isolate";
  }
  return "?";
}

Memory::Memory(const MemConfig& config, ChoiceSource& choices, FaultPlan* plan)
    : config_(resolve_mem_config(config)), choices_(choices), plan_(plan) {
  pages_.resize(config_.pages);
  for (uint64_t pfn = 0; pfn < pages_.size(); ++pfn) pages_[pfn].pfn = pfn;
  pageblock_types_.assign(config_.pages / kPageblockPages, MigrateType::Movable);
  // Reserved frames stay out of the allocator for good (memblock); hand every other
  // frame to the buddy lists in the largest aligned blocks, lowest pfn at the head, so
  // a fresh world allocates from the lowest free pfn upwards.
  uint64_t pfn = 0;
  for (; pfn < config_.reserved_pages; ++pfn) pages_[pfn].set(PG_reserved);
  while (pfn < pages_.size()) {
    unsigned order = kMaxOrder;
    while ((pfn & ((uint64_t{1} << order) - 1)) != 0 || pfn + (uint64_t{1} << order) > pages_.size()) --order;
    add_to_free_list(&pages_[pfn], order, MigrateType::Movable, /*to_tail=*/true);
    pfn += uint64_t{1} << order;
  }
}

uint64_t Memory::nr_free_blocks(unsigned order, MigrateType type) const {
  return order <= kMaxOrder ? free_area_[order][index_of(type)].count : 0;
}

void Memory::add_to_free_list(Page* page, unsigned order, MigrateType type, bool to_tail) {
  FreeList& list = free_area_[order][index_of(type)];
  page->set(PG_buddy);
  page->order = static_cast<uint8_t>(order);
  page->free_type = type;
  if (to_tail) {
    page->list_prev = list.tail;
    page->list_next = nullptr;
    (list.tail ? list.tail->list_next : list.head) = page;
    list.tail = page;
  } else {
    page->list_prev = nullptr;
    page->list_next = list.head;
    (list.head ? list.head->list_prev : list.tail) = page;
    list.head = page;
  }
  ++list.count;
  nr_free_ += uint64_t{1} << order;
  nr_free_by_type_[index_of(type)] += uint64_t{1} << order;
}

void Memory::del_from_free_list(Page* page, unsigned order) {
  FreeList& list = free_area_[order][index_of(page->free_type)];
  (page->list_prev ? page->list_prev->list_next : list.head) = page->list_next;
  (page->list_next ? page->list_next->list_prev : list.tail) = page->list_prev;
  page->list_prev = page->list_next = nullptr;
  page->clear(PG_buddy);
  --list.count;
  nr_free_ -= uint64_t{1} << order;
  nr_free_by_type_[index_of(page->free_type)] -= uint64_t{1} << order;
}

// __free_one_page: merge with the buddy while it is a free block of the same order;
// across pageblocks (order >= pageblock order) only when both pageblocks have the same
// type, so a free block never straddles two types (and Isolate/CMA never leak out).
void Memory::free_one_block(uint64_t pfn, unsigned order, bool to_tail) {
  const MigrateType type = pageblock_types_[pfn / kPageblockPages];
  while (order < kMaxOrder) {
    const uint64_t buddy_pfn = pfn ^ (uint64_t{1} << order);
    if (buddy_pfn + (uint64_t{1} << order) > pages_.size()) break;
    Page& buddy = pages_[buddy_pfn];
    if (!buddy.test(PG_buddy) || buddy.order != order) break;
    if (order >= kPageblockOrder && pageblock_types_[buddy_pfn / kPageblockPages] != type) break;
    del_from_free_list(&buddy, order);
    pfn &= ~(uint64_t{1} << order);
    ++order;
  }
  add_to_free_list(&pages_[pfn], order, type, to_tail);
}

// Splits a block of order `high` down to `low`, putting each upper half on the free
// lists of `type` (the block's pageblock type), as the kernel's expand().
void Memory::expand(Page* page, unsigned low, unsigned high, MigrateType type) {
  uint64_t size = uint64_t{1} << high;
  while (high > low) {
    --high;
    size >>= 1;
    add_to_free_list(page + size, high, type, /*to_tail=*/false);
  }
}

Page* Memory::rmqueue_smallest(unsigned order, MigrateType type) {
  for (unsigned current = order; current <= kMaxOrder; ++current) {
    Page* page = free_area_[current][index_of(type)].head;
    if (!page) continue;
    del_from_free_list(page, current);
    expand(page, order, current, type);
    return page;
  }
  return nullptr;
}

uint64_t Memory::free_pages_in_pageblock(uint64_t block) const {
  uint64_t free = 0;
  const uint64_t end = (block + 1) * kPageblockPages;
  for (uint64_t pfn = block * kPageblockPages; pfn < end;) {
    const Page& page = pages_[pfn];
    if (page.test(PG_buddy)) {
      free += uint64_t{1} << page.order;
      pfn += uint64_t{1} << page.order;
    } else {
      ++pfn;
    }
  }
  return free;
}

// __rmqueue_fallback: take from another type's lists, largest block first. A block of
// a whole pageblock or more changes its pageblocks' type outright; a smaller one claims
// its pageblock when the request is Unmovable or large and at least half the pageblock
// is free (the kernel's "steal"); otherwise the request takes the smallest fitting
// block and the rest stays with the other type (mixing pageblocks, as in the kernel).
Page* Memory::rmqueue_fallback(unsigned order, MigrateType start_type) {
  const MigrateType fallback =
      start_type == MigrateType::Unmovable ? MigrateType::Movable : MigrateType::Unmovable;
  for (unsigned current = kMaxOrder + 1; current-- > order;) {
    Page* page = free_area_[current][index_of(fallback)].head;
    if (!page) continue;
    if (current >= kPageblockOrder) {
      del_from_free_list(page, current);
      for (uint64_t pfn = page->pfn; pfn < page->pfn + (uint64_t{1} << current); pfn += kPageblockPages)
        pageblock_types_[pfn / kPageblockPages] = start_type;
      add_to_free_list(page, current, start_type, false);
      return rmqueue_smallest(order, start_type);
    }
    const uint64_t block = page->pfn / kPageblockPages;
    const bool may_claim = start_type == MigrateType::Unmovable || order >= kPageblockOrder / 2;
    if (may_claim && free_pages_in_pageblock(block) >= kPageblockPages / 2) {
      pageblock_types_[block] = start_type;
      move_freepages_block(block);
      return rmqueue_smallest(order, start_type);
    }
    return rmqueue_smallest(order, fallback);
  }
  return nullptr;
}

// __rmqueue: own type first, then fallback; a movable request may also use CMA, first
// when more than half the free memory is CMA (the kernel's balancing), last otherwise.
Page* Memory::rmqueue(unsigned order, MigrateType type) {
  const bool cma_ok = type == MigrateType::Movable;
  if (cma_ok && nr_free_by_type_[index_of(MigrateType::Cma)] > nr_free_ / 2) {
    if (Page* page = rmqueue_smallest(order, MigrateType::Cma)) return page;
  }
  if (Page* page = rmqueue_smallest(order, type)) return page;
  if (Page* page = rmqueue_fallback(order, type)) return page;
  if (cma_ok) return rmqueue_smallest(order, MigrateType::Cma);
  return nullptr;
}

// Re-files every free block of the pageblock under the pageblock's current type: each
// is taken off its list and freed again, so it also merges with buddies that its old
// type kept apart (un-isolating a pageblock lets its pages coalesce again).
void Memory::move_freepages_block(uint64_t block) {
  const uint64_t start = block * kPageblockPages;
  const uint64_t end = start + kPageblockPages;
  std::vector<std::pair<uint64_t, unsigned>> blocks;
  for (uint64_t pfn = start; pfn < end;) {
    Page& page = pages_[pfn];
    if (!page.test(PG_buddy)) {
      ++pfn;
      continue;
    }
    blocks.emplace_back(pfn, page.order);
    pfn += uint64_t{1} << page.order;
  }
  for (const auto& [pfn, order] : blocks) del_from_free_list(&pages_[pfn], order);
  for (const auto& [pfn, order] : blocks) free_one_block(pfn, order, /*to_tail=*/false);
}

// A free block larger than a pageblock that covers `block` is split into pageblock-
// sized halves, each on its own pageblock's list, so the pageblock can change type.
void Memory::split_free_block_at(uint64_t block) {
  const uint64_t pfn = block * kPageblockPages;
  for (unsigned order = kPageblockOrder + 1; order <= kMaxOrder; ++order) {
    const uint64_t head_pfn = pfn & ~((uint64_t{1} << order) - 1);
    Page& head = pages_[head_pfn];
    if (!head.test(PG_buddy) || head.order != order) continue;
    const MigrateType type = head.free_type;
    del_from_free_list(&head, order);
    for (uint64_t part = head_pfn; part < head_pfn + (uint64_t{1} << order); part += kPageblockPages)
      add_to_free_list(&pages_[part], kPageblockOrder, type, /*to_tail=*/false);
    return;
  }
}

MigrateType Memory::pageblock_migratetype(uint64_t pfn) const {
  if (pfn >= pages_.size())
    raise_failure("mem.bad_pfn", "get_pageblock_migratetype",
                  fmt::format("pfn {} is beyond the last frame ({})", pfn, pages_.size() - 1));
  return pageblock_types_[pfn / kPageblockPages];
}

void Memory::set_pageblock_migratetype(uint64_t pfn, MigrateType type) {
  if (pfn >= pages_.size())
    raise_failure("mem.bad_pfn", "set_pageblock_migratetype",
                  fmt::format("pfn {} is beyond the last frame ({})", pfn, pages_.size() - 1));
  const uint64_t block = pfn / kPageblockPages;
  if (pageblock_types_[block] == type) return;
  // Isolating leaves the per-CPU lists alone, as set_migratetype_isolate does: frames
  // of the block parked there are still handed out from them until the caller drains
  // (alloc_contig_range calls drain_all_pages right after isolating: cma/contig.cpp).
  split_free_block_at(block);
  pageblock_types_[block] = type;
  move_freepages_block(block);
}

// The head of the free block holding pfn, or null when the frame is allocated.
const Page* Memory::free_block_containing(uint64_t pfn) const {
  for (unsigned order = 0; order <= kMaxOrder; ++order) {
    const Page& candidate = pages_[pfn & ~((uint64_t{1} << order) - 1)];
    if (candidate.test(PG_buddy) && candidate.order >= order &&
        (candidate.pfn >> candidate.order) == (pfn >> candidate.order))
      return &candidate;
  }
  return nullptr;
}

uint64_t Memory::isolate_freepages_range(uint64_t start, uint64_t end) {
  if (start >= end || end > pages_.size())
    raise_failure("mem.bad_pfn", "isolate_freepages_range",
                  fmt::format("range [{}, {}) is empty or runs past the last frame ({})", start, end, pages_.size()));
  for (uint64_t pfn = start; pfn < end;) {
    const Page* head = free_block_containing(pfn);
    if (!head || pageblock_types_[pfn / kPageblockPages] != MigrateType::Isolate) return pfn;
    pfn = head->pfn + (uint64_t{1} << head->order);
  }
  for (uint64_t pfn = start; pfn < end;) {
    Page* head = &pages_[free_block_containing(pfn)->pfn];
    const uint64_t block_start = head->pfn;
    const uint64_t block_end = block_start + (uint64_t{1} << head->order);
    del_from_free_list(head, head->order);
    for (uint64_t q = std::max(block_start, start); q < std::min(block_end, end); ++q) prep_new_page(&pages_[q], 0);
    // What lies outside the range goes back, frame by frame; the buddy merge rebuilds
    // the largest blocks (the frames inside are allocated now, so nothing merges into them).
    for (uint64_t q = block_start; q < block_end; ++q)
      if (q < start || q >= end) free_one_block(q, 0, /*to_tail=*/false);
    pfn = block_end;
  }
  stats_.allocs += end - start;
  trace_event(TraceEvent::Alloc, start, end - start, UINT64_MAX);
  return end;
}

Page* Memory::pfn_to_page(uint64_t pfn) { return pfn < pages_.size() ? &pages_[pfn] : nullptr; }
const Page* Memory::pfn_to_page(uint64_t pfn) const { return pfn < pages_.size() ? &pages_[pfn] : nullptr; }

}  // namespace mmt::mem
