// Swap (memory.h): a device of config().swap_pages slots, the swap cache as a flag on
// the page, and the per-slot count of swap ptes. There is no I/O: a slot stands for the
// page's contents being somewhere other than memory, and its only cost is that the
// device can fill up — after which reclaim cannot free anonymous memory at all, which
// is what drives a world into the OOM killer.
#include <fmt/format.h>

#include "mmtorture/core/failure.h"
#include "mmtorture/mem/memory.h"

namespace mmt::mem {

Memory::SwapSlot& Memory::swap_slot(SwapEntry entry, const char* op) {
  if (entry == 0 || entry > swap_slots_.size() || !swap_slots_[entry - 1].in_use())
    raise_failure("mem.bad_swap", op,
                  fmt::format("{} of swap entry {} that is not in use ({} slots handed out, {} in use)", op, entry,
                              swap_slots_.size(), swap_used_));
  return swap_slots_[entry - 1];
}

void Memory::swap_slot_release(SwapEntry entry) {
  swap_free_slots_.push_back(entry);
  --swap_used_;
}

bool Memory::add_to_swap(Page* page) {
  check_allocated_head(page, "add_to_swap");
  if (page->test(PG_swapcache))
    raise_failure("mem.bad_swap", "add_to_swap",
                  fmt::format("page already in the swap cache: {}", describe_page(*page)));
  if (swap_used_ >= config_.swap_pages) {
    ++stats_.swap_full;
    return false;
  }
  SwapEntry entry;
  if (!swap_free_slots_.empty()) {
    entry = swap_free_slots_.back();
    swap_free_slots_.pop_back();
  } else {
    swap_slots_.emplace_back();
    entry = swap_slots_.size();
  }
  swap_slots_[entry - 1].cached = true;
  ++swap_used_;
  page->swap = entry;
  page->set(PG_swapcache);
  return true;
}

void Memory::delete_from_swap_cache(Page* page) {
  if (!page->test(PG_swapcache))
    raise_failure("mem.bad_swap", "delete_from_swap_cache",
                  fmt::format("page is not in the swap cache: {}", describe_page(*page)));
  SwapSlot& slot = swap_slot(page->swap, "delete_from_swap_cache");
  slot.cached = false;
  if (!slot.in_use()) swap_slot_release(page->swap);
  page->swap = 0;
  page->clear(PG_swapcache);
}

void Memory::swap_duplicate(SwapEntry entry) { ++swap_slot(entry, "swap_duplicate").count; }

void Memory::swap_free(SwapEntry entry) {
  SwapSlot& slot = swap_slot(entry, "swap_free");
  if (slot.count == 0)
    raise_failure("mem.bad_swap", "swap_free",
                  fmt::format("swap_free of entry {} whose count is already 0 (only the swap cache holds it)", entry));
  if (--slot.count == 0 && !slot.in_use()) swap_slot_release(entry);
}

uint64_t Memory::swap_references() const {
  uint64_t total = 0;
  for (const SwapSlot& slot : swap_slots_) total += slot.count;
  return total;
}

uint32_t Memory::swap_count(SwapEntry entry) const {
  if (entry == 0 || entry > swap_slots_.size()) return 0;
  return swap_slots_[entry - 1].count;
}

}  // namespace mmt::mem
