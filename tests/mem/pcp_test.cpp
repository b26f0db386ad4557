// Per-CPU page lists (MemConfig::pcp_batch): order-0 frees wait on a LIFO list and are
// handed out again first; the list trades batches with the buddy lists, drains beyond
// its high mark, and drains whole when an allocation would fail and before a range is
// isolated. Off (pcp_batch = 0) nothing changes.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "mem_test_util.h"

namespace mmt::mem {
namespace {

using testing::small_config;

MemConfig pcp_config(unsigned batch = 4) {
  MemConfig config = small_config();
  config.pcp_batch = batch;
  return config;
}

TEST(Pcp, TheFrameFreedLastIsHandedOutFirst) {
  SeededChoices choices(1);
  Memory memory(pcp_config(), choices);
  const gfp_t movable = gfp::kKernel | gfp::kMovable;  // keeps the pageblocks movable
  Page* a = memory.alloc_pages(movable, 0, Site{"t"});
  // The first order-0 request refilled the list with a batch and took its head.
  EXPECT_EQ(memory.nr_pcp_pages(), 3u);
  EXPECT_EQ(memory.nr_free_pages(), 2048u - 4u);
  Page* b = memory.alloc_pages(movable, 0, Site{"t"});
  EXPECT_EQ(b->pfn, a->pfn + 1) << "the refill keeps the buddy's order";
  memory.free_pages(a, 0);
  EXPECT_TRUE(a->test(PG_pcp));
  EXPECT_EQ(memory.nr_free_pages(), 2048u - 4u) << "a frame on the list is not on the buddy lists";
  EXPECT_CONSISTENT(memory);
  EXPECT_EQ(memory.alloc_pages(movable, 0, Site{"t"}), a);
  memory.free_pages(a, 0);
  memory.free_pages(b, 0);
  EXPECT_CONSISTENT(memory);
  memory.drain_all_pages();
  EXPECT_EQ(memory.nr_pcp_pages(), 0u);
  EXPECT_EQ(memory.nr_free_pages(), 2048u);
  EXPECT_EQ(memory.nr_free_blocks(kMaxOrder, MigrateType::Movable), 2u) << "drained frames merge back";
  EXPECT_CONSISTENT(memory);
}

TEST(Pcp, ABatchGoesBackBeyondTheHighMark) {
  SeededChoices choices(1);
  Memory memory(pcp_config(4), choices);
  std::vector<Page*> pages;
  for (int i = 0; i < 40; ++i) pages.push_back(memory.alloc_pages(gfp::kKernel, 0, Site{"t"}));
  for (Page* page : pages) {
    memory.free_pages(page, 0);
    EXPECT_LE(memory.nr_pcp_pages(), MemConfig::kPcpHighBatches * 4u);
  }
  // 24 is the high mark: the 25th free sent the 4 coldest back, and so on.
  EXPECT_GT(memory.nr_pcp_pages(), 20u);
  EXPECT_EQ(memory.nr_free_pages() + memory.nr_pcp_pages(), 2048u);
  EXPECT_CONSISTENT(memory);
}

TEST(Pcp, AFailingHighOrderRequestDrainsTheListsFirst) {
  SeededChoices choices(1);
  MemConfig config = pcp_config(8);
  config.min_pages = 1;
  config.low_pages = 1;
  config.high_pages = 1;
  Memory memory(config, choices);
  // Take the whole machine in order-0 frames, then give it all back, the two halves
  // in turn: the frames freed last (the ends of both halves) wait on the list, so
  // neither order-10 block is whole on the buddy lists.
  std::vector<Page*> pages;
  while (Page* page = memory.alloc_pages(gfp::kAtomic | gfp::kMovable, 0, Site{"t"})) pages.push_back(page);
  std::vector<Page*> low, high;
  for (Page* page : pages) (page->pfn < 1024 ? low : high).push_back(page);
  for (size_t i = 0; i < std::max(low.size(), high.size()); ++i) {
    if (i < low.size()) memory.free_pages(low[i], 0);
    if (i < high.size()) memory.free_pages(high[i], 0);
  }
  ASSERT_GT(memory.nr_pcp_pages(), 0u);
  EXPECT_CONSISTENT(memory);
  // Non-blocking: no direct reclaim, no drain (the kernel's nopage path).
  EXPECT_EQ(memory.alloc_pages(gfp::kNowait | gfp::kMovable, kMaxOrder, Site{"t"}), nullptr);
  Page* big = memory.alloc_pages(gfp::kKernel | gfp::kMovable, kMaxOrder, Site{"t"});
  ASSERT_NE(big, nullptr) << "the drain lets the list's frames merge into the block";
  EXPECT_EQ(memory.nr_pcp_pages(), 0u);
  EXPECT_EQ(memory.stats().pcp_drains, 1u);
  memory.free_pages(big, kMaxOrder);
  EXPECT_CONSISTENT(memory);
}

TEST(Pcp, ReclaimedFramesAreDrainedForTheRequestThatReclaimedThem) {
  // Reclaim frees to the list too; a high mark above everything reclaim frees keeps
  // them all there, so only the drain after the reclaim round lets them merge into
  // the order-3 block asked for.
  SeededChoices choices(1);
  MemConfig config = pcp_config(1);  // a refill takes one frame and hands it out: the list stays empty
  config.pcp_high = 2048;
  Memory memory(config, choices);
  testing::FakeRmap rmap(memory);
  memory.set_rmap_ops(&rmap);
  std::vector<Page*> anon;
  for (int i = 0; i < 100; ++i) anon.push_back(rmap.map_new(gfp::kKernel | gfp::kMovable));
  std::vector<Page*> held = testing::fill_to(memory, memory.min_pages());
  ASSERT_EQ(memory.nr_pcp_pages(), 0u);
  Page* block = memory.alloc_pages(gfp::kKernel | gfp::kMovable, 3, Site{"t"});
  ASSERT_NE(block, nullptr) << "reclaimed frames stayed on the list";
  EXPECT_GE(memory.stats().direct_reclaims, 1u);
  EXPECT_GE(memory.stats().pcp_drains, 1u);
  EXPECT_CONSISTENT(memory);
}

TEST(Pcp, AnIsolatedRangeNeedsADrainAndIsolatedFramesBypassTheLists) {
  SeededChoices choices(1);
  Memory memory(pcp_config(), choices);
  Page* page = memory.alloc_pages(gfp::kKernel | gfp::kMovable, 0, Site{"t"});
  const uint64_t pfn = page->pfn;
  memory.free_pages(page, 0);
  ASSERT_TRUE(memory.pfn_to_page(pfn)->test(PG_pcp));
  memory.set_pageblock_migratetype(0, MigrateType::Isolate);
  EXPECT_TRUE(memory.pfn_to_page(pfn)->test(PG_pcp)) << "isolating leaves the lists alone, as the kernel's does";
  EXPECT_NE(memory.isolate_freepages_range(0, kPageblockPages), kPageblockPages) << "a parked frame is not free yet";
  memory.drain_all_pages();  // what alloc_contig_range does right after isolating
  EXPECT_EQ(memory.nr_pcp_pages(), 0u) << "drained: no frame of the block is handed out again";
  EXPECT_EQ(memory.isolate_freepages_range(0, kPageblockPages), kPageblockPages);
  for (uint64_t p = 0; p < kPageblockPages; ++p) memory.free_pages(memory.pfn_to_page(p), 0);
  EXPECT_EQ(memory.nr_pcp_pages(), 0u) << "frames of an isolated pageblock go straight to the buddy";
  memory.set_pageblock_migratetype(0, MigrateType::Movable);
  EXPECT_CONSISTENT(memory);
}

TEST(Pcp, StrayAndMiscountedFramesAreNamed) {
  SeededChoices choices(1);
  Memory memory(pcp_config(), choices);
  Page* page = memory.alloc_pages(gfp::kKernel, 0, Site{"t"});
  page->set(PG_pcp);
  EXPECT_EQ(memory.check_consistency()->check, "mem.pcp");
  page->clear(PG_pcp);
  memory.free_pages(page, 0);
  page->refcount = 1;
  EXPECT_EQ(memory.check_consistency()->check, "mem.pcp");
  page->refcount = 0;
  EXPECT_CONSISTENT(memory);
}

TEST(Pcp, OffMeansEveryFreeMergesAtOnce) {
  // The same calls with and without lists: without them nothing ever waits (the
  // count stays 0 and a freed frame merges back at once); with them the frames freed
  // last wait. Either way the frames handed out are a function of the calls alone.
  auto run = [](unsigned batch, uint64_t* waiting) {
    SeededChoices choices(5);
    Memory memory(pcp_config(batch), choices);
    std::vector<uint64_t> out;
    std::vector<Page*> live;
    for (int i = 0; i < 300; ++i) {
      if (i % 3 == 2) {
        memory.free_pages(live.back(), 0);
        live.pop_back();
      } else {
        live.push_back(memory.alloc_pages(gfp::kKernel, 0, Site{"t"}));
        out.push_back(live.back()->pfn);
      }
      if (batch == 0) {
        EXPECT_EQ(memory.nr_pcp_pages(), 0u);
      }
    }
    for (Page* page : live) memory.free_pages(page, 0);
    *waiting = memory.nr_pcp_pages();
    EXPECT_CONSISTENT(memory);
    return out;
  };
  uint64_t off_waiting = 0, on_waiting = 0, again = 0;
  EXPECT_EQ(run(0, &off_waiting), run(0, &again));
  EXPECT_EQ(off_waiting, 0u);
  EXPECT_EQ(run(4, &on_waiting), run(4, &again));
  EXPECT_GT(on_waiting, 0u);
}

}  // namespace
}  // namespace mmt::mem
