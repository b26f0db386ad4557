// The VM world: many seeds run clean with every check on; a seed replays to the same
// trace; failures are injected and survived.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <sstream>
#include <string>

#include "mmtorture/jobs/vm_world.h"

namespace mmt::jobs {

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
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    SeededChoices choices(seed);
    const auto result = run_vm_world(choices, options);
    ASSERT_FALSE(result.failure.has_value()) << "seed " << seed << ": " << result.failure->headline() << "\n"
                                             << result.failure->dump;
    reclaimed += result.pages_reclaimed;
  }
  EXPECT_GT(reclaimed, 0u);
}

}  // namespace mmt::jobs

namespace mmt::jobs {

// Every sleeping class failing (failslab on vm_area_struct, anon_vma and maple nodes,
// fail_page_alloc on pages): every -ENOMEM is unwound (validate_mm, accounting, leaks at
// teardown) and each class really fails.
TEST(VmWorld, SleepingAllocationFailuresUnwindClean) {
  VmWorldOptions options;
  options.ops = 200;
  options.vma_fail_probability = 0.05;
  options.anon_vma_fail_probability = 0.05;
  options.maple_node_fail_probability = 0.05;
  options.page_fail_probability = 0.01;
  std::map<std::string, uint64_t> failed;
  uint64_t enomem = 0;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    SeededChoices choices(seed);
    const VmWorldResult result = run_vm_world(choices, options);
    ASSERT_FALSE(result.failure.has_value()) << "seed " << seed << ": " << result.failure->headline() << "\n"
                                             << result.failure->dump;
    enomem += result.enomem;
    std::istringstream counts(result.failures_by_class);
    std::string name;
    uint64_t count = 0;
    while (counts >> name >> count) failed[name] += count;
  }
  EXPECT_GT(enomem, 0u);
  for (const char* name : {"vm_area_struct/kernel", "anon_vma/kernel", "maple_node/kernel", "pages/kernel"})
    EXPECT_GT(failed[name], 0u) << name;
}

TEST(VmWorld, TooSmallToFailSparesEverySleepingRequest) {
  VmWorldOptions options;
  options.ops = 300;
  options.nowait_fail_probability = 0;
  options.vma_fail_probability = 1.0;
  options.anon_vma_fail_probability = 1.0;
  options.maple_node_fail_probability = 1.0;
  options.page_fail_probability = 1.0;
  options.too_small_to_fail = true;
  SeededChoices choices(7);
  const VmWorldResult result = run_vm_world(choices, options);
  ASSERT_FALSE(result.failure.has_value()) << result.failure->headline();
  EXPECT_EQ(result.failures_by_class,
            "pages/nowait 0 pages/kernel 0 vm_area_struct/nowait 0 vm_area_struct/kernel 0 anon_vma/nowait 0 "
            "anon_vma/kernel 0 maple_node/nowait 0 maple_node/kernel 0");
  EXPECT_GT(result.faults, 0u);
}

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

// File mappings in smoke's world (the mmap_file op, both kinds of file, every
// allocation class failing, per-VMA locks, memory pressure): file counts, i_mmap,
// attach counts and page-cache ptes stay right through merges, splits, faults, fork,
// mremap, reclaim and exit, and nothing is left at teardown.
TEST(VmWorld, FileMappingSeedsStayClean) {
  VmWorldOptions options;
  options.ops = 1000;
  options.workers = 4;
  options.mm_slots = 4;
  options.memory_pages = 1024;
  options.min_free_pages = 96;
  options.vma_fail_probability = 0.02;
  options.anon_vma_fail_probability = 0.02;
  options.maple_node_fail_probability = 0.01;
  options.page_fail_probability = 0.01;
  options.op_mix[static_cast<size_t>(VmOp::kMmapFile)] = 4;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    options.per_vma_locks = seed % 2 == 0;
    SeededChoices choices(seed);
    const VmWorldResult result = run_vm_world(choices, options);
    ASSERT_FALSE(result.failure.has_value()) << "seed " << seed << ": " << result.failure->headline() << "\n"
                                             << result.failure->dump;
    EXPECT_GT(result.coverage.outcomes.at("mmap_file").at("addr"), 0u) << "seed " << seed;
  }
}

// Reclaim meets the page cache: memory at its 512-frame minimum, faults, heap faults and
// file mappings frequent, munmap and exit off, so memory fills (without swarm the default
// mix never fills it) and reclaim unmaps cache pages through
// i_mmap (racing the writers that split, merge, move and unmap the files' VMAs), writes
// dirty ones back and drops them, and faults read them in again — clean in every seed.
TEST(VmWorld, PageCacheUnderReclaimStaysClean) {
  VmWorldOptions options;
  options.ops = 2000;
  options.workers = 4;
  options.mm_slots = 4;
  options.memory_pages = 512;
  options.min_free_pages = 96;
  options.page_fail_probability = 0.01;
  options.op_mix = {5, 2, 0, 4, 32, 3, 2, 2, 0, 8, 0, 8};
  uint64_t dropped = 0, writebacks = 0;
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    options.per_vma_locks = seed % 2 == 0;
    SeededChoices choices(seed);
    const VmWorldResult result = run_vm_world(choices, options);
    ASSERT_FALSE(result.failure.has_value()) << "seed " << seed << ": " << result.failure->headline() << "\n"
                                             << result.failure->dump;
    dropped += result.file_dropped;
    writebacks += result.file_writebacks;
  }
  EXPECT_GT(dropped, 0u) << "reclaim never dropped a page-cache page";
  EXPECT_GT(writebacks, 0u) << "reclaim never wrote a dirty page back";
  std::printf("50 seeds: %llu page-cache pages dropped by reclaim, %llu written back first\n",
              static_cast<unsigned long long>(dropped), static_cast<unsigned long long>(writebacks));
}

}  // namespace mmt::jobs

namespace mmt::jobs {

TEST(VmWorld, OomKillerReapsAnIdleProcessInsteadOfFailing) {
  // 512 frames and 64 swap slots shared by 12 fault-heavy processes: memory and swap
  // fill, anonymous pages become unreclaimable, and GFP_KERNEL allocations reach the OOM
  // path. Without the killer they fail; with it, an idle process dies instead.
  VmWorldOptions options;
  options.ops = 3000;
  options.memory_pages = 512;
  options.swap_pages = 64;
  options.mm_slots = 12;
  options.nowait_fail_probability = 0;
  options.op_mix = {8, 2, 1, 1, 40, 3, 2, 1, 1, 0};  // mostly faults: memory fills up
  uint64_t kills = 0, failed_with = 0, failed_without = 0, swapped_out = 0, swapped_in = 0;
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    options.oom_kill = true;
    SeededChoices choices(seed);
    const auto result = run_vm_world(choices, options);
    ASSERT_FALSE(result.failure.has_value()) << "seed " << seed << ": " << result.failure->headline() << "\n"
                                             << result.failure->dump;
    kills += result.oom_kills;
    failed_with += result.alloc_failures;
    swapped_out += result.swap_outs;
    swapped_in += result.swap_ins;
    options.oom_kill = false;
    SeededChoices control(seed);
    const auto without = run_vm_world(control, options);
    ASSERT_FALSE(without.failure.has_value()) << "seed " << seed << ": " << without.failure->headline();
    EXPECT_EQ(without.oom_kills, 0u);
    failed_without += without.alloc_failures;
  }
  EXPECT_GT(swapped_out, 0u) << "reclaim never swapped: memory never filled";
  EXPECT_GT(swapped_in, 0u) << "no swap pte was ever faulted back in";
  EXPECT_GT(kills, 0u) << "memory never ran out: the test does not exercise the OOM killer";
  EXPECT_GT(failed_without, 0u) << "without the killer, full memory and swap must fail allocations";
  EXPECT_LT(failed_with, failed_without) << "the killer should turn failed allocations into progress";
  std::printf(
      "10 seeds: %llu swapped out, %llu swapped in, %llu OOM kills; failed page allocations %llu with "
      "the killer, %llu without\n",
      static_cast<unsigned long long>(swapped_out), static_cast<unsigned long long>(swapped_in),
      static_cast<unsigned long long>(kills), static_cast<unsigned long long>(failed_with),
      static_cast<unsigned long long>(failed_without));
}

}  // namespace mmt::jobs
