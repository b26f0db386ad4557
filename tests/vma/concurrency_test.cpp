// The VMA manager under the deterministic scheduler: fork's window between get_page and
// page_dup_rmap (and exit's between the zap and the TLB flush) is where a page looks
// pinned — refcount above its mappings — to any other CPU, the transient state behind
// the CMA allocation failures of seed 004. Another green thread must be able to see it.
#include <cerrno>

#include "mmtorture/sched/sched.h"
#include "vma_test_util.h"

namespace mmt::vma::testing {

namespace {

constexpr unsigned long kRW = PROT_READ | PROT_WRITE;

// Runs `body` on one thread while an observer samples the populated pages of `mm`;
// returns how many samples saw refcount > mapcount on an unpinned page.
uint64_t observe_transient_pins(uint64_t seed, const std::function<void(World&, Mm&)>& body) {
  World w(seed);
  auto mm = std::make_unique<Mm>(w.context);
  vm_mmap(*mm, page_at(0), 16 * kPageSize, kRW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
  for (unsigned long i = 0; i < 16; ++i) handle_mm_fault(*mm, page_at(i), true);
  std::vector<mem::Page*> pages;
  for (auto& [vpn, pte] : mm->ptes) pages.push_back(pte.page);

  SeededChoices choices(seed);
  sched::SchedulerOptions options;
  options.strategy = sched::StrategyConfig::preempt(0.5);
  sched::Scheduler scheduler(choices, options);
  bool done = false;
  uint64_t seen = 0;
  scheduler.spawn("actor", [&] {
    body(w, *mm);
    done = true;
  });
  scheduler.spawn("observer", [&] {
    while (!done) {
      for (const mem::Page* page : pages)
        if (page->refcount > 0 && page->pincount == 0 && page->refcount > page->mapcount) ++seen;
      sched::yield_point(Site{"observer"});
    }
  });
  const auto result = scheduler.run();
  EXPECT_TRUE(result.ok()) << result.failure->headline();
  mm.reset();
  return seen;
}

}  // namespace

TEST(VmaConcurrency, ForkWindowMakesRefcountExceedMapcountVisible) {
  uint64_t seen = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    seen += observe_transient_pins(seed, [](World&, Mm& mm) {
      int error = 0;
      auto child = dup_mm(mm, &error);
      ASSERT_TRUE(child);
      exit_mmap(*child);
    });
  }
  EXPECT_GT(seen, 0u) << "no other thread ever saw a page in fork's get_page/page_dup_rmap window";
}

TEST(VmaConcurrency, NoTransientPinsWithoutForkOrExit) {
  // Control: faults and mprotect never leave a page with an unexplained reference.
  uint64_t seen = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    seen += observe_transient_pins(seed, [](World&, Mm& mm) {
      for (int round = 0; round < 4; ++round) {
        do_mprotect(mm, page_at(2), 4 * kPageSize, round % 2 ? kRW : PROT_READ);
        handle_mm_fault(mm, page_at(3), false);
      }
    });
  }
  EXPECT_EQ(seen, 0u);
}

}  // namespace mmt::vma::testing
