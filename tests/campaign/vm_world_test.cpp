// The VM world: many seeds run clean with every check on; a seed replays to the same
// trace; failures are injected and survived.
#include <gtest/gtest.h>

#include "mmtorture/campaign/vm_world.h"

namespace mmt::campaign {

TEST(VmWorld, SeedsRunCleanWithChecksAfterEveryOperation) {
  VmWorldOptions options;
  options.ops = 400;
  uint64_t enomem = 0, faults = 0, forks = 0, switches = 0;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    SeededChoices choices(seed);
    const VmWorldResult result = run_vm_world(choices, options);
    ASSERT_FALSE(result.failure.has_value()) << "seed " << seed << ": " << result.failure->headline() << "\n"
                                             << result.failure->dump;
    EXPECT_EQ(result.ops_done, options.ops);
    enomem += result.enomem;
    faults += result.faults;
    forks += result.forks;
    switches += result.switches;
  }
  EXPECT_GT(enomem, 0u);
  EXPECT_GT(faults, 1000u);
  EXPECT_GT(forks, 100u);
  EXPECT_GT(switches, 1000u);
}

TEST(VmWorld, SameSeedSameTraceAndReplay) {
  VmWorldOptions options;
  options.ops = 300;
  SeededChoices a(7), b(7);
  const auto first = run_vm_world(a, options);
  const auto second = run_vm_world(b, options);
  ASSERT_FALSE(first.failure.has_value()) << first.failure->headline();
  EXPECT_EQ(first.trace_hash, second.trace_hash);
  ReplayChoices replay(a.recorded());
  const auto replayed = run_vm_world(replay, options);
  EXPECT_EQ(replayed.trace_hash, first.trace_hash);
  EXPECT_FALSE(replay.divergence().has_value());
}

TEST(VmWorld, MemoryPressureReclaimsAndStaysClean) {
  VmWorldOptions options;
  options.ops = 1500;
  options.memory_pages = 512;  // 2 MiB with high watermarks: faults push free pages below them
  options.min_free_pages = 240;
  options.mm_slots = 12;
  options.workers = 4;
  uint64_t reclaimed = 0;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    SeededChoices choices(seed);
    const auto result = run_vm_world(choices, options);
    ASSERT_FALSE(result.failure.has_value()) << "seed " << seed << ": " << result.failure->headline() << "\n"
                                             << result.failure->dump;
    reclaimed += result.pages_reclaimed;
  }
  EXPECT_GT(reclaimed, 0u);
}

}  // namespace mmt::campaign

namespace mmt::campaign {

TEST(VmWorld, ThousandSeedsStayClean) {
  VmWorldOptions options;
  options.ops = 150;
  options.workers = 3;
  for (uint64_t seed = 1000; seed < 2000; ++seed) {
    SeededChoices choices(seed);
    const VmWorldResult result = run_vm_world(choices, options);
    ASSERT_FALSE(result.failure.has_value()) << "seed " << seed << ": " << result.failure->headline() << "\n"
                                             << result.failure->dump;
  }
}

}  // namespace mmt::campaign
