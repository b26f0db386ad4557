// Test world for the VMA manager: simulated memory, a fault plan, a VmContext, and
// helpers that draw an address-space window as a picture ("AA..BB": one letter per
// VMA, in order of appearance; '.' unmapped) and check the global invariants.
#pragma once

#include <gtest/gtest.h>

#include <memory>
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

struct World {
  explicit World(uint64_t seed = 1, mem::MemConfig config = small_memory())
      : choices(seed), memory(config, choices, &plan), context(memory) {}
  ~World() { rcu_barrier(); }

  SeededChoices choices;
  mem::FaultPlan plan;
  mem::Memory memory;
  VmContext context;
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
    MA_STATE(mas, &mm->mm_mt, 0, 0);
    void* entry;
    mas_for_each(&mas, entry, ULONG_MAX) {
      auto* vma = static_cast<Vma*>(entry);
      if (vma->vm_flags & VM_ACCOUNT) accounted += vma->pages();
    }
  }
  EXPECT_EQ(context.committed_pages(), accounted) << "committed accounting drifted";
  auto mem_failure = context.memory().check_consistency();
  ASSERT_FALSE(mem_failure.has_value()) << mem_failure->message;
}

}  // namespace mmt::vma::testing
