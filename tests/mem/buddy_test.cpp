// The buddy allocator against a model: random alloc/free sequences with the full
// consistency check after every operation; alignment, determinism, pageblock types,
// fallback, alloc_pages_exact, misuse, and configuration errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <vector>

#include "mem_test_util.h"
#include "mmtorture/core/rng.h"

namespace mmt::mem {
namespace {

using testing::small_config;

// The set of free pfns as Memory's frames describe it (PG_buddy heads and their blocks).
std::vector<bool> free_frames(const Memory& memory) {
  std::vector<bool> free(memory.nr_pages(), false);
  for (uint64_t pfn = 0; pfn < memory.nr_pages(); ++pfn) {
    const Page* page = memory.pfn_to_page(pfn);
    if (!page->test(PG_buddy)) continue;
    for (uint64_t i = 0; i < (uint64_t{1} << page->order); ++i) free[pfn + i] = true;
  }
  return free;
}

TEST(Buddy, FreshMemoryIsFreeInMaxOrderBlocks) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  EXPECT_EQ(memory.nr_pages(), 2048u);
  EXPECT_EQ(memory.nr_free_pages(), 2048u);
  EXPECT_EQ(memory.nr_free_blocks(kMaxOrder, MigrateType::Movable), 2u);
  EXPECT_EQ(memory.pageblock_migratetype(0), MigrateType::Movable);
  EXPECT_CONSISTENT(memory);
}

// memblock: reserved frames never reach the buddy lists, so nothing hands them out, and
// the allocator starts from the first frame above them.
TEST(Buddy, ReservedFramesAreNeverAllocated) {
  SeededChoices choices(1);
  MemConfig config = small_config();
  config.reserved_pages = 1000;
  Memory memory(config, choices);
  EXPECT_EQ(memory.nr_free_pages(), 1048u);
  EXPECT_CONSISTENT(memory);
  std::vector<Page*> taken;
  while (Page* page = memory.alloc_pages(gfp::kAtomic, 0, Site{"t"})) {
    EXPECT_GE(page->pfn, 1000u) << "a reserved frame was handed out";
    taken.push_back(page);
  }
  EXPECT_EQ(taken.size() + memory.nr_free_pages(), 1048u);
  EXPECT_GT(taken.size(), 1000u);
  EXPECT_TRUE(memory.pfn_to_page(0)->test(PG_reserved));
  EXPECT_TRUE(memory.pfn_to_page(999)->test(PG_reserved));
  EXPECT_FALSE(memory.pfn_to_page(1000)->test(PG_reserved));
  EXPECT_CONSISTENT(memory);
  for (Page* page : taken) memory.free_pages(page, 0);
  EXPECT_EQ(memory.nr_free_pages(), 1048u);
  EXPECT_CONSISTENT(memory);
  // A reserved frame touched, or a free frame marked reserved, is named.
  memory.pfn_to_page(5)->refcount = 1;
  EXPECT_EQ(memory.check_consistency()->check, "mem.reserved");
  memory.pfn_to_page(5)->refcount = 0;
  memory.pfn_to_page(1500)->set(PG_reserved);
  EXPECT_EQ(memory.check_consistency()->check, "mem.reserved");
  memory.pfn_to_page(1500)->clear(PG_reserved);
  EXPECT_CONSISTENT(memory);
}

TEST(Buddy, RandomAllocFreeMatchesTheModel) {
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    SeededChoices choices(seed);
    Rng rng(seed * 7919);
    Memory memory(small_config(), choices);
    std::vector<bool> model(memory.nr_pages(), true);  // true = free
    std::map<uint64_t, unsigned> live;                  // pfn -> order (lookup and pick by rank)
    for (int step = 0; step < 600; ++step) {
      const bool do_alloc = live.empty() || rng.below(100) < 55;
      if (do_alloc) {
        const unsigned order = static_cast<unsigned>(rng.below(100) < 70 ? rng.below(3) : rng.below(kMaxOrder + 1));
        const gfp_t gfp = rng.below(2) ? gfp::kAtomic : (gfp::kAtomic | gfp::kMovable);
        Page* page = memory.alloc_pages(gfp, order, Site{"model_alloc"});
        if (page) {
          ASSERT_EQ(page->pfn % (uint64_t{1} << order), 0u) << "misaligned block";
          for (uint64_t i = 0; i < (uint64_t{1} << order); ++i) {
            ASSERT_TRUE(model[page->pfn + i]) << "handed out a frame that is in use: pfn " << page->pfn + i;
            model[page->pfn + i] = false;
          }
          EXPECT_EQ(page->refcount, 1);
          live.emplace(page->pfn, order);
        }
      } else {
        auto it = live.begin();
        std::advance(it, static_cast<long>(rng.below(live.size())));
        memory.free_pages(memory.pfn_to_page(it->first), it->second);
        for (uint64_t i = 0; i < (uint64_t{1} << it->second); ++i) model[it->first + i] = true;
        live.erase(it);
      }
      auto failure = memory.check_consistency();
      ASSERT_FALSE(failure) << "seed " << seed << " step " << step << ": " << failure->message;
      ASSERT_EQ(free_frames(memory), model) << "seed " << seed << " step " << step;
    }
    for (const auto& [pfn, order] : live) memory.free_pages(memory.pfn_to_page(pfn), order);
    EXPECT_CONSISTENT(memory);
    // Everything coalesces back into whole blocks (pageblock types may have changed,
    // which keeps order-10 blocks of different types apart).
    EXPECT_EQ(memory.nr_free_pages(), memory.nr_pages());
    uint64_t big = 0;
    for (unsigned type = 0; type < kMigrateTypes; ++type)
      big += memory.nr_free_blocks(kMaxOrder, MigrateType(type)) * 1024 +
             memory.nr_free_blocks(kPageblockOrder, MigrateType(type)) * 512;
    EXPECT_EQ(big, memory.nr_pages());
  }
}

TEST(Buddy, SameSequenceSameFrames) {
  auto run = [] {
    SeededChoices choices(3);
    Memory memory(small_config(), choices);
    std::vector<uint64_t> pfns;
    std::vector<Page*> held;
    for (unsigned i = 0; i < 40; ++i) {
      Page* page = memory.alloc_pages(gfp::kKernel, i % 4, Site{"det"});
      pfns.push_back(page->pfn);
      if (i % 3 == 0) memory.free_pages(page, i % 4);
    }
    return pfns;
  };
  EXPECT_EQ(run(), run());
  SeededChoices choices(3);
  Memory memory(small_config(), choices);
  EXPECT_EQ(memory.alloc_pages(gfp::kKernel, 0, Site{"first"})->pfn, 0u) << "a fresh world starts at pfn 0";
}

TEST(Buddy, SplitsTheSmallestBlockAndMergesBack) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  Page* page = memory.alloc_pages(gfp::kKernel, 0, Site{"split"});
  // One order-10 block split down to order 0 leaves one free block at each order 0..9.
  for (unsigned order = 0; order < kMaxOrder; ++order)
    EXPECT_EQ(memory.nr_free_blocks(order, MigrateType::Unmovable) +
                  memory.nr_free_blocks(order, MigrateType::Movable),
              1u)
        << "order " << order;
  memory.free_pages(page, 0);
  EXPECT_CONSISTENT(memory);
  EXPECT_EQ(memory.nr_free_pages(), 2048u);
  EXPECT_EQ(memory.nr_free_blocks(0, memory.pageblock_migratetype(0)), 0u);
}

TEST(Buddy, OrderAboveMaxFailsWithoutAFailure) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  EXPECT_EQ(memory.alloc_pages(gfp::kKernel, kMaxOrder + 1, Site{"too_big"}), nullptr);
  EXPECT_EQ(memory.stats().alloc_failures, 1u);
  Page* biggest = memory.alloc_pages(gfp::kKernel | gfp::kMovable, kMaxOrder, Site{"max"});
  ASSERT_NE(biggest, nullptr);
  EXPECT_EQ(biggest->pfn % 1024, 0u);
  memory.free_pages(biggest, kMaxOrder);
  EXPECT_CONSISTENT(memory);
}

TEST(Pageblocks, UnmovableAllocationsClaimAMovablePageblock) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  Page* page = memory.alloc_pages(gfp::kKernel, 0, Site{"unmovable"});
  EXPECT_EQ(memory.pageblock_migratetype(page->pfn), MigrateType::Unmovable);
  Page* movable = memory.alloc_pages(gfp::kKernel | gfp::kMovable, 0, Site{"movable"});
  EXPECT_EQ(memory.pageblock_migratetype(movable->pfn), MigrateType::Movable);
  EXPECT_CONSISTENT(memory);
}

TEST(Pageblocks, CmaIsLentOnlyToMovableAndIsolateToNobody) {
  SeededChoices choices(1);
  MemConfig config = small_config();
  config.pages = 1024;
  config.min_pages = 8;
  config.low_pages = 8;
  config.high_pages = 8;
  Memory memory(config, choices);
  memory.set_pageblock_migratetype(0, MigrateType::Cma);
  memory.set_pageblock_migratetype(512, MigrateType::Isolate);
  EXPECT_CONSISTENT(memory);
  EXPECT_EQ(memory.nr_free_pages(MigrateType::Cma), 512u);
  EXPECT_EQ(memory.nr_free_pages(MigrateType::Isolate), 512u);
  // Unmovable requests may use neither: nothing usable at all.
  EXPECT_EQ(memory.alloc_pages(gfp::kAtomic, 0, Site{"unmovable"}), nullptr);
  // Movable ones borrow CMA pages.
  Page* movable = memory.alloc_pages(gfp::kNowait | gfp::kMovable, 0, Site{"movable"});
  ASSERT_NE(movable, nullptr);
  EXPECT_LT(movable->pfn, 512u);
  // Un-isolating hands the pageblock back and its pages merge again.
  memory.set_pageblock_migratetype(512, MigrateType::Movable);
  EXPECT_CONSISTENT(memory);
  EXPECT_EQ(memory.nr_free_blocks(kPageblockOrder, MigrateType::Movable), 1u);
  Page* unmovable = memory.alloc_pages(gfp::kAtomic, 0, Site{"unmovable"});
  ASSERT_NE(unmovable, nullptr);
  EXPECT_GE(unmovable->pfn, 512u);
  memory.free_pages(movable, 0);
  memory.free_pages(unmovable, 0);
  memory.set_pageblock_migratetype(0, MigrateType::Movable);
  memory.set_pageblock_migratetype(512, MigrateType::Movable);
  EXPECT_CONSISTENT(memory);
  EXPECT_EQ(memory.nr_free_blocks(kMaxOrder, MigrateType::Movable), 1u) << "both halves merge into one block";
}

TEST(AllocExact, AllocatesTheRoundedOrderAndFreesTheTail) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  const uint64_t before = memory.nr_free_pages();
  Page* page = memory.alloc_pages_exact(5 * kPageSize - 100, gfp::kKernel, Site{"exact"});
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(page->pfn % 8, 0u) << "an order-3 block underneath";
  EXPECT_EQ(memory.nr_free_pages(), before - 5);
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(page[i].test(PG_allocated)) << i;
    EXPECT_EQ(page[i].refcount, 1);
    EXPECT_EQ(page[i].order, 0);
  }
  for (int i = 5; i < 8; ++i) EXPECT_TRUE(!page[i].test(PG_allocated)) << i;
  EXPECT_CONSISTENT(memory);
  // The freed tail sits at the head of the free lists: the next small request gets it
  // (seed 001's fragmentation).
  Page* next = memory.alloc_pages(gfp::kKernel, 0, Site{"next"});
  EXPECT_GE(next->pfn, page->pfn + 5);
  EXPECT_LT(next->pfn, page->pfn + 8);
  memory.free_pages(next, 0);
  memory.free_pages_exact(page, 5 * kPageSize - 100);
  EXPECT_EQ(memory.nr_free_pages(), before);
  EXPECT_CONSISTENT(memory);
  EXPECT_EQ(memory.alloc_pages_exact(0, gfp::kKernel, Site{"zero"}), nullptr);
  EXPECT_EQ(memory.alloc_pages_exact((kPageSize << kMaxOrder) + 1, gfp::kKernel, Site{"huge"}), nullptr);
}

TEST(AllocExact, TailToTailKeepsTheTailOutOfTheNextRequest) {
  SeededChoices choices(1);
  MemConfig config = small_config();
  config.exact_free_to_tail = true;
  Memory memory(config, choices);
  Page* keep = memory.alloc_pages(gfp::kKernel, 0, Site{"first"});  // leaves free blocks of every order
  Page* page = memory.alloc_pages_exact(5 * kPageSize, gfp::kKernel, Site{"exact"});
  Page* next = memory.alloc_pages(gfp::kKernel, 0, Site{"next"});
  EXPECT_TRUE(next->pfn < page->pfn || next->pfn >= page->pfn + 8) << "got pfn " << next->pfn;
  memory.free_pages(next, 0);
  memory.free_pages(keep, 0);
  memory.free_pages_exact(page, 5 * kPageSize);
  EXPECT_CONSISTENT(memory);
}

TEST(Misuse, BadFreesAndReferencesAreFailures) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  Page* block = memory.alloc_pages(gfp::kKernel, 2, Site{"block"});
  auto check_of = [](auto&& fn) {
    try {
      fn();
    } catch (const FailureError& error) {
      return error.failure().check;
    }
    return std::string("none");
  };
  EXPECT_EQ(check_of([&] { memory.free_pages(block, 1); }), "mem.bad_free");
  EXPECT_EQ(check_of([&] { memory.free_pages(block + 1, 0); }), "mem.bad_ref");
  EXPECT_EQ(check_of([&] { memory.page_remove_rmap(block); }), "mem.bad_mapcount");
  memory.page_add_anon_rmap(block, nullptr, 0);
  EXPECT_EQ(check_of([&] { memory.free_pages(block, 2); }), "mem.bad_page_state");
  block->mapcount = 0;  // undo by hand what the bad free left behind
  block->refcount = 1;
  EXPECT_CONSISTENT(memory);
  memory.free_pages(block, 2);
  EXPECT_EQ(check_of([&] { memory.free_pages(block, 2); }), "mem.bad_ref") << "double free";
  EXPECT_EQ(check_of([&] { memory.get_page(block); }), "mem.bad_ref");
  EXPECT_EQ(check_of([&] { memory.unpin_user_page(memory.alloc_pages(gfp::kKernel, 0, Site{"x"})); }),
            "mem.bad_ref");
  EXPECT_EQ(memory.pfn_to_page(memory.nr_pages()), nullptr);
}

TEST(Consistency, CorruptionsAreNamed) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  Page* page = memory.alloc_pages(gfp::kKernel, 0, Site{"c"});
  page->mapcount = 2;  // two ptes, one reference
  auto failure = memory.check_consistency();
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->check, "mem.refcount");
  EXPECT_NE(failure->message.find("pfn " + std::to_string(page->pfn)), std::string::npos) << failure->message;
  page->mapcount = 0;
  Page* free_page = memory.pfn_to_page(page->pfn + 1);
  free_page->refcount = 1;  // a reference to a free frame
  failure = memory.check_consistency();
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->check, "mem.free_page_used");
  free_page->refcount = 0;
  page->set(PG_buddy);
  EXPECT_EQ(memory.check_consistency()->check, "mem.stray_buddy");
  page->clear(PG_buddy);
  EXPECT_CONSISTENT(memory);
}

TEST(Consistency, CheckPageCatchesWhatTheFullCheckCatchesPerFrame) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  Page* page = memory.alloc_pages(gfp::kKernel, 0, Site{"c"});
  for (uint64_t pfn = 0; pfn < memory.nr_pages(); ++pfn) ASSERT_FALSE(memory.check_page(pfn)) << pfn;
  page->mapcount = 2;  // two ptes, one reference
  ASSERT_TRUE(memory.check_page(page->pfn));
  EXPECT_EQ(memory.check_page(page->pfn)->check, "mem.refcount");
  EXPECT_EQ(memory.check_consistency()->check, "mem.refcount");
  page->mapcount = 0;
  Page* inside = memory.pfn_to_page(700);  // the middle of a free order-8 block
  inside->mapcount = 1;
  ASSERT_TRUE(memory.check_page(700));
  EXPECT_EQ(memory.check_page(700)->check, "mem.free_page_used");
  EXPECT_EQ(memory.check_consistency()->check, "mem.free_page_used");
  inside->mapcount = 0;
  EXPECT_FALSE(memory.check_page(700));
  EXPECT_EQ(memory.check_page(memory.nr_pages())->check, "mem.bad_pfn");
}

TEST(Config, BadValuesAreRejectedNamingTheField) {
  SeededChoices choices(1);
  auto field_of = [&](MemConfig config) {
    try {
      Memory memory(config, choices);
    } catch (const ConfigError& error) {
      EXPECT_NE(std::string(error.what()).find(error.key), std::string::npos);
      return error.key;
    }
    return std::string("accepted");
  };
  MemConfig config;
  config.pages = 0;
  EXPECT_EQ(field_of(config), "pages");
  config.pages = 1000;
  EXPECT_EQ(field_of(config), "pages");
  config.pages = MemConfig::kMaxPages * 2;
  EXPECT_EQ(field_of(config), "pages");
  config = MemConfig{};
  config.min_pages = 100;
  config.low_pages = 50;
  EXPECT_EQ(field_of(config), "low_pages");
  config = MemConfig{};
  config.low_pages = 300;
  config.high_pages = 200;
  EXPECT_EQ(field_of(config), "high_pages");
  config = small_config();
  config.min_pages = 2000;
  config.low_pages = 2048;
  config.high_pages = 4096;
  EXPECT_EQ(field_of(config), "high_pages") << "memory smaller than the watermarks";
  config = small_config();
  config.reserved_pages = 2048 - 32;  // exactly the min watermark left
  EXPECT_EQ(field_of(config), "reserved_pages");
  config.reserved_pages = 4096;
  EXPECT_EQ(field_of(config), "reserved_pages");
  config = small_config();
  config.reclaim_retries = 2'000'000;
  EXPECT_EQ(field_of(config), "reclaim_retries");
  EXPECT_EQ(field_of(small_config()), "accepted");
  const MemConfig derived = resolve_mem_config(MemConfig{});
  EXPECT_EQ(derived.min_pages, 163u);
  EXPECT_EQ(derived.low_pages, 203u);
  EXPECT_EQ(derived.high_pages, 244u);
}

}  // namespace
}  // namespace mmt::mem
