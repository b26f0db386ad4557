// The completeness check (cma.unexplained_failure): a failed cma_alloc is fine while
// each candidate range held something that could not be taken — a pin, a reference its
// mappings do not explain — and caught when a range of free and movable pages fails.
// The planted bug is a migrate_pages that gives up before its first pass
// (CmaOptions::migrate_passes = 0): every range holding a mapped page then ends "PFNs
// busy" with nothing in the way.
#include <cerrno>
#ifdef MMT_SANITIZED
#include <sanitizer/lsan_interface.h>
#endif

#include "cma_test_util.h"
#include "mmtorture/cma/experiment.h"

namespace mmt::cma::testing {
namespace {

constexpr gfp_t kGfp = gfp::kKernel;

// The check's failure from one cma_alloc, or "" when it returned (its error in *error).
std::string alloc_failure(World& world, uint64_t count, unsigned align, int* error) {
  try {
    if (mem::Page* page = world.cma.cma_alloc(*world.area, count, align, kGfp, error))
      world.cma.cma_release(*world.area, page, count);
  } catch (const FailureError& e) {
    return e.failure().check + ": " + e.failure().message;
  }
  return {};
}

TEST(CmaCompleteness, PinnedOrReferencedRangeFailsExplained) {
  World world;
  vma::Mm& mm = world.process(8);
  mem::Page* pinned = world.page_at(mm, 2);  // never migrated: it stays in the area
  world.memory.pin_user_page(pinned);
  int error = 0;
  EXPECT_EQ(alloc_failure(world, kCmaPages, 0, &error), "") << "a pinned page explains -EBUSY";
  EXPECT_EQ(error, -EBUSY);
  world.memory.unpin_user_page(pinned);
  mem::Page* held = pinned;
  world.memory.get_page(held);  // a fork window or an LRU batch: refcount > mapcount
  EXPECT_EQ(alloc_failure(world, kCmaPages, 0, &error), "") << "an unexplained reference explains -EBUSY";
  EXPECT_EQ(error, -EBUSY);
  world.memory.put_page(held);
  EXPECT_EQ(alloc_failure(world, kCmaPages, 0, &error), "");
  EXPECT_EQ(error, 0) << "nothing in the way: the whole area is allocatable";
  world.expect_consistent();
}

TEST(CmaCompleteness, FreeMovableRangeThatFailsIsUnexplained) {
#ifdef MMT_SANITIZED
  // The failed call is abandoned half-way (its bits stay set), and with it the world:
  // its address space is never torn down, so its host memory is not a leak.
  __lsan::ScopedDisabler abandoned_world_is_not_a_leak;
#endif
  World world;
  world.process(8);
  world.cma.options().migrate_passes = 0;  // the planted bug: migration never moves a page
  world.cma.options().check_completeness = false;
  int error = 0;
  EXPECT_EQ(alloc_failure(world, 256, 8, &error), "") << "without the check the bug is a plain -EBUSY";
  EXPECT_EQ(error, 0) << "the first candidate busy, the next one free";
  world.cma.options().check_completeness = true;
  const std::string failure = alloc_failure(world, 256, 8, &error);
  EXPECT_EQ(failure.rfind("cma.unexplained_failure: ", 0), 0u) << failure;
  EXPECT_NE(failure.find("candidate range [512, 768)"), std::string::npos) << failure;
  EXPECT_NE(failure.find("free, unpinned and movable"), std::string::npos) << failure;
  world.context.abandon();  // the failed call's bits stay set: never torn down, so not leak-checked
}

// seed004-cma-policies.toml's world: long-term pins in place, bounded retries and a
// fatal signal; each test adds what it looks at.
CmaWorldOptions seed004_policies_world() {
  CmaWorldOptions options;
  options.longterm_pins = 8;
  options.cma.longterm_pin = LongtermPinMode::PinInPlace;
  options.cma.retry = RetryPolicy::bounded(5, 100);
  options.fatal_signal_at_ms = 1000;
  return options;
}

// The whole world as seed004-cma-policies.toml runs it (long-term pins in place, bounded
// retries, transient pins, a fatal signal): clean with the check on; and the planted bug
// caught by it in the quieter world of seed004-cma-uninterruptible.toml.
TEST(CmaCompleteness, CmaWorldCatchesTheUnmovedRange) {
  CmaWorldOptions options = seed004_policies_world();
  options.hang_ms = 20'000;
  ASSERT_TRUE(options.cma.check_completeness) << "on by default";
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    SeededChoices choices(seed);
    const auto result = run_cma_world(choices, options);
    EXPECT_FALSE(result.failure.has_value()) << "seed " << seed << ": " << result.failure->headline();
  }
  // With the transient-pin actors on, ranges of ~2000 pages always hold a page in a
  // fork window or an LRU batch at some look, which explains them; with only the clients
  // and the long-term pins (seed004-cma-uninterruptible's world) a range of
  // the application's mapped pages has nothing in its way but the bug.
  options.forkers = options.short_pinners = options.touchers = options.hogs = 0;
  options.cma.migrate_passes = 0;
  SeededChoices choices(1);
  const auto result = run_cma_world(choices, options);
  ASSERT_TRUE(result.failure.has_value());
  EXPECT_EQ(result.failure->check, "cma.unexplained_failure") << result.failure->headline();
}

// Coverage counts every call once, by how it ended (cma/coverage.h), and agrees with the
// statistics counted elsewhere.
TEST(CmaCoverage, OutcomesAddUpToTheCalls) {
  CmaWorldOptions options = seed004_policies_world();
  options.migration_fail_probability = 0.02;
  options.pcp_batch = 15;
  SeededChoices choices(1);
  const auto r = run_cma_world(choices, options);
  ASSERT_FALSE(r.failure.has_value()) << r.failure->headline();
  auto n = [&](CmaOutcome outcome) { return r.outcomes[static_cast<size_t>(outcome)]; };
  EXPECT_EQ(n(CmaOutcome::AllocOk) + n(CmaOutcome::AllocOkAfterRetry) + n(CmaOutcome::AllocBusy) +
                n(CmaOutcome::AllocNomem) + n(CmaOutcome::AllocIntr),
            r.area_stats.alloc_calls);
  EXPECT_EQ(n(CmaOutcome::AllocBusy) + n(CmaOutcome::AllocNomem) + n(CmaOutcome::AllocIntr),
            r.area_stats.alloc_calls_fail);
  EXPECT_EQ(n(CmaOutcome::ContigOk) + n(CmaOutcome::ContigIsolationBusy) + n(CmaOutcome::ContigPfnsBusy) +
                n(CmaOutcome::ContigNomem) + n(CmaOutcome::ContigIntr),
            r.cma_stats.contig_calls);
  EXPECT_EQ(n(CmaOutcome::MigrateMoved), r.cma_stats.pages_migrated);
  EXPECT_EQ(n(CmaOutcome::MigrateNomem), r.cma_stats.migrate_nomem);
  EXPECT_GT(n(CmaOutcome::MigrateNomem), 0u) << "the fault plan failed migration targets";
  EXPECT_GT(n(CmaOutcome::ContigPcpDrained), 0u) << "frames parked on the per-CPU lists were drained";
  EXPECT_GT(n(CmaOutcome::LongtermInPlace), 0u);
  uint64_t target_requests = 0, target_failures = 0;
  for (const auto& site : r.sites)
    if (site.site == kSiteMigrationTarget) {
      target_requests += site.requests;
      target_failures += site.injected;
    }
  EXPECT_GT(target_requests, target_failures);
  EXPECT_EQ(target_failures, r.cma_stats.migrate_nomem);
}

}  // namespace
}  // namespace mmt::cma::testing
