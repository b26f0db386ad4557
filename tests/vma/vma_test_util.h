// Test world for the VMA manager: simulated memory, a fault plan, a VmContext, and
// helpers that draw an address-space window as a picture ("AA..BB": one letter per
// VMA, in order of appearance; '.' unmapped) and check the global invariants.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "mmtorture/core/choice.h"
#include "mmtorture/maple/kernel_api.h"
#include "mmtorture/mem/fault_plan.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/vma/mm.h"
#include "mmtorture/vma/ops.h"

namespace mmt::vma::testing {

inline mem::MemConfig small_memory() {
  mem::MemConfig config;
  config.pages = 16384;
  return config;
}

// Frames the buddy allocator and the per-CPU lists hold free.
inline uint64_t free_frames(const mem::Memory& memory) { return memory.nr_free_pages() + memory.nr_pcp_pages(); }

// The test world. At teardown it checks that the test freed what it allocated: once
// every mm is gone (a test's Mm locals are destroyed before its World) no
// vm_area_struct, anon_vma, maple node, LRU page or swap slot is left
// (vm_teardown_leak, the world job's own leak check), and once the context's caches
// are destroyed every page frame taken since the world was built is free again. A leak
// fails the test naming what leaked. A world abandoned on purpose (a failure in the
// middle of a change, as a failed run leaves it) is not torn down, so not checked.
struct World {
  explicit World(uint64_t seed = 1, mem::MemConfig config = small_memory(), VmConfig vm = {})
      : choices(seed),
        memory(config, choices, &plan),
        free_at_start(free_frames(memory)),
        owned_context(std::in_place, memory, vm),
        context(*owned_context) {}
  ~World() {
    rcu_barrier();
    if (context.abandoned()) return;
    if (auto leak = vm_teardown_leak(context)) ADD_FAILURE() << "test world leaked: " << *leak;
    owned_context.reset();  // kmem_cache_destroy: the caches' slab pages go back
    if (const uint64_t free = free_frames(memory); free != free_at_start)
      ADD_FAILURE() << "test world leaked: " << free_at_start - free << " page frames still allocated";
  }
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  SeededChoices choices;
  mem::FaultPlan plan;
  mem::Memory memory;
  uint64_t free_at_start;
  std::optional<VmContext> owned_context;
  VmContext& context;
};

inline constexpr unsigned long kBase = 0x100000;  // pictures start here

inline std::string picture(Mm& mm, unsigned long pages, unsigned long base = kBase) {
  std::string out;
  const Vma* seen[26] = {};
  unsigned letters = 0;
  for (unsigned long i = 0; i < pages; ++i) {
    const Vma* vma = vma_lookup(mm, base + i * kPageSize);
    if (!vma) {
      out += '.';
      continue;
    }
    unsigned letter = 0;
    while (letter < letters && seen[letter] != vma) ++letter;
    if (letter == letters && letters < 26) seen[letters++] = vma;
    out += static_cast<char>('A' + letter);
  }
  return out;
}

inline unsigned long page_at(unsigned long page) { return kBase + page * kPageSize; }

// validate_mm, plus Committed_AS = sum of VM_ACCOUNT VMA sizes over the given mms.
inline void expect_consistent(VmContext& context, std::initializer_list<Mm*> mms) {
  uint64_t accounted = 0;
  for (Mm* mm : mms) {
    auto failure = validate_mm(*mm);
    ASSERT_FALSE(failure.has_value()) << failure->message << "\n" << failure->dump;
    accounted += vm_account_pages(*mm);
  }
  EXPECT_EQ(context.committed_pages(), accounted) << "committed accounting drifted";
  auto mem_failure = context.memory().check_consistency();
  ASSERT_FALSE(mem_failure.has_value()) << mem_failure->message;
}

}  // namespace mmt::vma::testing
