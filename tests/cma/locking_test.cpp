// How alloc_contig_range calls are serialised (CmaOptions::locking). Two clients ask
// for adjacent 8-page ranges of one pageblock while its pages are mapped (so each call
// isolates the pageblock and migrates for a while, with yield points in between), and
// the rest of the area is taken, so there is no other range to slide to:
// - with a mutex (the global cma_mutex of v3.x..v6.14, or the per-area alloc_mutex of
//   v6.15+) the second call waits and both succeed;
// - with none (v5.11..v5.18, reverted) the second call finds the pageblock already
//   isolated by the first: alloc_contig_range fails with -EBUSY and cma_alloc has to
//   slide to another candidate range (or fail, when there is none and nobody finishes
//   in time) — the extra cma_alloc failures that got the change reverted.
#include <cerrno>
#include <cstdio>

#include "cma_test_util.h"

namespace mmt::cma::testing {
namespace {

struct TwoClients {
  uint64_t both_succeeded = 0;  // seeds where both clients got their range
  uint64_t busy_ranges = 0;     // alloc_contig_range calls that returned -EBUSY
  uint64_t busy_calls = 0;      // cma_alloc calls that failed with -EBUSY
};

void adjacent_ranges(CmaLocking locking, uint64_t seeds, TwoClients& out) {
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    World world(seed, CmaOptions{.locking = locking});
    // Only the area's first pageblock stays free, so a call that finds it busy has no
    // other candidate to slide to; then mapped anonymous pages fill it.
    mem::Page* blocks[3];
    for (mem::Page*& block : blocks) ASSERT_NE(block = world.cma.cma_alloc(*world.area, 512, 9, gfp::kKernel), nullptr);
    world.cma.cma_release(*world.area, blocks[0], 512);
    world.process(64);
    int errors[2] = {1, 1};
    sched::SchedulerOptions options;
    options.strategy = sched::StrategyConfig::preempt(0.5);  // interleave at yield points
    sched::Scheduler scheduler(world.choices, options);
    for (int client = 0; client < 2; ++client) {
      scheduler.spawn(client ? "codec" : "camera", [&world, &errors, client] {
        mem::Page* page = world.cma.cma_alloc(*world.area, 8, 0, gfp::kKernel, &errors[client]);
        if (page) world.cma.cma_release(*world.area, page, 8);
      });
    }
    const sched::RunResult run = scheduler.run();
    EXPECT_TRUE(run.ok()) << run.failure->headline();
    out.busy_ranges += world.area->stats.busy;
    world.cma.cma_release(*world.area, blocks[1], 512);
    world.cma.cma_release(*world.area, blocks[2], 512);
    world.expect_consistent();
    out.both_succeeded += errors[0] == 0 && errors[1] == 0;
    for (int error : errors) {
      EXPECT_TRUE(error == 0 || error == -EBUSY) << "seed " << seed << ": " << error;
      out.busy_calls += error == -EBUSY;
    }
  }
}

TEST(CmaLocking, MutexesSerialiseCallsSharingAPageblock) {
  for (CmaLocking locking : {CmaLocking::GlobalMutex, CmaLocking::PerAreaMutex}) {
    TwoClients result;
    adjacent_ranges(locking, 20, result);
    EXPECT_EQ(result.both_succeeded, 20u) << cma_locking_name(locking);
    EXPECT_EQ(result.busy_ranges, 0u) << cma_locking_name(locking);
  }
}

TEST(CmaLocking, WithoutSerialisationCallsSharingAPageblockCollide) {
  TwoClients result;
  adjacent_ranges(CmaLocking::None, 20, result);
  EXPECT_GT(result.busy_ranges, 0u) << "no seed interleaved two isolations of one pageblock";
  std::printf("no serialisation, 20 seeds: %llu ranges busy, %llu calls failed -EBUSY, both succeeded in %llu\n",
              static_cast<unsigned long long>(result.busy_ranges), static_cast<unsigned long long>(result.busy_calls),
              static_cast<unsigned long long>(result.both_succeeded));
}

}  // namespace
}  // namespace mmt::cma::testing
