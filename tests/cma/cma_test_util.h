// Test world for the CMA module: 2048 frames (four pageblocks) with a CMA area over
// the upper three, so the CMA area holds more than half of the free memory and the
// buddy allocator lends it to movable (anonymous) allocations first — every populated
// anonymous page lands in CMA and cma_alloc has to migrate it out. Helpers populate
// address spaces and run bodies under the scheduler.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "mmtorture/cma/cma.h"
#include "mmtorture/cma/gup.h"
#include "mmtorture/core/choice.h"
#include "mmtorture/maple/kernel_api.h"
#include "mmtorture/mem/fault_plan.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/sched/sched.h"
#include "mmtorture/vma/mm.h"
#include "mmtorture/vma/ops.h"

namespace mmt::cma::testing {

inline constexpr uint64_t kCmaBase = 512;
inline constexpr uint64_t kCmaPages = 1536;
inline constexpr unsigned long kAddr = 0x400000;

inline mem::MemConfig world_memory(uint64_t pages = 2048) {
  mem::MemConfig config;
  config.pages = pages;
  return config;
}

struct World {
  explicit World(uint64_t seed = 1, CmaOptions options = {}, unsigned order_per_bit = 0)
      : choices(seed), memory(world_memory(), choices, &plan), context(memory), cma(memory, context, options) {
    area = &cma.cma_declare_area(CmaAreaConfig{"test", kCmaBase, kCmaPages, order_per_bit});
  }
  ~World() {
    mms.clear();
    rcu_barrier();
  }

  // A new process with `pages` anonymous pages mapped at kAddr and written (so each is
  // populated, exclusive and — while CMA is most of the free memory — inside the area).
  vma::Mm& process(unsigned long pages) {
    mms.push_back(std::make_unique<vma::Mm>(context));
    vma::Mm& mm = *mms.back();
    const long addr = vma::vm_mmap(mm, kAddr, pages * vma::kPageSize, vma::PROT_READ | vma::PROT_WRITE,
                                   vma::MAP_PRIVATE | vma::MAP_ANONYMOUS | vma::MAP_FIXED);
    EXPECT_EQ(addr, static_cast<long>(kAddr));
    for (unsigned long i = 0; i < pages; ++i) EXPECT_EQ(vma::handle_mm_fault(mm, kAddr + i * vma::kPageSize, true), 0);
    return mm;
  }

  mem::Page* page_at(vma::Mm& mm, unsigned long index) {
    auto it = mm.ptes.find((kAddr >> vma::kPageShift) + index);
    return it == mm.ptes.end() ? nullptr : it->second.page;
  }

  // Everything consistent: CMA invariants (which include the frames) and every mm.
  void expect_consistent() {
    auto failure = cma.check_consistency();
    EXPECT_FALSE(failure.has_value()) << failure->check << ": " << failure->message << "\n" << failure->dump;
    for (auto& mm : mms) {
      auto mm_failure = vma::validate_mm(*mm);
      EXPECT_FALSE(mm_failure.has_value()) << mm_failure->message;
    }
  }

  SeededChoices choices;
  mem::FaultPlan plan;
  mem::Memory memory;
  vma::VmContext context;
  Cma cma;
  CmaArea* area = nullptr;
  std::vector<std::unique_ptr<vma::Mm>> mms;
};

// Runs `body` as the green thread "main" (plus whatever it spawns) and returns the result.
inline sched::RunResult run_threads(World& world, const std::function<void(sched::Scheduler&)>& spawn,
                                    uint64_t hang_ms = 60'000) {
  sched::SchedulerOptions options;
  options.strategy = sched::StrategyConfig::preempt(0.0);
  options.hang_ms = hang_ms;
  sched::Scheduler scheduler(world.choices, options);
  spawn(scheduler);
  return scheduler.run();
}

}  // namespace mmt::cma::testing
