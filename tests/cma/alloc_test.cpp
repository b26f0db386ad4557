// cma_alloc / cma_release / alloc_contig_range on one thread: empty-area allocation,
// alignment and order_per_bit arithmetic, migration of mapped pages out of the range
// (mappings and fork-shared pages preserved), -EBUSY with the slide to the next
// candidate, -ENOMEM, release rules and statistics.
#include <cerrno>

#include "cma_test_util.h"

namespace mmt::cma::testing {
namespace {

constexpr gfp_t kGfp = gfp::kKernel;

void expect_fresh(const mem::Page* page, uint64_t count) {
  for (uint64_t i = 0; i < count; ++i) {
    EXPECT_EQ(page[i].refcount, 1) << "pfn " << page[i].pfn;
    EXPECT_EQ(page[i].mapcount, 0);
    EXPECT_TRUE(page[i].test(mem::PG_allocated));
  }
}

TEST(CmaAlloc, EmptyAreaFirstFitAndRelease) {
  World world;
  int error = 1;
  mem::Page* page = world.cma.cma_alloc(*world.area, 100, 0, kGfp, &error);
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(error, 0);
  EXPECT_EQ(page->pfn, kCmaBase);
  expect_fresh(page, 100);
  EXPECT_EQ(world.area->available_count, kCmaPages - 100);
  EXPECT_EQ(world.area->bitmap.weight(), 100u);
  world.expect_consistent();
  mem::Page* second = world.cma.cma_alloc(*world.area, 10, 0, kGfp);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->pfn, kCmaBase + 100);
  world.cma.cma_release(*world.area, page, 100);
  world.cma.cma_release(*world.area, second, 10);
  EXPECT_EQ(world.area->available_count, kCmaPages);
  EXPECT_EQ(world.memory.nr_free_pages(mem::MigrateType::Cma), kCmaPages);
  EXPECT_EQ(world.area->stats.alloc_pages_success, 110u);
  EXPECT_EQ(world.area->stats.release_pages_success, 110u);
  EXPECT_EQ(world.area->stats.latency_ms.size(), 2u);
  world.expect_consistent();
}

TEST(CmaAlloc, AlignmentAndOrderPerBit) {
  World world(1, {}, /*order_per_bit=*/2);  // one bit = 4 pages
  mem::Page* a = world.cma.cma_alloc(*world.area, 5, 0, kGfp);  // 2 bits: pfns [512, 520)
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->pfn, 512u);
  EXPECT_EQ(world.area->bitmap.weight(), 2u);
  EXPECT_EQ(world.area->available_count, kCmaPages - 8);
  // align order 6 = 64 pages = 16 bits; the base (512) is 64-aligned: offset 0.
  mem::Page* b = world.cma.cma_alloc(*world.area, 3, 6, kGfp);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->pfn, 576u);
  // align order 10 = 1024 pages: base 512 gives offset 512 pages = 128 bits, so the
  // candidates are pfns 1024 (bit 128) and 2048 (outside).
  mem::Page* c = world.cma.cma_alloc(*world.area, 4, 10, kGfp);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->pfn, 1024u);
  EXPECT_EQ(world.cma.cma_alloc(*world.area, 4, 10, kGfp), nullptr) << "no second 1024-aligned pfn in the area";
  world.expect_consistent();
  world.cma.cma_release(*world.area, a, 5);
  world.cma.cma_release(*world.area, b, 3);
  world.cma.cma_release(*world.area, c, 4);
  EXPECT_EQ(world.area->available_count, kCmaPages);
  world.expect_consistent();
}

TEST(CmaAlloc, MigratesMappedPagesOutAndKeepsMappings) {
  World world;
  vma::Mm& mm = world.process(64);
  for (unsigned long i = 0; i < 64; ++i) ASSERT_TRUE(world.area->contains(world.page_at(mm, i)->pfn));
  int error = 0;
  mem::Page* page = world.cma.cma_alloc(*world.area, 256, 0, kGfp, &error);
  ASSERT_NE(page, nullptr) << error;
  EXPECT_EQ(page->pfn, kCmaBase);
  for (unsigned long i = 0; i < 64; ++i) {
    mem::Page* mapped = world.page_at(mm, i);
    ASSERT_NE(mapped, nullptr);
    EXPECT_TRUE(mapped->pfn < kCmaBase || mapped->pfn >= kCmaBase + 256) << "page " << i << " still in the range";
    EXPECT_EQ(mapped->mapcount, 1);
    EXPECT_EQ(mapped->refcount, 1);
    EXPECT_TRUE(mapped->test(mem::PG_lru));
  }
  EXPECT_EQ(world.cma.stats().pages_migrated, 64u);
  world.expect_consistent();
  world.cma.cma_release(*world.area, page, 256);
  world.expect_consistent();
}

TEST(CmaAlloc, MigratesForkSharedPages) {
  World world;
  vma::Mm& parent = world.process(16);
  int error = 0;
  std::unique_ptr<vma::Mm> child = vma::dup_mm(parent, &error);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(world.page_at(parent, 3)->mapcount, 2);
  mem::Page* page = world.cma.cma_alloc(*world.area, 64, 0, kGfp, &error);
  ASSERT_NE(page, nullptr) << error;
  for (unsigned long i = 0; i < 16; ++i) {
    mem::Page* moved = world.page_at(parent, i);
    EXPECT_EQ(moved, world.page_at(*child, i)) << "still one shared page";
    EXPECT_EQ(moved->mapcount, 2);
    EXPECT_EQ(moved->refcount, 2);
    EXPECT_TRUE(moved->pfn < kCmaBase || moved->pfn >= kCmaBase + 64) << "page " << i << " still in the range";
  }
  EXPECT_FALSE(vma::validate_mm(*child).has_value());
  world.expect_consistent();
  vma::exit_mmap(*child);
  world.cma.cma_release(*world.area, page, 64);
  world.expect_consistent();
}

TEST(CmaAlloc, PinnedPageMakesCandidateBusyAndAllocationSlides) {
  World world;
  vma::Mm& mm = world.process(8);
  mem::Page* pinned = world.page_at(mm, 2);  // pfn 514
  ASSERT_EQ(pinned->pfn, kCmaBase + 2);
  world.memory.pin_user_page(pinned);
  // Whole area: the only candidate holds the pin -> -EBUSY, bits cleared, nothing isolated.
  int error = 0;
  EXPECT_EQ(world.cma.cma_alloc(*world.area, kCmaPages, 0, kGfp, &error), nullptr);
  EXPECT_EQ(error, -EBUSY);
  EXPECT_EQ(world.area->bitmap.weight(), 0u);
  world.expect_consistent();
  // align order 8: candidates at 512, 768, ...; the first holds the pin.
  mem::Page* page = world.cma.cma_alloc(*world.area, 256, 8, kGfp, &error);
  ASSERT_NE(page, nullptr) << error;
  EXPECT_EQ(page->pfn, kCmaBase + 256);
  EXPECT_EQ(world.area->stats.busy, 2u);
  EXPECT_EQ(world.page_at(mm, 2), pinned) << "a pinned page is never migrated";
  EXPECT_GE(world.cma.stats().pages_skipped, 1u) << "isolation skipped it: refcount > mapcount";
  world.expect_consistent();
  world.memory.unpin_user_page(pinned);
  world.cma.cma_release(*world.area, page, 256);
  world.expect_consistent();
}

TEST(CmaAlloc, AlignedCandidateFailsAndReportsBusyPfn) {
  World world;
  vma::Mm& mm = world.process(4);
  world.memory.pin_user_page(world.page_at(mm, 1));
  uint64_t busy = 0;
  EXPECT_EQ(world.cma.alloc_contig_range(kCmaBase, kCmaBase + 8, kGfp, &busy), -EBUSY);
  EXPECT_EQ(busy, kCmaBase + 1);
  for (uint64_t pfn = kCmaBase; pfn < kCmaBase + kCmaPages; pfn += mem::kPageblockPages)
    EXPECT_EQ(world.memory.pageblock_migratetype(pfn), mem::MigrateType::Cma) << "isolation undone";
  world.memory.unpin_user_page(world.page_at(mm, 1));
  world.expect_consistent();
}

TEST(CmaAlloc, FullAreaIsEnomem) {
  World world;
  mem::Page* all = world.cma.cma_alloc(*world.area, kCmaPages, 0, kGfp);
  ASSERT_NE(all, nullptr);
  int error = 0;
  EXPECT_EQ(world.cma.cma_alloc(*world.area, 1, 0, kGfp, &error), nullptr);
  EXPECT_EQ(error, -ENOMEM);
  EXPECT_EQ(world.cma.cma_alloc(*world.area, kCmaPages + 1, 0, kGfp, &error), nullptr) << "larger than the area";
  EXPECT_EQ(world.area->stats.alloc_pages_fail, 1u + kCmaPages + 1);
  world.cma.cma_release(*world.area, all, kCmaPages);
  world.expect_consistent();
}

TEST(CmaAlloc, BadReleaseIsAFailureNotACrash) {
  World world;
  mem::Page* page = world.cma.cma_alloc(*world.area, 8, 0, kGfp);
  ASSERT_NE(page, nullptr);
  auto release_check = [&](const mem::Page* pages, uint64_t count) -> std::string {
    try {
      world.cma.cma_release(*world.area, pages, count);
    } catch (const FailureError& e) {
      return e.failure().check + ": " + e.failure().message;
    }
    return "released";
  };
  EXPECT_NE(release_check(page, 4).find("cma.bad_release"), std::string::npos) << "wrong count";
  EXPECT_NE(release_check(page + 1, 7).find("cma.bad_release"), std::string::npos) << "not the start";
  EXPECT_NE(release_check(world.memory.pfn_to_page(0), 1).find("not inside the area"), std::string::npos);
  mem::Page stray;
  EXPECT_NE(release_check(&stray, 1).find("not a page frame"), std::string::npos);
  EXPECT_EQ(release_check(page, 8), "released");
  EXPECT_NE(release_check(page, 8).find("double release"), std::string::npos);
  world.expect_consistent();
}

}  // namespace
}  // namespace mmt::cma::testing
