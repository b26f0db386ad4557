// Each registered check passes on a clean world and names the corruption planted in a
// dirty one.
#include <gtest/gtest.h>

#include "mmtorture/check/registry.h"
#include "mmtorture/maple/kernel_api.h"
#include "mmtorture/mem/fault_plan.h"
#include "mmtorture/vma/ops.h"

namespace mmt::check {

namespace {

struct Fixture {
  Fixture() : choices(1), memory(config(), choices, &plan), context(memory), mm(std::make_unique<vma::Mm>(context)) {
    vma::vm_mmap(*mm, 0x100000, 8 * vma::kPageSize, vma::PROT_READ | vma::PROT_WRITE,
                 vma::MAP_PRIVATE | vma::MAP_ANONYMOUS | vma::MAP_FIXED);
    for (unsigned long i = 0; i < 4; ++i) vma::handle_mm_fault(*mm, 0x100000 + i * vma::kPageSize, true);
  }
  ~Fixture() {
    mm.reset();
    rcu_barrier();
  }
  static mem::MemConfig config() {
    mem::MemConfig c;
    c.pages = 2048;
    return c;
  }
  CheckSubject subject() { return CheckSubject{memory, context, mm.get(), {mm.get()}}; }
  std::optional<Failure> run(CheckLevel level) { return vm_world_checks().run(level, subject()); }

  SeededChoices choices;
  mem::FaultPlan plan;
  mem::Memory memory;
  vma::VmContext context;
  std::unique_ptr<vma::Mm> mm;
};

}  // namespace

TEST(CheckRegistry, CleanWorldPassesEveryLevel) {
  Fixture f;
  for (CheckLevel level : {CheckLevel::EveryOp, CheckLevel::EveryN, CheckLevel::End})
    EXPECT_FALSE(f.run(level).has_value()) << check_level_name(level);
  EXPECT_GE(vm_world_checks().checks().size(), 7u);
}

TEST(CheckRegistry, ValidateMmCatchesAMiscountedMapCount) {
  Fixture f;
  ++f.mm->map_count;
  auto failure = f.run(CheckLevel::EveryOp);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->check, "vma.validate_mm");
  EXPECT_NE(failure->message.find("map_count"), std::string::npos);
  --f.mm->map_count;
}

TEST(CheckRegistry, FramesCatchARefcountBelowMapcount) {
  Fixture f;
  mem::Page* page = f.mm->ptes.begin()->second.page;
  ++page->mapcount;
  auto failure = f.run(CheckLevel::EveryN);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->check.rfind("mem.", 0), 0u) << failure->check;
  auto end = f.run(CheckLevel::End);
  ASSERT_TRUE(end.has_value());
  --page->mapcount;
}

TEST(CheckRegistry, CommittedAccountingCatchesADrift) {
  Fixture f;
  f.context.vm_acct_memory_force(3);
  auto failure = f.run(CheckLevel::End);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->check, "vma.committed_accounting");
  f.context.vm_unacct_memory(3);
}

TEST(CheckRegistry, PageMapcountCatchesAPteTheCountMisses) {
  Fixture f;
  // A second pte to a page without page_dup_rmap: refcount and mapcount look fine
  // frame by frame, only the cross-check over page tables sees it.
  mem::Page* page = f.mm->ptes.begin()->second.page;
  f.memory.get_page(page);
  const unsigned long vpn = (0x100000 >> vma::kPageShift) + 5;
  f.mm->ptes.emplace(vpn, vma::Pte{page, false});
  ++f.mm->rss;
  auto failure = f.run(CheckLevel::End);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->check, "mem.page_mapcount");
  f.mm->ptes.erase(vpn);
  --f.mm->rss;
  f.memory.put_page(page);
}

TEST(CheckRegistry, SwapCountCatchesASwapPteTheCountMisses) {
  Fixture f;
  ASSERT_EQ(f.memory.shrink_lru(1, Site{"test_reclaim"}), 4u) << "one batch: all four pages";
  ASSERT_EQ(f.mm->swap_ptes.size(), 4u);
  EXPECT_FALSE(f.run(CheckLevel::End).has_value());
  // A copied swap pte without swap_duplicate: validate_mm sees a slot in use, only the
  // cross-check over every mm's swap ptes sees the count is one short.
  const unsigned long vpn = (0x100000 >> vma::kPageShift) + 6;
  f.mm->swap_ptes.emplace(vpn, f.mm->swap_ptes.begin()->second);
  EXPECT_FALSE(f.run(CheckLevel::EveryOp).has_value());
  auto failure = f.run(CheckLevel::End);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->check, "mem.swap_count");
  f.mm->swap_ptes.erase(vpn);
}

TEST(CheckRegistry, TeardownCatchesALeakedSwapSlot) {
  Fixture f;
  ASSERT_EQ(f.memory.shrink_lru(1, Site{"test_reclaim"}), 4u);
  const mem::SwapEntry entry = f.mm->swap_ptes.begin()->second;
  f.memory.swap_duplicate(entry);  // a reference nobody will drop
  f.mm.reset();
  rcu_barrier();
  auto failure = vm_world_checks().run(CheckLevel::Teardown, CheckSubject{f.memory, f.context, nullptr, {}});
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->check, "vma.leak");
  EXPECT_NE(failure->message.find("swap"), std::string::npos) << failure->message;
  f.memory.swap_free(entry);
}

TEST(CheckRegistry, TeardownCatchesALeakedVma) {
  Fixture f;
  void* leaked = f.context.vma_cache().alloc(GFP_KERNEL, Site{"test"});
  f.mm.reset();
  rcu_barrier();
  auto failure = vm_world_checks().run(CheckLevel::Teardown, CheckSubject{f.memory, f.context, nullptr, {}});
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->check, "vma.leak");
  f.context.vma_cache().free(leaked);
  EXPECT_FALSE(vm_world_checks().run(CheckLevel::Teardown, CheckSubject{f.memory, f.context, nullptr, {}}).has_value());
}

}  // namespace mmt::check
