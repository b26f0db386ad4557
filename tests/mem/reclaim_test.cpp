// GFP classes, watermarks and reclaim: NOWAIT fails below min, ATOMIC dips lower,
// KERNEL reclaims (directly, sleeping virtual time on a green thread) then succeeds,
// fails or OOM-kills when nothing is reclaimable; NOFAIL waits for another thread;
// kswapd restores the high watermark; the scheduler's might_sleep and reclaim-safety
// checks catch allocations in the wrong context.
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "mem_test_util.h"
#include "mmtorture/sched/clock.h"
#include "mmtorture/sched/mutex.h"
#include "mmtorture/sched/scheduler.h"
#include "mmtorture/sched/spinlock.h"

namespace mmt::mem {
namespace {

using testing::FakeRmap;
using testing::fill_to;
using testing::small_config;

sched::SchedulerOptions quiet_options() {
  sched::SchedulerOptions options;
  options.strategy = sched::StrategyConfig::preempt(0.0);
  return options;
}

TEST(Watermarks, NowaitFailsBelowMinAndAtomicDipsLower) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);  // min 32, low 40, high 48
  std::vector<Page*> held = fill_to(memory, 33);
  EXPECT_NE(memory.alloc_pages(gfp::kNowait, 0, Site{"nowait"}), nullptr) << "33 -> 32 keeps min";
  EXPECT_EQ(memory.alloc_pages(gfp::kNowait, 0, Site{"nowait"}), nullptr) << "32 -> 31 would cross min";
  EXPECT_EQ(memory.stats().nowait_failures, 1u);
  // GFP_ATOMIC may use reserves: min - min/2 - (min/2)/4 = 12 pages stay.
  uint64_t atomic = 0;
  while (memory.alloc_pages(gfp::kAtomic, 0, Site{"atomic"})) ++atomic;
  EXPECT_EQ(memory.nr_free_pages(), 12u);
  EXPECT_EQ(atomic, 20u);
  EXPECT_CONSISTENT(memory);
}

TEST(Watermarks, KernelReclaimsMappedPagesThenSucceeds) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  FakeRmap rmap(memory);
  memory.set_rmap_ops(&rmap);
  std::vector<Page*> anon;
  for (int i = 0; i < 100; ++i) anon.push_back(rmap.map_new(gfp::kKernel | gfp::kMovable, 1 + i % 2));
  std::vector<Page*> held = fill_to(memory, memory.min_pages());
  EXPECT_EQ(memory.lru_size(), 100u);
  Page* page = memory.alloc_pages(gfp::kKernel, 0, Site{"kmalloc"});
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(memory.stats().direct_reclaims, 1u);
  EXPECT_EQ(memory.stats().pages_reclaimed, 32u) << "one SWAP_CLUSTER_MAX batch";
  EXPECT_EQ(memory.stats().swap_outs, 32u);
  EXPECT_EQ(memory.lru_size(), 68u);
  EXPECT_EQ(rmap.calls, 32);
  for (size_t i = 0; i < anon.size(); ++i)
    EXPECT_EQ(anon[i]->mapcount > 0, i >= 32) << "the oldest 32 went, page " << i;
  EXPECT_CONSISTENT(memory);
}

TEST(Watermarks, PinnedAndReferencedPagesRotateInsteadOfBeingFreed) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  FakeRmap rmap(memory);
  memory.set_rmap_ops(&rmap);
  Page* pinned = rmap.map_new();
  Page* held_ref = rmap.map_new();
  Page* plain = rmap.map_new();
  memory.pin_user_page(pinned);
  memory.get_page(held_ref);  // a transient reference (the fork window, a gup)
  EXPECT_TRUE(page_maybe_dma_pinned(*pinned));
  EXPECT_EQ(memory.shrink_lru(3, Site{"test_reclaim"}), 1u);
  EXPECT_EQ(plain->refcount, 0);
  EXPECT_EQ(pinned->mapcount, 1) << "not even unmapped";
  EXPECT_EQ(held_ref->mapcount, 1);
  EXPECT_EQ(memory.stats().pages_rotated, 2u);
  EXPECT_EQ(memory.lru_size(), 2u);
  EXPECT_EQ(rmap.calls, 1);
  EXPECT_CONSISTENT(memory);
  memory.unpin_user_page(pinned);
  memory.put_page(held_ref);
  EXPECT_EQ(memory.shrink_lru(3, Site{"test_reclaim"}), 2u);
  EXPECT_EQ(memory.lru_size(), 0u);
  EXPECT_CONSISTENT(memory);
}

TEST(Watermarks, KernelFailsWhenNothingIsReclaimable) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  std::vector<Page*> held = fill_to(memory, memory.min_pages());
  EXPECT_EQ(memory.alloc_pages(gfp::kKernel, 0, Site{"kmalloc"}), nullptr);
  EXPECT_EQ(memory.stats().direct_reclaims, 16u) << "reclaim_retries rounds";
  EXPECT_EQ(memory.stats().oom_kills, 0u);
  EXPECT_EQ(memory.stats().alloc_failures, 1u);
}

TEST(Watermarks, KernelCallsTheOomHookWhenConfigured) {
  SeededChoices choices(1);
  MemConfig config = small_config();
  config.oom_kill = true;
  config.reclaim_retries = 2;
  Memory memory(config, choices);
  std::vector<Page*> victim = fill_to(memory, memory.min_pages());
  int calls = 0;
  memory.set_oom_hook([&] {
    ++calls;
    if (victim.empty()) return false;
    for (int i = 0; i < 8 && !victim.empty(); ++i) {  // the "killed process" frees its memory
      memory.free_pages(victim.back(), 0);
      victim.pop_back();
    }
    return true;
  });
  Page* page = memory.alloc_pages(gfp::kKernel, 0, Site{"kmalloc"});
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(memory.stats().oom_kills, 1u);
  EXPECT_EQ(memory.stats().direct_reclaims, 2u);
  // Costly orders never OOM-kill.
  fill_to(memory, memory.min_pages());
  EXPECT_EQ(memory.alloc_pages(gfp::kKernel, kCostlyOrder + 1, Site{"costly"}), nullptr);
  EXPECT_EQ(calls, 1);
  // A "kill" that frees nothing is no progress: the allocation fails instead of looping.
  memory.set_oom_hook([&] {
    ++calls;
    return true;
  });
  EXPECT_EQ(memory.alloc_pages(gfp::kKernel, 0, Site{"kmalloc"}), nullptr);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(memory.stats().oom_kills, 1u);
}

TEST(Watermarks, NofailWithNobodyToWaitForIsAFailure) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  fill_to(memory, memory.min_pages());
  try {
    memory.alloc_pages(gfp::kKernel | gfp::kNofail, 0, Site{"nofail"});
    FAIL() << "expected mem.nofail_stuck";
  } catch (const FailureError& error) {
    EXPECT_EQ(error.failure().check, "mem.nofail_stuck");
    EXPECT_EQ(error.failure().site, "nofail");
  }
}

TEST(Reclaim, NofailLoopsUntilAnotherThreadFreesAPage) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  std::vector<Page*> held = fill_to(memory, memory.min_pages());
  Page* got = nullptr;
  uint64_t got_at_ms = 0;
  sched::Scheduler scheduler(choices, quiet_options());
  scheduler.spawn("nofail", [&] {
    got = memory.alloc_pages(gfp::kKernel | gfp::kNofail, 0, Site{"nofail"});
    got_at_ms = sched::now_ms();
  });
  scheduler.spawn("freer", [&] {
    sched::msleep(50);
    memory.free_pages(held.back(), 0);
    held.pop_back();
  });
  const sched::RunResult result = scheduler.run();
  ASSERT_TRUE(result.ok()) << result.failure->headline() << " " << result.failure->message;
  ASSERT_NE(got, nullptr);
  EXPECT_GE(got_at_ms, 50u);
  EXPECT_GT(memory.stats().nofail_rounds, 0u);
  EXPECT_CONSISTENT(memory);
}

TEST(Reclaim, DirectReclaimOnAGreenThreadSleepsVirtualTime) {
  SeededChoices choices(1);
  MemConfig config = small_config();
  config.reclaim_sleep_ms = 5;
  Memory memory(config, choices);
  FakeRmap rmap(memory);
  memory.set_rmap_ops(&rmap);
  for (int i = 0; i < 10; ++i) rmap.map_new();
  std::vector<Page*> held = fill_to(memory, memory.min_pages());
  uint64_t before = 0, after = 0;
  Page* page = nullptr;
  sched::Scheduler scheduler(choices, quiet_options());
  scheduler.spawn("allocator", [&] {
    before = sched::now_ms();
    page = memory.alloc_pages(gfp::kKernel, 0, Site{"kmalloc"});
    after = sched::now_ms();
  });
  const sched::RunResult result = scheduler.run();
  ASSERT_TRUE(result.ok()) << result.failure->headline();
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(after - before, 5u) << "one throttled round";
  EXPECT_EQ(memory.stats().swap_outs, 10u);
}

TEST(Reclaim, KswapdWakesBelowLowAndRestoresHigh) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);  // low 40, high 48
  FakeRmap rmap(memory);
  memory.set_rmap_ops(&rmap);
  for (int i = 0; i < 100; ++i) rmap.map_new();
  std::vector<Page*> held = fill_to(memory, memory.low_pages() + 2);
  uint64_t free_after = 0;
  sched::Scheduler scheduler(choices, quiet_options());
  memory.start_kswapd(scheduler);
  scheduler.spawn("allocator", [&] {
    // Fast-path allocations down to low, then one more wakes kswapd.
    for (int i = 0; i < 6; ++i) ASSERT_NE(memory.alloc_pages(gfp::kNowait, 0, Site{"nowait"}), nullptr);
    EXPECT_LT(memory.nr_free_pages(), memory.low_pages());
    EXPECT_EQ(memory.stats().kswapd_wakeups, 1u);
    sched::msleep(10);  // let kswapd run
    free_after = memory.nr_free_pages();
  });
  const sched::RunResult result = scheduler.run();
  ASSERT_TRUE(result.ok()) << result.failure->headline() << " " << result.failure->message;
  EXPECT_GE(free_after, memory.high_pages());
  EXPECT_EQ(memory.stats().kswapd_runs, 1u);
  EXPECT_EQ(memory.stats().direct_reclaims, 0u);
  EXPECT_GT(memory.stats().swap_outs, 0u);
  EXPECT_CONSISTENT(memory);
}

TEST(Reclaim, KernelAllocationUnderASpinLockIsCaught) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  sched::SpinLock ptl("mem_test.ptl");
  sched::Scheduler scheduler(choices, quiet_options());
  scheduler.spawn("atomic_alloc", [&] {
    ptl.lock();
    Page* ok = memory.alloc_pages(gfp::kNowait, 0, Site{"nowait_under_ptl"});  // legal
    EXPECT_NE(ok, nullptr);
    memory.alloc_pages(gfp::kKernel, 0, Site{"kernel_under_ptl"});
    ptl.unlock();
  });
  const sched::RunResult result = scheduler.run();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->check, "sched.might_sleep");
  EXPECT_EQ(result.failure->site, "kernel_under_ptl");
  EXPECT_NE(result.failure->message.find("sleeping function called from invalid context"), std::string::npos);
}

TEST(Reclaim, KernelAllocationUnderALockReclaimTakesIsCaught) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  FakeRmap rmap(memory);
  sched::Scheduler scheduler(choices, quiet_options());
  scheduler.spawn("split", [&] {
    rmap.anon_vma_lock.down_write();
    memory.alloc_pages(gfp::kNowait, 0, Site{"nowait_under_anon_vma"});  // legal: no reclaim
    memory.alloc_pages(gfp::kKernel, 0, Site{"kernel_under_anon_vma"});
    rmap.anon_vma_lock.up_write();
  });
  const sched::RunResult result = scheduler.run();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->check, "lockdep.reclaim");
  EXPECT_EQ(result.failure->site, "kernel_under_anon_vma");
  EXPECT_NE(result.failure->message.find("mem_test.anon_vma"), std::string::npos);
}

TEST(Reclaim, SameSeedSameTraceHash) {
  auto run = [](uint64_t seed) {
    SeededChoices choices(seed);
    FaultPlan plan;
    plan.set_rule("*", GfpClass::Nowait, FaultRule{.probability = 0.2});
    Memory memory(small_config(), choices, &plan);
    FakeRmap rmap(memory);
    memory.set_rmap_ops(&rmap);
    sched::SchedulerOptions options;
    options.strategy = sched::StrategyConfig::preempt(0.3);
    sched::Scheduler scheduler(choices, options);
    memory.start_kswapd(scheduler);
    for (int t = 0; t < 3; ++t) {
      // Anonymous pages pile up (only reclaim frees them) while kernel blocks come and go.
      scheduler.spawn("worker", [&memory, &rmap, t] {
        std::vector<std::pair<Page*, unsigned>> blocks;
        for (int i = 0; i < 1000; ++i) {
          rmap.map_new(t == 0 ? gfp::kNowait | gfp::kMovable : gfp::kKernel | gfp::kMovable);
          const unsigned order = static_cast<unsigned>(i % 3);
          if (Page* page = memory.alloc_pages(gfp::kKernel, order, Site{"kmalloc"})) blocks.emplace_back(page, order);
          if (blocks.size() > 8) {
            memory.free_pages(blocks.front().first, blocks.front().second);
            blocks.erase(blocks.begin());
          }
        }
        for (auto [page, order] : blocks) memory.free_pages(page, order);
      });
    }
    const sched::RunResult result = scheduler.run();
    EXPECT_TRUE(result.ok()) << result.failure->headline() << " " << result.failure->message;
    EXPECT_CONSISTENT(memory);
    EXPECT_GT(memory.stats().swap_outs, 100u);
    EXPECT_GT(memory.stats().kswapd_runs, 0u);
    return result.trace_hash;
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8));
}

}  // namespace
}  // namespace mmt::mem
