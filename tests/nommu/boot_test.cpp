// The nommu model (seed 001, half 2): where the maple_node slab page lands under each
// preallocation order, nommu's shrink and split keeping the tree and the regions
// consistent (and the split double-count canary caught there), boots that are
// deterministic and replayable, that run out of memory on a tiny board and not on a big
// one, and that leave every frame free at teardown.
#include <gtest/gtest.h>

#include "mmtorture/core/defects.h"
#include "mmtorture/core/rng.h"
#include "mmtorture/maple/kernel_api.h"
#include "mmtorture/nommu/boot.h"
#include "mmtorture/nommu/experiment.h"
#include "mmtorture/nommu/mm.h"

namespace mmt::nommu {
namespace {

mem::MemConfig small_memory() {
  mem::MemConfig config;
  config.pages = 2048;  // 8 MiB
  return config;
}

const VmRegion& region_at(NommuMm& mm, long addr) {
  auto* vma = static_cast<NommuVma*>(mtree_load(&mm.mm_mt, static_cast<unsigned long>(addr)));
  EXPECT_NE(vma, nullptr);
  return *vma->region;
}

// A 12 KiB mapping takes an order-2 block and alloc_pages_exact frees its fourth page at
// once. Fresh memory, one mm: the first tree store needs the maple_node slab's first page.
//   after:  vm_region, VMA, pages (tail freed), then the nodes -> the slab page is the
//           freed tail page, inside the region's block.
//   before: nodes first -> the slab page comes from elsewhere, the tail stays free.
TEST(NommuMm, AfterPutsTheNodeSlabPageInTheFreedTail) {
  SeededChoices choices(1);
  mem::Memory memory(small_memory(), choices);
  NommuContext context(memory, PreallocOrder::After);
  NommuMm mm(context);
  const long addr = do_mmap(mm, 12 * 1024);
  ASSERT_GT(addr, 0);
  const VmRegion& region = region_at(mm, addr);
  EXPECT_EQ(region.block_pages, 4u);
  EXPECT_EQ(region.tail_pfn, region.block_pfn + 3);
  const std::vector<uint64_t> slabs = context.vm().maple_node_cache().slab_pfns();
  ASSERT_EQ(slabs.size(), 1u);
  EXPECT_EQ(slabs[0], region.tail_pfn) << "the node slab page should be the page alloc_pages_exact just freed";
  EXPECT_EQ(context.stats().node_slab_pages, 1u);
  EXPECT_EQ(context.stats().node_slab_pages_in_tail, 1u);
  EXPECT_FALSE(validate_nommu_mm(mm).has_value());
  EXPECT_FALSE(check_regions(context).has_value());
  exit_mmap(mm);
}

TEST(NommuMm, BeforeTakesTheNodeSlabPageOutsideTheRegion) {
  SeededChoices choices(1);
  mem::Memory memory(small_memory(), choices);
  NommuContext context(memory, PreallocOrder::Before);
  NommuMm mm(context);
  const long addr = do_mmap(mm, 12 * 1024);
  ASSERT_GT(addr, 0);
  const VmRegion& region = region_at(mm, addr);
  const std::vector<uint64_t> slabs = context.vm().maple_node_cache().slab_pfns();
  ASSERT_EQ(slabs.size(), 1u);
  EXPECT_TRUE(slabs[0] < region.block_pfn || slabs[0] >= region.block_pfn + region.block_pages)
      << "slab pfn " << slabs[0] << " inside the region's block at " << region.block_pfn;
  EXPECT_EQ(context.stats().node_slab_pages_in_tail, 0u);
  EXPECT_EQ(context.stats().late_node_allocations, 0u);
  // The tail page is still free.
  EXPECT_TRUE(memory.pfn_to_page(region.tail_pfn)->test(mem::PG_buddy));
  exit_mmap(mm);
}

// munmap of a hole in the middle splits the VMA and its region; of the end shrinks it;
// each step leaves the tree valid, every region owning its pages, and exit frees it all.
TEST(NommuMm, SplitAndShrinkKeepTreeAndRegionsConsistent) {
  SeededChoices choices(1);
  mem::Memory memory(small_memory(), choices);
  NommuContext context(memory, PreallocOrder::After);
  {
    NommuMm mm(context);
    const long addr = do_mmap(mm, 100 * 1024);  // 25 pages in a 32-page block
    ASSERT_GT(addr, 0);
    const uint64_t free_before = memory.nr_free_pages();
    const auto start = static_cast<unsigned long>(addr);
    ASSERT_EQ(do_munmap(mm, start + 4 * mem::kPageSize, mem::kPageSize), 0);
    EXPECT_EQ(mm.map_count, 2u);
    EXPECT_EQ(context.live_regions(), 2u);
    EXPECT_EQ(context.stats().splits, 1u);
    ASSERT_EQ(do_munmap(mm, start + 24 * mem::kPageSize, mem::kPageSize), 0);  // the last page
    EXPECT_EQ(mm.total_vm, 23u);
    EXPECT_EQ(context.stats().shrinks, 2u);
    EXPECT_GE(memory.nr_free_pages(), free_before + 2 - 1);  // two pages back (a node slab page may be new)
    const std::vector<NommuVma*> vmas = nommu_vmas(mm);
    ASSERT_EQ(vmas.size(), 2u);
    EXPECT_EQ(vmas[0]->vm_end, start + 4 * mem::kPageSize);
    EXPECT_EQ(vmas[1]->vm_start, start + 5 * mem::kPageSize);
    EXPECT_EQ(vmas[1]->vm_end, start + 24 * mem::kPageSize);
    EXPECT_FALSE(validate_nommu_mm(mm).has_value()) << dump_nommu_mm(mm);
    EXPECT_FALSE(check_regions(context).has_value());
    EXPECT_EQ(do_munmap(mm, start + 4 * mem::kPageSize, mem::kPageSize), -EINVAL);  // the hole
    exit_mmap(mm);
  }
  rcu_barrier();
  EXPECT_EQ(context.live_regions(), 0u);
  EXPECT_EQ(context.vm().maple_node_cache().live_objects(), 0u);
  EXPECT_EQ(memory.nr_free_pages(), memory.nr_pages()) << "teardown leaves memory fully free";
  EXPECT_FALSE(memory.check_consistency().has_value());
}

TEST(NommuMm, SplitDoubleCountCanaryIsCaughtByValidate) {
  DefectScope defect({Defect::NommuSplitDoubleCount});
  SeededChoices choices(1);
  mem::Memory memory(small_memory(), choices);
  NommuContext context(memory, PreallocOrder::After);
  NommuMm mm(context);
  const long addr = do_mmap(mm, 64 * 1024);
  ASSERT_GT(addr, 0);
  ASSERT_EQ(do_munmap(mm, static_cast<unsigned long>(addr) + 2 * mem::kPageSize, mem::kPageSize), 0);
  const auto failure = validate_nommu_mm(mm);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->check, "nommu.validate_mm");
  EXPECT_NE(failure->message.find("2 VMAs in the tree, map_count says 3"), std::string::npos) << failure->message;
  mm.map_count = 2;  // so exit_mmap's accounting is not the subject here
  exit_mmap(mm);
}

TEST(NommuBoot, SameSeedSameBootAndReplayMatches) {
  NommuBootOptions options;
  options.boot_steps = 120;
  SeededChoices first(3);
  const NommuBootResult a = run_nommu_boot(first, options);
  ASSERT_FALSE(a.failure.has_value()) << a.failure->headline() << "\n" << a.failure->message;
  SeededChoices second(3);
  const NommuBootResult b = run_nommu_boot(second, options);
  EXPECT_EQ(a.trace_hash, b.trace_hash);
  EXPECT_EQ(a.oom, b.oom);
  EXPECT_EQ(a.steps, b.steps);
  EXPECT_EQ(a.free_pages, b.free_pages);
  EXPECT_EQ(a.stats.node_slab_pages, b.stats.node_slab_pages);
  ReplayChoices replay(first.recorded());
  const NommuBootResult c = run_nommu_boot(replay, options);
  EXPECT_EQ(a.trace_hash, c.trace_hash);
  EXPECT_FALSE(replay.divergence().has_value());
  SeededChoices other(4);
  EXPECT_NE(run_nommu_boot(other, options).trace_hash, a.trace_hash);
}

TEST(NommuBoot, TinyBoardRunsOutOfMemoryBigOneDoesNot) {
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    NommuBootOptions tiny;
    tiny.memory_mib = 12;
    SeededChoices tiny_choices(seed);
    const NommuBootResult small = run_nommu_boot(tiny_choices, tiny);
    ASSERT_FALSE(small.failure.has_value()) << small.failure->headline() << "\n" << small.failure->message;
    EXPECT_TRUE(small.oom) << "seed " << seed;
    EXPECT_FALSE(small.oom_what.empty());

    NommuBootOptions big;
    big.memory_mib = 128;
    SeededChoices big_choices(seed);
    const NommuBootResult large = run_nommu_boot(big_choices, big);
    ASSERT_FALSE(large.failure.has_value()) << large.failure->headline() << "\n" << large.failure->message;
    EXPECT_FALSE(large.oom) << "seed " << seed << ": " << large.oom_what;
    EXPECT_EQ(large.steps, big.boot_steps);
  }
}

// The model behind the board's -ENOMEM, read from the frames: a failure is explained by
// the min watermark or by no free aligned block of the order; a free aligned block above
// the watermark is named. Every OOM the boot reaches is explained (the tiny boards above
// and TinyBoardRunsOutOfMemoryBigOneDoesNot run through it).
TEST(NommuMm, AnAllocationFailureIsExplainedByTheFramesOrNamed) {
  SeededChoices choices(1);
  mem::Memory memory(small_memory(), choices);
  const auto fresh = unexplained_alloc_failure(memory, 3);
  ASSERT_TRUE(fresh.has_value()) << "fresh memory: whole free blocks everywhere";
  EXPECT_NE(fresh->find("an order-3 request failed while pfns [0, 8) were free"), std::string::npos) << *fresh;
  // The model against the allocator over a fragmenting history: wherever the model
  // explains a failure of an order, an allocation of that order fails, and wherever it
  // names a free block, the allocation succeeds.
  Rng rng(7);
  std::vector<std::pair<mem::Page*, unsigned>> held;
  uint64_t explained = 0, named = 0;
  for (int step = 0; step < 3000; ++step) {
    if (held.empty() || rng.below(3) != 0) {
      const auto order = static_cast<unsigned>(rng.below(4));
      if (mem::Page* page = memory.alloc_pages(gfp::kKernel, order, Site{"fill"})) held.emplace_back(page, order);
    } else {
      const size_t victim = rng.below(held.size());
      memory.free_pages(held[victim].first, held[victim].second);
      held[victim] = held.back();
      held.pop_back();
    }
    const auto order = static_cast<unsigned>(rng.below(5));
    const bool model_names_a_block = unexplained_alloc_failure(memory, order).has_value();
    mem::Page* probe = memory.alloc_pages(gfp::kKernel, order, Site{"probe"});
    ASSERT_EQ(probe != nullptr, model_names_a_block) << "step " << step << " order " << order;
    if (probe) memory.free_pages(probe, order);
    ++(model_names_a_block ? named : explained);
  }
  EXPECT_GT(explained, 300u) << "the history never fragmented memory";
  EXPECT_GT(named, 300u);
  for (const auto& [page, order] : held) memory.free_pages(page, order);
}

// Why a nommu kernel batches no frees: with MMU-sized per-CPU lists the freed tails of
// alloc_pages_exact come back as scattered order-0 pages, and a board that boots with
// its tails freed to the tail of the free lists runs out of memory instead.
TEST(NommuBoot, PerCpuListsBreakUpTheBlocksANommuBoardNeeds) {
  unsigned ooms_without = 0, ooms_with = 0;
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    NommuBootOptions options;
    options.memory_mib = 32;
    options.exact_free_to_tail = true;
    SeededChoices plain(seed);
    const NommuBootResult without = run_nommu_boot(plain, options);
    ASSERT_FALSE(without.failure.has_value()) << without.failure->headline();
    ooms_without += without.oom;
    options.pcp = true;
    SeededChoices batched(seed);
    const NommuBootResult with = run_nommu_boot(batched, options);
    ASSERT_FALSE(with.failure.has_value()) << with.failure->headline() << "\n" << with.failure->message;
    ooms_with += with.oom;
  }
  EXPECT_EQ(ooms_without, 0u);
  EXPECT_EQ(ooms_with, 4u);
}

TEST(NommuBoot, SplitDoubleCountCanaryFailsTheBoot) {
  DefectScope defect({Defect::NommuSplitDoubleCount});
  NommuBootOptions options;
  options.memory_mib = 128;
  bool caught = false;
  for (uint64_t seed = 1; seed <= 5 && !caught; ++seed) {
    SeededChoices choices(seed);
    const NommuBootResult result = run_nommu_boot(choices, options);
    if (result.stats.splits == 0) continue;
    ASSERT_TRUE(result.failure.has_value()) << "seed " << seed << " split without the check firing";
    EXPECT_EQ(result.failure->check, "nommu.validate_mm");
    caught = true;
  }
  EXPECT_TRUE(caught) << "no boot in seeds 1..5 split a VMA";
}

TEST(NommuExperiment, OneRowPerCombinationWithoutFailedChecks) {
  NommuExperimentOptions options;
  options.memory_mib = {32};
  options.seeds = 2;
  options.boot.boot_steps = 80;
  const NommuExperimentResult result = run_nommu_experiment(options);
  ASSERT_EQ(result.rows.size(), 4u);
  for (const NommuExperimentRow& row : result.rows) {
    EXPECT_EQ(row.boots, 2u);
    EXPECT_EQ(row.failures, 0u) << row.first_failure;
  }
  EXPECT_EQ(result.rows[0].prealloc, PreallocOrder::After);
  EXPECT_FALSE(result.rows[0].exact_free_to_tail);
  EXPECT_EQ(result.rows[3].prealloc, PreallocOrder::Before);
  EXPECT_TRUE(result.rows[3].exact_free_to_tail);
  const std::string table = result.table();
  EXPECT_NE(table.find(" 32 MiB    after   to head"), std::string::npos) << table;
  EXPECT_NE(table.find(" 32 MiB   before   to tail"), std::string::npos) << table;
  std::printf("%s", table.c_str());
}

}  // namespace
}  // namespace mmt::nommu
