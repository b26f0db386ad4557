// Swap ptes in the VMA manager: reclaim turns ptes into swap ptes, and every operation
// that moves, copies or drops ptes carries them along — fork shares a slot by bumping
// its count, mremap moves them, a fault reads one back, munmap and exit free them.
#include <cerrno>

#include "vma_test_util.h"

namespace mmt::vma::testing {

namespace {
constexpr unsigned long kRW = PROT_READ | PROT_WRITE;
constexpr unsigned long kFixed = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;

// Picture of which pages are present (P), swapped (s) or neither (.).
std::string residency(Mm& mm, unsigned long pages) {
  std::string out;
  for (unsigned long i = 0; i < pages; ++i) {
    const unsigned long vpn = page_at(i) >> kPageShift;
    out += mm.ptes.count(vpn) ? 'P' : mm.swap_ptes.count(vpn) ? 's' : '.';
  }
  return out;
}
}  // namespace

TEST(VmaSwap, SwapPtesFollowForkMremapFaultAndExit) {
  World w;
  mem::Memory& memory = w.memory;
  Mm mm(w.context);
  ASSERT_EQ(vm_mmap(mm, page_at(0), 6 * kPageSize, kRW, kFixed), static_cast<long>(page_at(0)));
  for (unsigned long i = 0; i < 6; ++i) ASSERT_EQ(handle_mm_fault(mm, page_at(i), true), 0);
  EXPECT_EQ(residency(mm, 8), "PPPPPP..");

  // Reclaim takes the whole batch: every pte becomes a swap pte, one slot each; then
  // pages 4 and 5 are faulted back in, which frees their slots.
  EXPECT_EQ(memory.shrink_lru(6, Site{"test_reclaim"}), 6u);
  EXPECT_EQ(residency(mm, 8), "ssssss..");
  EXPECT_EQ(mm.rss, 0u);
  EXPECT_EQ(memory.swap_slots_used(), 6u);
  ASSERT_EQ(handle_mm_fault(mm, page_at(4), true), 0);
  ASSERT_EQ(handle_mm_fault(mm, page_at(5), false), 0);
  EXPECT_EQ(residency(mm, 8), "ssssPP..");
  EXPECT_EQ(mm.rss, 2u);
  EXPECT_EQ(memory.swap_slots_used(), 4u);
  EXPECT_EQ(memory.stats().swap_ins, 2u);
  expect_consistent(w.context, {&mm});

  // fork shares each slot: count 2.
  int error = 0;
  std::unique_ptr<Mm> child = dup_mm(mm, &error);
  ASSERT_TRUE(child) << error;
  EXPECT_EQ(residency(*child, 8), "ssssPP..");
  for (const auto& [vpn, entry] : child->swap_ptes) EXPECT_EQ(memory.swap_count(entry), 2u);
  EXPECT_EQ(memory.swap_slots_used(), 4u);

  // The child faults page 1 back in: its own page, one reference fewer on the slot.
  const mem::SwapEntry entry1 = child->swap_ptes.at(page_at(1) >> kPageShift);
  ASSERT_EQ(handle_mm_fault(*child, page_at(1), false), 0);
  EXPECT_EQ(residency(*child, 8), "sPssPP..");
  EXPECT_EQ(memory.swap_count(entry1), 1u) << "the parent's swap pte still holds it";
  EXPECT_EQ(memory.stats().swap_ins, 3u);
  expect_consistent(w.context, {&mm, child.get()});

  // The parent moves its mapping: swap ptes move with the present ones.
  const long moved = do_mremap(mm, page_at(0), 6 * kPageSize, 8 * kPageSize, MREMAP_MAYMOVE, 0);
  ASSERT_GT(moved, 0);
  unsigned long swapped = 0;
  for (const auto& [vpn, e] : mm.swap_ptes) {
    EXPECT_GE(vpn << kPageShift, static_cast<unsigned long>(moved));
    ++swapped;
  }
  EXPECT_EQ(swapped, 4u);
  EXPECT_EQ(mm.rss, 2u);
  expect_consistent(w.context, {&mm, child.get()});

  // munmap of the child's swapped pages drops its references; slots held only by the
  // parent stay.
  ASSERT_EQ(vm_munmap(*child, page_at(0), 4 * kPageSize), 0);
  EXPECT_EQ(residency(*child, 8), "....PP..");
  EXPECT_EQ(memory.swap_slots_used(), 4u);
  for (const auto& [vpn, e] : mm.swap_ptes) EXPECT_EQ(memory.swap_count(e), 1u);

  exit_mmap(mm);
  EXPECT_EQ(memory.swap_slots_used(), 0u) << "exit frees every slot";
  exit_mmap(*child);
  EXPECT_EQ(memory.lru_size(), 0u);
  auto failure = memory.check_consistency();
  EXPECT_FALSE(failure.has_value()) << failure->message;
}

TEST(VmaSwap, SwapInFailureLeavesTheSwapPte) {
  World w;
  Mm mm(w.context);
  ASSERT_EQ(vm_mmap(mm, page_at(0), 2 * kPageSize, kRW, kFixed), static_cast<long>(page_at(0)));
  ASSERT_EQ(handle_mm_fault(mm, page_at(0), true), 0);
  ASSERT_EQ(w.memory.shrink_lru(1, Site{"test_reclaim"}), 1u);
  EXPECT_EQ(residency(mm, 2), "s.");
  // Every allocation fails from here: the fault returns -ENOMEM and the contents stay
  // in swap.
  mem::FaultRule always;
  always.probability = 1.0;
  w.plan.set_rule("*", mem::GfpClass::Kernel, always);
  EXPECT_EQ(handle_mm_fault(mm, page_at(0), true), -ENOMEM);
  EXPECT_EQ(residency(mm, 2), "s.");
  EXPECT_EQ(w.memory.swap_slots_used(), 1u);
  expect_consistent(w.context, {&mm});
  w.plan.clear();
  ASSERT_EQ(handle_mm_fault(mm, page_at(0), true), 0);
  EXPECT_EQ(residency(mm, 2), "P.");
  EXPECT_EQ(w.memory.swap_slots_used(), 0u);
  exit_mmap(mm);
}

}  // namespace mmt::vma::testing
