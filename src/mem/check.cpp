// Memory::check_consistency (memory.h): rebuilds from the free lists which frames are
// free and compares that with every frame's own state, the counters and the LRU. Each
// violation is a Failure naming the check ("mem.<what>") and the frame, so a
// corruption is reported at the first operation that left it, not when it crashes.
#include <fmt/format.h>

#include <vector>

#include "mmtorture/mem/memory.h"

namespace mmt::mem {

namespace {

// A check_consistency failure about one frame: what broke, then the frame's state.
Failure frame_failure(const Memory& memory, const char* check, const Page& page, const std::string& what) {
  return Failure{check, "check_consistency", fmt::format("{}: {}", what, memory.describe_page(page))};
}

}  // namespace

std::string Memory::describe_page(const Page& page) const {
  static constexpr struct {
    uint32_t flag;
    const char* name;
  } kNames[] = {{PG_locked, "locked"},         {PG_lru, "lru"},           {PG_anon, "anon"},
                {PG_swapbacked, "swapbacked"}, {PG_isolated, "isolated"}, {PG_slab, "slab"},
                {PG_reserved, "reserved"},     {PG_buddy, "buddy"},       {PG_allocated, "allocated"},
                {PG_swapcache, "swapcache"},   {PG_dirty, "dirty"},       {PG_writeback, "writeback"}};
  std::string flags;
  for (const auto& [flag, name] : kNames) {
    if (!page.test(flag)) continue;
    if (!flags.empty()) flags += '|';
    flags += name;
  }
  const uint64_t block = page.pfn / kPageblockPages;
  return fmt::format("pfn {} refcount {} mapcount {} pincount {} order {} flags [{}] pageblock {} ({})", page.pfn,
                     page.refcount, page.mapcount, page.pincount, page.order, flags, block,
                     block < pageblock_types_.size() ? migratetype_name(pageblock_types_[block]) : "?");
}

std::optional<Failure> Memory::check_consistency() const {
  std::vector<uint8_t> listed(pages_.size(), 0);
  if (auto failure = check_free_lists(listed)) return failure;
  if (auto failure = check_pcp_lists(listed)) return failure;
  uint64_t on_lru = 0;
  if (auto failure = check_frames(listed, on_lru)) return failure;
  if (auto failure = check_swap_slots()) return failure;
  return check_lru(on_lru);
}

// The buddy lists: each block on the list of its order and its pageblock's type, aligned,
// linked both ways, counted; no frame in two blocks; the free counters add up.
std::optional<Failure> Memory::check_free_lists(std::vector<uint8_t>& listed) const {
  uint64_t free_total = 0;
  std::array<uint64_t, kMigrateTypes> free_by_type{};
  for (unsigned order = 0; order <= kMaxOrder; ++order) {
    for (unsigned type = 0; type < kMigrateTypes; ++type) {
      const FreeList& list = free_area_[order][type];
      uint64_t count = 0;
      const Page* prev = nullptr;
      for (const Page* page = list.head; page; prev = page, page = page->list_next) {
        if (++count > list.count || count > pages_.size())
          return frame_failure(*this, "mem.free_list", *page,
                               fmt::format("free list order {} {} is longer than its count {} "
                                           "(or loops)",
                                           order, migratetype_name(MigrateType(type)), list.count));
        if (page->list_prev != prev)
          return frame_failure(*this, "mem.free_list", *page, "broken back link on a free list");
        if (!page->test(PG_buddy) || page->order != order || page->free_type != MigrateType(type))
          return frame_failure(*this, "mem.free_list", *page,
                               fmt::format("on free list order {} {} without matching buddy state", order,
                                           migratetype_name(MigrateType(type))));
        const uint64_t size = uint64_t{1} << order;
        if (page->pfn % size != 0 || page->pfn + size > pages_.size())
          return frame_failure(*this, "mem.free_list", *page,
                               fmt::format("free block of order {} is misaligned or runs past "
                                           "the end",
                                           order));
        for (uint64_t pfn = page->pfn; pfn < page->pfn + size; pfn += kPageblockPages) {
          if (pageblock_types_[pfn / kPageblockPages] != MigrateType(type))
            return frame_failure(
                *this, "mem.free_list_type", *page,
                fmt::format("free block on the {} list covers a {} pageblock", migratetype_name(MigrateType(type)),
                            migratetype_name(pageblock_types_[pfn / kPageblockPages])));
        }
        for (uint64_t pfn = page->pfn; pfn < page->pfn + size; ++pfn) {
          if (listed[pfn])
            return frame_failure(*this, "mem.free_overlap", pages_[pfn], "frame belongs to two free blocks");
          listed[pfn] = pfn == page->pfn ? 1 : 2;
        }
        free_total += size;
        free_by_type[type] += size;
      }
      if (list.tail != prev && !(list.head == nullptr && list.tail == nullptr))
        return frame_failure(*this, "mem.free_list", prev ? *prev : pages_[0],
                             "free list tail pointer is not its last entry");
      if (count != list.count)
        return Failure{"mem.free_list", "check_consistency",
                       fmt::format("free list order {} {} holds {} blocks but counts {}", order,
                                   migratetype_name(MigrateType(type)), count, list.count)};
    }
  }
  if (free_total != nr_free_)
    return Failure{"mem.free_count", "check_consistency",
                   fmt::format("free lists hold {} pages but nr_free_pages is {}", free_total, nr_free_)};
  for (unsigned type = 0; type < kMigrateTypes; ++type) {
    if (free_by_type[type] != nr_free_by_type_[type])
      return Failure{
          "mem.free_count", "check_consistency",
          fmt::format("{} free lists hold {} pages but the {} counter is {}", migratetype_name(MigrateType(type)),
                      free_by_type[type], migratetype_name(MigrateType(type)), nr_free_by_type_[type])};
  }
  return std::nullopt;
}

std::optional<Failure> Memory::check_pcp_lists(std::vector<uint8_t>& listed) const {
  // The per-CPU lists: free order-0 frames with PG_pcp alone, each on the list of its
  // recorded type, on no buddy list and on one per-CPU list once (3 in `listed`).
  for (size_t index = 0; index < pcp_lists_.size(); ++index) {
    for (const Page* page : pcp_lists_[index]) {
      if (listed[page->pfn])
        return frame_failure(*this, "mem.pcp", *page,
                             "frame on a per-CPU list and on a buddy list or another per-CPU list");
      listed[page->pfn] = 3;
      if (page->flags != PG_pcp || page->refcount != 0 || page->mapcount != 0 || page->pincount != 0)
        return frame_failure(*this, "mem.pcp", *page,
                             "frame on a per-CPU list that is not a clean free frame with PG_pcp");
      if (pcp_index(page->free_type) != index)
        return frame_failure(
            *this, "mem.pcp", *page,
            fmt::format("frame on per-CPU list {} filed as {}", index, migratetype_name(page->free_type)));
    }
  }
  return std::nullopt;
}

// Every frame's own state against the lists it is (not) on; counts the PG_lru frames.
std::optional<Failure> Memory::check_frames(const std::vector<uint8_t>& listed, uint64_t& on_lru) const {
  on_lru = 0;
  for (const Page& page : pages_) {
    if (listed[page.pfn] == 3) continue;  // checked above
    if (page.test(PG_pcp)) return frame_failure(*this, "mem.pcp", page, "PG_pcp on a frame that is on no per-CPU list");
    // memblock: the first reserved_pages frames, and only they, are PG_reserved, and
    // nothing else ever touches them.
    if (page.test(PG_reserved) != (page.pfn < config_.reserved_pages))
      return frame_failure(*this, "mem.reserved", page,
                           fmt::format("PG_reserved {} a frame {} the {} reserved at boot",
                                       page.test(PG_reserved) ? "on" : "missing from",
                                       page.test(PG_reserved) ? "outside" : "among", config_.reserved_pages));
    if (page.test(PG_reserved) && (listed[page.pfn] || page.flags != PG_reserved || page.refcount != 0 ||
                                   page.mapcount != 0 || page.pincount != 0))
      return frame_failure(*this, "mem.reserved", page, "a reserved frame on a free list, allocated, mapped or pinned");
    if (listed[page.pfn]) {
      if (auto failure = check_free_frame(page, listed)) return failure;
      continue;
    }
    if (page.test(PG_buddy))
      return frame_failure(*this, "mem.stray_buddy", page, "PG_buddy on a frame that is on no free list");
    if (page.refcount < 0 || page.mapcount < 0 || page.pincount < 0)
      return frame_failure(*this, "mem.negative_count", page, "negative refcount, mapcount or pincount");
    if (int64_t{page.refcount} < int64_t{page.mapcount} + int64_t{page.pincount} * kGupPinCountingBias)
      return frame_failure(*this, "mem.refcount", page, "refcount below what its mappings and pins hold");
    if ((page.mapcount != 0 || page.pincount != 0 || page.test(PG_lru)) && !page.test(PG_allocated))
      return frame_failure(*this, "mem.refcount", page,
                           "mapped, pinned or on the LRU but not an allocated page's head");
    if (page.test(PG_allocated) && page.refcount == 0)
      return frame_failure(*this, "mem.refcount", page, "allocated page with no reference (leaked free)");
    if (page.test(PG_lru)) ++on_lru;
    if (page.test(PG_swapcache) != (page.swap != 0) ||
        (page.swap && (page.swap > swap_slots_.size() || !swap_slots_[page.swap - 1].cached)))
      return frame_failure(*this, "mem.swap_cache", page,
                           fmt::format("PG_swapcache and swap entry {} disagree with the swap device", page.swap));
  }
  return std::nullopt;
}

// A frame the buddy lists hold: clean, and not mergeable with its buddy.
std::optional<Failure> Memory::check_free_frame(const Page& page, const std::vector<uint8_t>& listed) const {
  if (page.refcount != 0 || page.mapcount != 0 || page.pincount != 0)
    return frame_failure(*this, "mem.free_page_used", page, "free frame with references, mappings or pins");
  if (page.test(PG_lru) || page.test(PG_allocated) || page.test(PG_slab) || page.test(PG_isolated) ||
      page.test(PG_swapcache))
    return frame_failure(*this, "mem.free_page_flags", page, "free frame with allocated-page flags");
  if (listed[page.pfn] == 2 && page.test(PG_buddy))
    return frame_failure(*this, "mem.free_page_flags", page, "PG_buddy on a frame inside another free block");
  if (listed[page.pfn] == 1 && page.order < kMaxOrder) {
    // Coalescing: a free block whose buddy is a free block of the same order must
    // have been merged with it, unless a pageblock-type boundary kept them apart.
    const uint64_t buddy_pfn = page.pfn ^ (uint64_t{1} << page.order);
    if (buddy_pfn + (uint64_t{1} << page.order) <= pages_.size() && listed[buddy_pfn] == 1 &&
        pages_[buddy_pfn].order == page.order &&
        (page.order < kPageblockOrder ||
         pageblock_types_[buddy_pfn / kPageblockPages] == pageblock_types_[page.pfn / kPageblockPages]))
      return frame_failure(*this, "mem.unmerged_buddy", page,
                           fmt::format("free block and its buddy at pfn {} are both free "
                                       "at this order but were not merged",
                                       buddy_pfn));
  }
  return std::nullopt;
}

// The swap device: its used count is the slots in use, and no slot on the free stack is
// in use (or listed twice).
std::optional<Failure> Memory::check_swap_slots() const {
  uint64_t slots_in_use = 0;
  for (const SwapSlot& slot : swap_slots_) slots_in_use += slot.in_use();
  std::vector<uint8_t> on_free_stack(swap_slots_.size(), 0);
  for (SwapEntry entry : swap_free_slots_) {
    if (entry == 0 || entry > swap_slots_.size() || swap_slots_[entry - 1].in_use() || on_free_stack[entry - 1]++)
      return Failure{
          "mem.swap_slots", "check_consistency",
          fmt::format("swap entry {} on the free-slot stack is in use, listed twice or out of range", entry)};
  }
  if (slots_in_use != swap_used_ || swap_used_ + swap_free_slots_.size() != swap_slots_.size() ||
      swap_used_ > config_.swap_pages)
    return Failure{
        "mem.swap_slots", "check_consistency",
        fmt::format("{} swap slots in use, the counter says {}; {} free below the high-water mark {}; "
                    "device has {}",
                    slots_in_use, swap_used_, swap_free_slots_.size(), swap_slots_.size(), config_.swap_pages)};
  return std::nullopt;
}

std::optional<Failure> Memory::check_lru(uint64_t on_lru) const {
  uint64_t walked = 0;
  const Page* prev = nullptr;
  for (const Page* page = lru_head_; page; prev = page, page = page->list_next) {
    if (++walked > lru_size_) return frame_failure(*this, "mem.lru", *page, "LRU longer than lru_size (or loops)");
    if (!page->test(PG_lru)) return frame_failure(*this, "mem.lru", *page, "on the LRU list without PG_lru");
    if (page->list_prev != prev) return frame_failure(*this, "mem.lru", *page, "broken back link on the LRU");
  }
  if (lru_tail_ != prev) return Failure{"mem.lru", "check_consistency", "LRU tail pointer is not its last entry"};
  if (walked != lru_size_ || on_lru != lru_size_)
    return Failure{
        "mem.lru", "check_consistency",
        fmt::format("LRU list holds {} pages, {} frames have PG_lru, lru_size is {}", walked, on_lru, lru_size_)};
  return std::nullopt;
}

std::optional<Failure> Memory::check_page(uint64_t pfn) const {
  if (pfn >= pages_.size())
    return Failure{"mem.bad_pfn", "check_page", fmt::format("pfn {} is beyond the last frame ({})", pfn,
                                                            pages_.size() - 1)};
  const Page& page = pages_[pfn];
  auto fail = [&](const char* check, const char* what) {
    return Failure{check, "check_page", fmt::format("{}: {}", what, describe_page(page))};
  };
  // The free block holding the frame, if any: a PG_buddy head at an aligned pfn below.
  const Page* head = nullptr;
  for (unsigned order = 0; order <= kMaxOrder && !head; ++order) {
    const Page& candidate = pages_[pfn & ~((uint64_t{1} << order) - 1)];
    if (candidate.test(PG_buddy) && candidate.order >= order && (candidate.pfn >> candidate.order) ==
                                                                     (pfn >> candidate.order))
      head = &candidate;
  }
  if (head) {
    if (page.refcount != 0 || page.mapcount != 0 || page.pincount != 0)
      return fail("mem.free_page_used", "free frame with references, mappings or pins");
    if (page.test(PG_lru) || page.test(PG_allocated) || page.test(PG_slab) || page.test(PG_isolated) ||
        page.test(PG_swapcache))
      return fail("mem.free_page_flags", "free frame with allocated-page flags");
    if (head->free_type != pageblock_types_[pfn / kPageblockPages])
      return fail("mem.free_list_type", "free frame on a list other than its pageblock's type");
    return std::nullopt;
  }
  if (page.refcount < 0 || page.mapcount < 0 || page.pincount < 0)
    return fail("mem.negative_count", "negative refcount, mapcount or pincount");
  if (int64_t{page.refcount} < int64_t{page.mapcount} + int64_t{page.pincount} * kGupPinCountingBias)
    return fail("mem.refcount", "refcount below what its mappings and pins hold");
  if ((page.mapcount != 0 || page.pincount != 0 || page.test(PG_lru)) && !page.test(PG_allocated))
    return fail("mem.refcount", "mapped, pinned or on the LRU but not an allocated page's head");
  if (page.test(PG_allocated) && page.refcount == 0)
    return fail("mem.refcount", "allocated page with no reference (leaked free)");
  return std::nullopt;
}

}  // namespace mmt::mem
