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

// The test world. At teardown, once its processes have exited, it checks that the test
// freed what it allocated: nothing left allocated in the CMA area or pinned
// FOLL_LONGTERM; no vm_area_struct, anon_vma, maple node, LRU page or swap slot
// (vma::vm_teardown_leak, the world job's own leak check); and once the CMA and VM
// contexts are destroyed, every page frame taken since the world was built free again.
// A leak fails the test naming what leaked. A world abandoned on purpose (a failure in
// the middle of a change) is not torn down, so not checked.
struct World {
  explicit World(uint64_t seed = 1, CmaOptions options = {}, unsigned order_per_bit = 0)
      : choices(seed),
        memory(world_memory(), choices, &plan),
        free_at_start(free_frames()),
        owned_context(std::in_place, memory),
        context(*owned_context),
        owned_cma(std::in_place, memory, context, options),
        cma(*owned_cma) {
    area = &cma.cma_declare_area(CmaAreaConfig{"test", kCmaBase, kCmaPages, order_per_bit});
  }
  ~World() {
    mms.clear();
    cma.lru_cache().lru_add_drain_all();  // the LRU batches' references on exited pages
    rcu_barrier();
    if (context.abandoned()) return;
    expect_nothing_leaked();
  }
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  uint64_t free_frames() const { return memory.nr_free_pages() + memory.nr_pcp_pages(); }

  void expect_nothing_leaked() {
    if (!area->allocations.empty() || area->bitmap.weight() != 0)
      ADD_FAILURE() << "test world leaked: " << area->allocations.size() << " CMA allocation(s), "
                    << area->bitmap.weight() << " bit(s) set\n"
                    << cma.dump();
    if (!cma.longterm_pins().empty())
      ADD_FAILURE() << "test world leaked: " << cma.longterm_pins().size() << " FOLL_LONGTERM pin(s)";
    if (auto leak = vma::vm_teardown_leak(context)) ADD_FAILURE() << "test world leaked: " << *leak;
    owned_cma.reset();
    owned_context.reset();  // kmem_cache_destroy: the caches' slab pages go back
    if (const uint64_t free = free_frames(); free != free_at_start)
      ADD_FAILURE() << "test world leaked: " << free_at_start - free << " page frames still allocated";
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
  uint64_t free_at_start;
  std::optional<vma::VmContext> owned_context;
  vma::VmContext& context;
  std::optional<Cma> owned_cma;
  Cma& cma;
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
