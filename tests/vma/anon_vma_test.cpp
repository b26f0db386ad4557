// anon_vmas as slab objects (mm.h AnonVma): each costs an "anon_vma" slab object whose
// allocation can fail, and goes back when no VMA is linked to it and no member of its
// family names it as root; a failed allocation unwinds the fault or fork that asked.
#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "vma_test_util.h"

namespace mmt::vma::testing {
namespace {

constexpr unsigned long kRW = PROT_READ | PROT_WRITE;
constexpr unsigned long kFixed = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;

uint64_t live_anon_vmas(World& w) { return w.context.anon_vma_cache().live_objects(); }

TEST(AnonVmaSlab, TheFirstFaultAllocatesOneAndTheLastUnlinkFreesIt) {
  World w;
  auto mm = std::make_unique<Mm>(w.context);
  ASSERT_EQ(vm_mmap(*mm, page_at(0), 4 * kPageSize, kRW, kFixed), static_cast<long>(page_at(0)));
  EXPECT_EQ(live_anon_vmas(w), 0u);
  ASSERT_EQ(handle_mm_fault(*mm, page_at(1), true), 0);
  ASSERT_EQ(handle_mm_fault(*mm, page_at(2), true), 0);
  EXPECT_EQ(live_anon_vmas(w), 1u) << "one per VMA, not per page";
  // A split shares it: two VMAs linked, still one object.
  ASSERT_EQ(do_mprotect(*mm, page_at(0), kPageSize, PROT_READ), 0);
  EXPECT_EQ(live_anon_vmas(w), 1u);
  ASSERT_EQ(vm_munmap(*mm, page_at(1), 3 * kPageSize), 0);
  EXPECT_EQ(live_anon_vmas(w), 1u) << "the read-only piece still links it";
  ASSERT_EQ(vm_munmap(*mm, page_at(0), kPageSize), 0);
  EXPECT_EQ(live_anon_vmas(w), 0u);
  expect_consistent(w.context, {mm.get()});
  exit_mmap(*mm);
}

// The family: a child's anon_vma holds a reference on the root, so the root's object
// outlives every child whichever process exits first.
TEST(AnonVmaSlab, AForkedFamilyIsFreedWhicheverProcessExitsFirst) {
  for (const bool parent_first : {true, false}) {
    World w;
    auto parent = std::make_unique<Mm>(w.context);
    ASSERT_EQ(vm_mmap(*parent, page_at(0), 4 * kPageSize, kRW, kFixed), static_cast<long>(page_at(0)));
    ASSERT_EQ(handle_mm_fault(*parent, page_at(0), true), 0);
    int error = 0;
    std::unique_ptr<Mm> child = dup_mm(*parent, &error);
    ASSERT_NE(child, nullptr) << error;
    EXPECT_EQ(live_anon_vmas(w), 2u);
    ASSERT_EQ(handle_mm_fault(*child, page_at(0), true), 0) << "COW in the child";
    expect_consistent(w.context, {parent.get(), child.get()});
    exit_mmap(parent_first ? *parent : *child);
    EXPECT_EQ(live_anon_vmas(w), parent_first ? 2u : 1u)
        << (parent_first ? "the child's VMA still links the root" : "the root stays for the parent");
    exit_mmap(parent_first ? *child : *parent);
    EXPECT_EQ(live_anon_vmas(w), 0u);
  }
}

// A process that forks and exits, generation after generation (a shell running a
// pipeline of forks): fork reuses the anon_vma an exited generation left with no VMA of
// its own and one child, so the chain stops growing at three (the root, which is never
// reused, and two generations that take turns), as the kernel's anon_vma_clone keeps it.
TEST(AnonVmaSlab, ForkReusesAnAbandonedGenerationSoTheChainStaysShort) {
  World w;
  auto current = std::make_unique<Mm>(w.context);
  ASSERT_EQ(vm_mmap(*current, page_at(0), 4 * kPageSize, kRW, kFixed), static_cast<long>(page_at(0)));
  ASSERT_EQ(handle_mm_fault(*current, page_at(0), true), 0);
  const AnonVma* root = vma_lookup(*current, page_at(0))->anon_vma;
  for (int generation = 1; generation <= 20; ++generation) {
    int error = 0;
    std::unique_ptr<Mm> child = dup_mm(*current, &error);
    ASSERT_NE(child, nullptr) << error;
    ASSERT_EQ(handle_mm_fault(*child, page_at(generation % 4), true), 0) << "COW in generation " << generation;
    expect_consistent(w.context, {current.get(), child.get()});
    exit_mmap(*current);
    current = std::move(child);
    const Vma* vma = vma_lookup(*current, page_at(0));
    ASSERT_NE(vma, nullptr);
    EXPECT_LE(vma->anon_vma_chain.size(), 3u) << "generation " << generation;
    EXPECT_EQ(vma->anon_vma_chain.front().anon_vma, root) << "the root stays first";
    EXPECT_NE(vma->anon_vma, root) << "the root is never reused";
    EXPECT_LE(live_anon_vmas(w), 3u) << "generation " << generation;
  }
  exit_mmap(*current);
  EXPECT_EQ(live_anon_vmas(w), 0u);
}

// A parent that stays alive keeps its anon_vma in use: its child gets a new one.
TEST(AnonVmaSlab, ForkOfALiveParentAllocatesTheChildItsOwn) {
  World w;
  auto parent = std::make_unique<Mm>(w.context);
  ASSERT_EQ(vm_mmap(*parent, page_at(0), 4 * kPageSize, kRW, kFixed), static_cast<long>(page_at(0)));
  ASSERT_EQ(handle_mm_fault(*parent, page_at(0), true), 0);
  int error = 0;
  std::unique_ptr<Mm> child = dup_mm(*parent, &error);
  ASSERT_NE(child, nullptr) << error;
  std::unique_ptr<Mm> grandchild = dup_mm(*child, &error);
  ASSERT_NE(grandchild, nullptr) << error;
  const AnonVma* own = vma_lookup(*grandchild, page_at(0))->anon_vma;
  EXPECT_EQ(vma_lookup(*grandchild, page_at(0))->anon_vma_chain.size(), 3u);
  EXPECT_NE(own, vma_lookup(*child, page_at(0))->anon_vma);
  EXPECT_NE(own, vma_lookup(*parent, page_at(0))->anon_vma);
  EXPECT_EQ(live_anon_vmas(w), 3u);
  expect_consistent(w.context, {parent.get(), child.get(), grandchild.get()});
  exit_mmap(*child);
  exit_mmap(*grandchild);
  exit_mmap(*parent);
  EXPECT_EQ(live_anon_vmas(w), 0u);
}

// validate_mm reads both sides of every chain link: a VMA whose anon_vma lost it from
// its list (rmap would no longer find the VMA's pages there) is named.
TEST(AnonVmaSlab, ValidateMmNamesALinkItsAnonVmaDoesNotList) {
  World w;
  auto parent = std::make_unique<Mm>(w.context);
  ASSERT_EQ(vm_mmap(*parent, page_at(0), 4 * kPageSize, kRW, kFixed), static_cast<long>(page_at(0)));
  ASSERT_EQ(handle_mm_fault(*parent, page_at(0), true), 0);
  int error = 0;
  std::unique_ptr<Mm> child = dup_mm(*parent, &error);
  ASSERT_NE(child, nullptr) << error;
  EXPECT_FALSE(validate_mm(*child).has_value());
  Vma* copy = vma_lookup(*child, page_at(0));
  AnonVma* root = copy->anon_vma_chain.front().anon_vma;
  auto& list = root->vmas;
  const auto at = std::find(list.begin(), list.end(), copy);
  ASSERT_NE(at, list.end());
  *at = vma_lookup(*parent, page_at(0));  // the list names another VMA in its place
  const std::optional<Failure> failure = validate_mm(*child);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->check, "vma.validate_mm");
  EXPECT_NE(failure->message.find(fmt::format("anon_vma {} does not list vma#{}", root->id, copy->id)),
            std::string::npos)
      << failure->message;
  *at = copy;
  EXPECT_FALSE(validate_mm(*child).has_value());
  exit_mmap(*child);
  exit_mmap(*parent);
}

TEST(AnonVmaSlab, AFaultThatCannotAllocateItsAnonVmaFailsWithNothingChanged) {
  World w;
  auto mm = std::make_unique<Mm>(w.context);
  ASSERT_EQ(vm_mmap(*mm, page_at(0), 2 * kPageSize, kRW, kFixed), static_cast<long>(page_at(0)));
  w.plan.set_rule("anon_vma", mem::GfpClass::Kernel, mem::FaultRule{.probability = 1.0});
  const uint64_t allocs = w.memory.stats().allocs;
  EXPECT_EQ(handle_mm_fault(*mm, page_at(0), true), -ENOMEM);
  EXPECT_EQ(w.memory.stats().allocs, allocs) << "no page is allocated before the anon_vma";
  EXPECT_EQ(mm->rss, 0u);
  EXPECT_EQ(vma_lookup(*mm, page_at(0))->anon_vma, nullptr);
  EXPECT_EQ(w.context.anon_vma_cache().stats().failures_by_class.kernel, 1u);
  expect_consistent(w.context, {mm.get()});
  w.plan.clear();
  EXPECT_EQ(handle_mm_fault(*mm, page_at(0), true), 0);
  EXPECT_EQ(live_anon_vmas(w), 1u);
  exit_mmap(*mm);
  EXPECT_EQ(live_anon_vmas(w), 0u);
}

// anon_vma_fork failing part-way: the VMAs copied so far (the failing one included,
// already in the child's tree and on its parent's chain) go with the child; the parent
// is untouched and nothing is left charged or allocated.
TEST(AnonVmaSlab, AForkWhoseAnonVmaFailsUnwindsTheChild) {
  World w;
  auto parent = std::make_unique<Mm>(w.context);
  ASSERT_EQ(vm_mmap(*parent, page_at(0), 2 * kPageSize, kRW, kFixed), static_cast<long>(page_at(0)));
  ASSERT_EQ(vm_mmap(*parent, page_at(4), 2 * kPageSize, PROT_READ, kFixed), static_cast<long>(page_at(4)));
  ASSERT_EQ(vm_mmap(*parent, page_at(8), 2 * kPageSize, kRW, kFixed), static_cast<long>(page_at(8)));
  for (unsigned long page : {0ul, 4ul, 8ul}) ASSERT_EQ(handle_mm_fault(*parent, page_at(page), false), 0);
  const uint64_t committed = w.context.committed_pages();
  const uint64_t vmas = w.context.vma_cache().live_objects();
  for (uint64_t nth = 1; nth <= 3; ++nth) {
    // The nth anon_vma_fork fails.
    const mem::FaultRule rule{.probability = 1.0, .space = 88 * (nth - 1) + 1};  // nth - 1 objects of 88 bytes pass
    w.plan.set_rule("anon_vma_alloc", mem::GfpClass::Kernel, rule);
    int error = 0;
    EXPECT_EQ(dup_mm(*parent, &error), nullptr) << nth;
    EXPECT_EQ(error, -ENOMEM);
    EXPECT_EQ(w.context.committed_pages(), committed) << nth;
    EXPECT_EQ(w.context.vma_cache().live_objects(), vmas) << nth;
    EXPECT_EQ(live_anon_vmas(w), 3u) << nth;
    for (unsigned long page : {0ul, 4ul, 8ul}) {
      const Vma* vma = vma_lookup(*parent, page_at(page));
      ASSERT_NE(vma, nullptr);
      EXPECT_EQ(vma->anon_vma->vmas.size(), 1u) << "the dead child's copy is off the chain";
    }
    expect_consistent(w.context, {parent.get()});
  }
  w.plan.clear();
  exit_mmap(*parent);
  rcu_barrier();
  EXPECT_EQ(live_anon_vmas(w), 0u);
  EXPECT_EQ(w.context.vma_cache().live_objects(), 0u);
}

}  // namespace
}  // namespace mmt::vma::testing
