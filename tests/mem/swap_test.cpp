// The swap device: slots are handed out and reused deterministically, counted per swap
// pte and freed when the last reference goes; reclaim can free an anonymous page only
// into a free slot, so a full (or absent) device makes anonymous memory unreclaimable.
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "mem_test_util.h"

namespace mmt::mem {
namespace {

using testing::fill_to;
using testing::small_config;

// An rmap whose ptes become swap ptes, as the vma layer's: each page is mapped once,
// and try_to_unmap leaves its swap entry behind.
class SwapRmap final : public RmapOps {
 public:
  explicit SwapRmap(Memory& memory) : memory_(memory) {}

  Page* map_new() {
    Page* page = memory_.alloc_pages(gfp::kKernel | gfp::kMovable, 0, Site{"test_fault"});
    if (!page) return nullptr;
    memory_.page_add_anon_rmap(page, this, page->pfn);
    memory_.lru_add(page);
    return page;
  }

  bool try_to_unmap(Page* page) override {
    EXPECT_TRUE(page->test(PG_swapcache)) << "reclaim unmaps an anonymous page only with a slot";
    swap_ptes[page->pfn] = page->swap;
    memory_.swap_duplicate(page->swap);
    memory_.page_remove_rmap(page);
    memory_.put_page(page);
    return true;
  }

  std::map<uint64_t, SwapEntry> swap_ptes;  // pfn it was -> entry

 private:
  Memory& memory_;
};

TEST(Swap, SlotsAreCountedReusedAndFreedWithTheLastReference) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  Page* page = memory.alloc_pages(gfp::kKernel, 0, Site{"test"});
  ASSERT_TRUE(memory.add_to_swap(page));
  const SwapEntry entry = page->swap;
  EXPECT_EQ(entry, 1u) << "the first slot";
  EXPECT_TRUE(page->test(PG_swapcache));
  memory.swap_duplicate(entry);  // two swap ptes (a fork)
  memory.swap_duplicate(entry);
  memory.delete_from_swap_cache(page);
  EXPECT_FALSE(page->test(PG_swapcache));
  EXPECT_EQ(memory.swap_count(entry), 2u);
  EXPECT_EQ(memory.swap_slots_used(), 1u) << "the swap ptes still hold it";
  memory.swap_free(entry);
  EXPECT_EQ(memory.swap_slots_used(), 1u);
  memory.swap_free(entry);
  EXPECT_EQ(memory.swap_slots_used(), 0u);
  EXPECT_CONSISTENT(memory);
  // The freed slot is handed out again before a new one.
  ASSERT_TRUE(memory.add_to_swap(page));
  EXPECT_EQ(page->swap, entry);
  memory.delete_from_swap_cache(page);
  EXPECT_EQ(memory.swap_slots_used(), 0u) << "cached only: leaving the cache frees it";
  memory.free_pages(page, 0);
  EXPECT_CONSISTENT(memory);
}

TEST(Swap, FreeingASlotNobodyHoldsIsAFailure) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  try {
    memory.swap_free(7);
    FAIL() << "swap_free of a slot never handed out must fail";
  } catch (const FailureError& e) {
    EXPECT_EQ(e.failure().check, "mem.bad_swap");
  }
  Page* page = memory.alloc_pages(gfp::kKernel, 0, Site{"test"});
  ASSERT_TRUE(memory.add_to_swap(page));
  const SwapEntry entry = page->swap;
  try {
    memory.swap_free(entry);  // held by the swap cache only: no swap pte to drop
    FAIL() << "dropping a swap pte reference that does not exist must fail";
  } catch (const FailureError& e) {
    EXPECT_EQ(e.failure().check, "mem.bad_swap");
  }
}

TEST(Swap, ReclaimStopsFreeingAnonymousPagesWhenSwapIsFull) {
  SeededChoices choices(1);
  MemConfig config = small_config();
  config.swap_pages = 8;
  Memory memory(config, choices);
  SwapRmap rmap(memory);
  memory.set_rmap_ops(&rmap);
  std::vector<Page*> anon;
  for (int i = 0; i < 20; ++i) anon.push_back(rmap.map_new());
  EXPECT_EQ(memory.shrink_lru(20, Site{"test_reclaim"}), 8u) << "one page per slot";
  EXPECT_EQ(memory.stats().swap_outs, 8u);
  EXPECT_EQ(memory.stats().swap_full, 12u) << "the other 12 found no slot";
  EXPECT_EQ(memory.swap_slots_used(), 8u);
  EXPECT_EQ(memory.nr_swap_pages(), 0u);
  EXPECT_EQ(rmap.swap_ptes.size(), 8u);
  EXPECT_EQ(memory.lru_size(), 12u) << "unreclaimable pages rotate back";
  EXPECT_CONSISTENT(memory);
  // With memory at min and swap full, a GFP_KERNEL allocation fails after its retries.
  std::vector<Page*> held = fill_to(memory, memory.min_pages());
  EXPECT_EQ(memory.alloc_pages(gfp::kKernel, 0, Site{"kmalloc"}), nullptr);
  // Swapping one page back in frees a slot: reclaim makes progress again.
  memory.swap_free(rmap.swap_ptes.begin()->second);
  rmap.swap_ptes.erase(rmap.swap_ptes.begin());
  EXPECT_NE(memory.alloc_pages(gfp::kKernel, 0, Site{"kmalloc"}), nullptr);
  EXPECT_CONSISTENT(memory);
}

TEST(Swap, NoSwapDeviceMeansNoAnonymousReclaim) {
  SeededChoices choices(1);
  MemConfig config = small_config();
  config.swap_pages = 0;
  Memory memory(config, choices);
  SwapRmap rmap(memory);
  memory.set_rmap_ops(&rmap);
  for (int i = 0; i < 4; ++i) rmap.map_new();
  EXPECT_EQ(memory.shrink_lru(4, Site{"test_reclaim"}), 0u);
  EXPECT_EQ(memory.stats().swap_full, 4u);
  EXPECT_EQ(memory.lru_size(), 4u);
  EXPECT_CONSISTENT(memory);
}

TEST(Swap, ConfigRejectsADeviceLargerThanTheLimit) {
  MemConfig config = small_config();
  config.swap_pages = MemConfig::kMaxSwapPages + 1;
  try {
    resolve_mem_config(config);
    FAIL() << "an oversized swap device must be rejected";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key, "swap_pages");
  }
}

}  // namespace
}  // namespace mmt::mem
