// Pins and transient references against alloc_contig_range: GUP pins (short and
// FOLL_LONGTERM in each kernel behaviour), the fork window (refcount raised before
// mapcount), the exit window (mapcount dropped, reference kept until the TLB flush),
// and a page migrated while another thread forks under the scheduler.
#include <cerrno>

#include "cma_test_util.h"

namespace mmt::cma::testing {
namespace {

TEST(CmaPin, ShortPinBlocksUntilUnpinned) {
  World world;
  vma::Mm& mm = world.process(4);
  std::vector<mem::Page*> pages;
  ASSERT_EQ(pin_user_pages(world.cma, mm, kAddr + vma::kPageSize, 2, FOLL_WRITE, pages), 2);
  EXPECT_TRUE(mem::page_maybe_dma_pinned(*pages[0]));
  EXPECT_EQ(pages[0]->refcount, 1 + mem::kGupPinCountingBias);
  uint64_t busy = 0;
  EXPECT_EQ(world.cma.alloc_contig_range(kCmaBase, kCmaBase + 8, gfp::kKernel, &busy), -EBUSY);
  EXPECT_EQ(busy, pages[0]->pfn);
  world.expect_consistent();
  unpin_user_pages(world.cma, pages, FOLL_WRITE);
  EXPECT_TRUE(pages.empty());
  EXPECT_EQ(world.cma.alloc_contig_range(kCmaBase, kCmaBase + 8, gfp::kKernel), 0);
  world.cma.free_contig_range(kCmaBase, 8);
  world.expect_consistent();
}

TEST(CmaPin, PinFaultsInAndRejectsBadAddresses) {
  World world;
  vma::Mm& mm = world.process(1);
  std::vector<mem::Page*> pages;
  EXPECT_EQ(pin_user_pages(world.cma, mm, kAddr + 64 * vma::kPageSize, 1, FOLL_WRITE, pages), -EFAULT);
  EXPECT_TRUE(pages.empty());
  ASSERT_EQ(vma::vm_mmap(mm, kAddr + 16 * vma::kPageSize, 4 * vma::kPageSize, vma::PROT_READ | vma::PROT_WRITE,
                         vma::MAP_PRIVATE | vma::MAP_ANONYMOUS | vma::MAP_FIXED),
            static_cast<long>(kAddr + 16 * vma::kPageSize));
  ASSERT_EQ(pin_user_pages(world.cma, mm, kAddr + 16 * vma::kPageSize, 4, FOLL_WRITE, pages), 4) << "faulted in";
  EXPECT_EQ(mm.rss, 5u);
  unpin_user_pages(world.cma, pages, FOLL_WRITE);
  world.expect_consistent();
}

TEST(CmaPin, LongtermPinInPlaceStaysInCma) {
  World world(1, CmaOptions{.longterm_pin = LongtermPinMode::PinInPlace});
  vma::Mm& mm = world.process(4);
  mem::Page* before = world.page_at(mm, 1);
  std::vector<mem::Page*> pages;
  ASSERT_EQ(pin_user_pages(world.cma, mm, kAddr + vma::kPageSize, 1, FOLL_WRITE | FOLL_LONGTERM, pages), 1);
  EXPECT_EQ(pages[0], before);
  EXPECT_TRUE(world.cma.is_cma_pfn(pages[0]->pfn));
  EXPECT_EQ(world.cma.longterm_pins().at(before->pfn).mode, LongtermPinMode::PinInPlace);
  world.expect_consistent() /* allowed in this mode */;
  EXPECT_EQ(world.cma.cma_alloc(*world.area, kCmaPages, 0, gfp::kKernel), nullptr);
  unpin_user_pages(world.cma, pages, FOLL_WRITE | FOLL_LONGTERM);
  EXPECT_TRUE(world.cma.longterm_pins().empty());
  world.expect_consistent();
}

TEST(CmaPin, LongtermMigrateFirstMovesOutOrFailsWithEnomem) {
  World world(1, CmaOptions{.longterm_pin = LongtermPinMode::MigrateFirst});
  vma::Mm& mm = world.process(4);
  std::vector<mem::Page*> pages;
  ASSERT_EQ(pin_user_pages(world.cma, mm, kAddr, 2, FOLL_WRITE | FOLL_LONGTERM, pages), 2);
  EXPECT_EQ(pages[0], world.page_at(mm, 0)) << "the pte points at the pinned (new) page";
  EXPECT_FALSE(world.cma.is_cma_pfn(pages[0]->pfn));
  EXPECT_FALSE(world.cma.is_cma_pfn(pages[1]->pfn));
  world.expect_consistent();
  // A target that cannot be allocated fails the pin, with nothing left pinned.
  world.plan.set_rule("alloc_migration_target: FOLL_LONGTERM", mem::GfpClass::Any, mem::FaultRule{.probability = 1.0});
  std::vector<mem::Page*> more;
  EXPECT_EQ(pin_user_pages(world.cma, mm, kAddr + 2 * vma::kPageSize, 2, FOLL_WRITE | FOLL_LONGTERM, more), -ENOMEM);
  EXPECT_TRUE(more.empty());
  EXPECT_EQ(world.page_at(mm, 2)->pincount, 0);
  EXPECT_TRUE(world.page_at(mm, 2)->test(mem::PG_lru)) << "put back";
  world.expect_consistent();
  unpin_user_pages(world.cma, pages, FOLL_WRITE | FOLL_LONGTERM);
  world.expect_consistent();
}

TEST(CmaPin, LongtermV510PinsInCmaWhenMigrationFails) {
  World world(1, CmaOptions{.longterm_pin = LongtermPinMode::MigrateOrPinInPlace});
  vma::Mm& mm = world.process(2);
  world.plan.set_rule("alloc_migration_target: FOLL_LONGTERM", mem::GfpClass::Any, mem::FaultRule{.probability = 1.0});
  std::vector<mem::Page*> pages;
  ASSERT_EQ(pin_user_pages(world.cma, mm, kAddr, 1, FOLL_WRITE | FOLL_LONGTERM, pages), 1);
  EXPECT_TRUE(world.cma.is_cma_pfn(pages[0]->pfn)) << "v5.10: migrate_allow = false, pinned in CMA anyway";
  world.expect_consistent();
  world.plan.clear();
  unpin_user_pages(world.cma, pages, FOLL_WRITE | FOLL_LONGTERM);
  std::vector<mem::Page*> again;
  ASSERT_EQ(pin_user_pages(world.cma, mm, kAddr, 1, FOLL_WRITE | FOLL_LONGTERM, again), 1);
  EXPECT_FALSE(world.cma.is_cma_pfn(again[0]->pfn)) << "with memory available it migrates";
  unpin_user_pages(world.cma, again, FOLL_WRITE | FOLL_LONGTERM);
  world.expect_consistent();
}

TEST(CmaPin, ForkWindowReferenceMakesTheRangeBusy) {
  World world;
  vma::Mm& mm = world.process(4);
  mem::Page* page = world.page_at(mm, 0);
  world.memory.get_page(page);  // copy_present_pte: get_page done, page_dup_rmap not yet
  uint64_t busy = 0;
  EXPECT_EQ(world.cma.alloc_contig_range(kCmaBase, kCmaBase + 4, gfp::kKernel, &busy), -EBUSY);
  EXPECT_EQ(busy, page->pfn);
  EXPECT_GE(world.cma.stats().pages_skipped, 1u);
  world.memory.put_page(page);
  EXPECT_EQ(world.cma.alloc_contig_range(kCmaBase, kCmaBase + 4, gfp::kKernel), 0);
  world.cma.free_contig_range(kCmaBase, 4);
  world.expect_consistent();
}

TEST(CmaPin, ExitWindowReferenceMakesTheRangeBusy) {
  World world;
  vma::Mm& mm = world.process(4);
  mem::Page* page = world.page_at(mm, 0);
  // zap_pte_range: the pte and mapcount are gone, the reference waits for the TLB flush.
  mm.ptes.erase(kAddr >> vma::kPageShift);
  --mm.rss;
  world.memory.page_remove_rmap(page);
  EXPECT_EQ(world.cma.alloc_contig_range(kCmaBase, kCmaBase + 4, gfp::kKernel), -EBUSY);
  world.memory.put_page(page);  // the flush: the page is freed
  EXPECT_EQ(world.cma.alloc_contig_range(kCmaBase, kCmaBase + 4, gfp::kKernel), 0);
  world.cma.free_contig_range(kCmaBase, 4);
  world.expect_consistent();
}

// Under the scheduler with preemption at every yield point: forks, exits and a
// cma_alloc interleave; whatever the outcome, nothing is left inconsistent and every
// mapping of the parent and children points at the same live pages.
TEST(CmaPin, ConcurrentForkExitAndAllocationStayConsistent) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    World world(seed);
    vma::Mm& mm = world.process(64);
    sched::SchedulerOptions options;
    options.strategy = sched::StrategyConfig::preempt(0.5);
    sched::Scheduler scheduler(world.choices, options);
    int error = 1;
    scheduler.spawn("forker", [&] {
      for (int i = 0; i < 3; ++i) {
        int fork_error = 0;
        std::unique_ptr<vma::Mm> child = vma::dup_mm(mm, &fork_error);
        sched::yield_point(Site{"test: child runs"});
        if (child) vma::exit_mmap(*child);
      }
    });
    scheduler.spawn("camera", [&] {
      for (int i = 0; i < 3; ++i) {
        mem::Page* page = world.cma.cma_alloc(*world.area, 128, 0, gfp::kKernel, &error);
        world.expect_consistent();
        if (page) world.cma.cma_release(*world.area, page, 128);
      }
    });
    const sched::RunResult run = scheduler.run();
    ASSERT_TRUE(run.ok()) << "seed " << seed << ": " << run.failure->headline();
    world.expect_consistent();
    for (unsigned long i = 0; i < 64; ++i) EXPECT_EQ(world.page_at(mm, i)->mapcount, 1) << "seed " << seed;
  }
}

}  // namespace
}  // namespace mmt::cma::testing
