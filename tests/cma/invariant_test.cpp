// Each CMA invariant with a positive case (a correct world that exercised it passes)
// and a negative case (the state broken on purpose is reported under its check name,
// naming the pfn or bit). Also the fail-nth walk over the migration-target allocation:
// whichever allocation fails, cma_alloc leaves everything consistent.
#include <cerrno>

#include "cma_test_util.h"

namespace mmt::cma::testing {
namespace {

void expect_violation(World& world, const std::string& check, const std::string& detail) {
  auto failure = world.cma.check_consistency();
  ASSERT_TRUE(failure.has_value()) << "expected " << check;
  EXPECT_EQ(failure->check, check) << failure->message;
  EXPECT_NE(failure->message.find(detail), std::string::npos) << failure->message;
}

TEST(CmaInvariant, BitmapLeakedBit) {
  World world;
  mem::Page* page = world.cma.cma_alloc(*world.area, 4, 0, gfp::kKernel);
  ASSERT_NE(page, nullptr);
  world.expect_consistent();  // positive: bits owned by one allocation
  world.area->bitmap.set(10, 1);
  world.area->available_count -= 1;
  expect_violation(world, "cma.bitmap", "bit 10 (pfn 522) is set but no allocation");
  world.context.abandon();  // broken on purpose: never torn down, so not leak-checked
}

TEST(CmaInvariant, BitmapClearedTooEarly) {
  World world;
  mem::Page* page = world.cma.cma_alloc(*world.area, 4, 0, gfp::kKernel);
  ASSERT_NE(page, nullptr);
  world.area->bitmap.clear(2, 1);
  world.area->available_count += 1;
  expect_violation(world, "cma.bitmap", "bit 2 (pfn 514) is clear but owned");
  world.context.abandon();  // broken on purpose: never torn down, so not leak-checked
}

TEST(CmaInvariant, BitmapTwoOwners) {
  World world;
  mem::Page* page = world.cma.cma_alloc(*world.area, 4, 0, gfp::kKernel);
  ASSERT_NE(page, nullptr);
  world.area->reservations.push_back(CmaArea::Reservation{3, 2, 99});
  world.area->bitmap.set(4, 1);
  world.area->available_count -= 1;
  expect_violation(world, "cma.bitmap", "bit 3 (pfn 515) is claimed twice");
  world.context.abandon();  // broken on purpose: never torn down, so not leak-checked
}

TEST(CmaInvariant, AvailableCount) {
  World world;
  mem::Page* page = world.cma.cma_alloc(*world.area, 7, 0, gfp::kKernel);
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(world.area->available_count, kCmaPages - 7);
  world.expect_consistent();
  world.area->available_count += 1;
  expect_violation(world, "cma.available", "available_count is 1530");
  world.context.abandon();  // broken on purpose: never torn down, so not leak-checked
}

TEST(CmaInvariant, HandedOutPageFreedUnderTheClient) {
  World world;
  mem::Page* page = world.cma.cma_alloc(*world.area, 4, 0, gfp::kKernel);
  ASSERT_NE(page, nullptr);
  world.expect_consistent();
  world.memory.put_page(page + 1);  // the client's reference dropped behind cma's back
  expect_violation(world, "cma.allocated_page", "pfn 513 of the allocation at pfn 512");
  world.context.abandon();  // broken on purpose: never torn down, so not leak-checked
}

TEST(CmaInvariant, HandedOutPageWithAnExtraReference) {
  World world;
  mem::Page* page = world.cma.cma_alloc(*world.area, 4, 0, gfp::kKernel);
  ASSERT_NE(page, nullptr);
  world.memory.get_page(page + 3);
  expect_violation(world, "cma.allocated_page", "refcount 2");
  world.memory.put_page(page + 3);
  world.expect_consistent();
  world.cma.cma_release(*world.area, page, 4);
}

TEST(CmaInvariant, IsolatedPageblockLeft) {
  World world;
  vma::Mm& mm = world.process(8);
  world.memory.pin_user_page(world.page_at(mm, 0));
  EXPECT_EQ(world.cma.cma_alloc(*world.area, kCmaPages, 0, gfp::kKernel), nullptr);  // an -EBUSY path
  world.expect_consistent();  // positive: the failed path undid its isolation
  world.memory.set_pageblock_migratetype(1024, mem::MigrateType::Isolate);
  expect_violation(world, "cma.isolate_leak", "pageblock 2 (pfns [1024, 1536)) is MIGRATE_ISOLATE");
  world.memory.set_pageblock_migratetype(1024, mem::MigrateType::Cma);
  world.memory.unpin_user_page(world.page_at(mm, 0));
}

TEST(CmaInvariant, LongtermPinOnCmaWithMigrateFirst) {
  World world(1, CmaOptions{.longterm_pin = LongtermPinMode::MigrateFirst});
  vma::Mm& mm = world.process(4);
  std::vector<mem::Page*> pages;
  ASSERT_EQ(pin_user_pages(world.cma, mm, kAddr, 2, FOLL_WRITE | FOLL_LONGTERM, pages), 2);
  for (mem::Page* page : pages) EXPECT_FALSE(world.cma.is_cma_pfn(page->pfn)) << page->pfn;
  world.expect_consistent();  // positive: migrated out first
  mem::Page* in_cma = world.page_at(mm, 3);
  ASSERT_TRUE(world.cma.is_cma_pfn(in_cma->pfn));
  world.memory.pin_user_page(in_cma);  // a pin that skipped the migration
  world.cma.note_longterm_pin(in_cma, LongtermPinMode::MigrateFirst);
  expect_violation(world, "cma.longterm_pin", "pfn " + std::to_string(in_cma->pfn));
  world.cma.forget_longterm_pin(in_cma);
  world.memory.unpin_user_page(in_cma);
  unpin_user_pages(world.cma, pages, FOLL_WRITE | FOLL_LONGTERM);
  world.expect_consistent();
}

TEST(CmaInvariant, LruCacheDisableLeft) {
  World world;
  vma::Mm& mm = world.process(4);
  world.cma.lru_cache().mark_page_accessed(world.page_at(mm, 1));
  EXPECT_EQ(world.page_at(mm, 1)->refcount, 2) << "the batch holds a reference";
  mem::Page* page = world.cma.cma_alloc(*world.area, 8, 0, gfp::kKernel);  // drains, disables, enables
  ASSERT_NE(page, nullptr) << "the batch reference was drained before migration";
  EXPECT_EQ(world.cma.lru_cache().disable_count(), 0u);
  world.expect_consistent();
  world.cma.lru_cache().lru_cache_disable();  // a path that forgot lru_cache_enable
  expect_violation(world, "cma.lru_cache_disabled", "disabled 1 time(s) but 0 alloc_contig_range");
  world.cma.lru_cache().lru_cache_enable();
  world.expect_consistent();
  EXPECT_THROW(world.cma.lru_cache().lru_cache_enable(), FailureError) << "unbalanced enable";
  world.cma.cma_release(*world.area, page, 8);
}

TEST(CmaInvariant, ReturnedRangeAndReleaseRules) {
  World world;
  mem::Page* page = world.cma.cma_alloc(*world.area, 16, 4, gfp::kKernel);
  ASSERT_NE(page, nullptr);
  for (uint64_t i = 0; i < 16; ++i) {
    EXPECT_EQ(page[i].pfn, page->pfn + i) << "contiguous";
    EXPECT_EQ(page[i].refcount, 1);
  }
  world.memory.get_page(page + 5);
  try {
    world.cma.cma_release(*world.area, page, 16);
    ADD_FAILURE() << "released a page someone still references";
  } catch (const FailureError& e) {
    EXPECT_EQ(e.failure().check, "cma.bad_release");
    EXPECT_NE(e.failure().message.find("pfn 517"), std::string::npos) << e.failure().message;
  }
  world.memory.put_page(page + 5);
  world.cma.cma_release(*world.area, page, 16);
  world.expect_consistent();
}

// fail-nth over every allocation cma_alloc makes while migrating 32 mapped pages
// (their targets, and anything reclaim does): the call either succeeds or fails with
// -ENOMEM, and either way the area, the frames and the address space stay consistent,
// no bit or isolation is left behind, and every mapping still points at a live page.
TEST(CmaInvariant, FailNthOnMigrationTargetLeavesEverythingConsistent) {
  unsigned failures = 0;
  for (uint64_t nth = 1; nth < 100; ++nth) {
    World world(nth);
    vma::Mm& mm = world.process(32);
    const uint64_t injected_before = world.plan.stats().injected;
    world.plan.set_fail_nth(nth);
    int error = 0;
    mem::Page* page = world.cma.cma_alloc(*world.area, 64, 0, gfp::kKernel, &error);
    world.plan.set_fail_nth(0);
    const bool injected = world.plan.stats().injected > injected_before;
    world.expect_consistent();
    if (::testing::Test::HasFailure()) return void(ADD_FAILURE() << "with allocation #" << nth << " failing");
    if (page) {
      EXPECT_EQ(error, 0);
      world.cma.cma_release(*world.area, page, 64);
    } else {
      EXPECT_EQ(error, -ENOMEM) << "allocation #" << nth;
      EXPECT_EQ(world.area->bitmap.weight(), 0u);
      ++failures;
    }
    for (unsigned long i = 0; i < 32; ++i) {
      mem::Page* mapped = world.page_at(mm, i);
      ASSERT_NE(mapped, nullptr);
      EXPECT_EQ(mapped->mapcount, 1);
      EXPECT_TRUE(mapped->test(mem::PG_lru));
    }
    world.expect_consistent();
    if (!injected) {
      EXPECT_EQ(nth, 33u) << "one target allocation per migrated page, then no more";
      EXPECT_EQ(failures, 32u);
      return;
    }
  }
  ADD_FAILURE() << "still allocating after 100 steps";
}

}  // namespace
}  // namespace mmt::cma::testing
