// Targeted VMA manager cases, each step drawn as the address space it leaves behind
// (one letter per VMA, '.' unmapped; page 0 is kBase).
#include <cerrno>

#include "vma_test_util.h"

namespace mmt::vma::testing {

namespace {
constexpr unsigned long kRW = PROT_READ | PROT_WRITE;
constexpr unsigned long kFixed = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
}  // namespace

TEST(VmaPicture, MprotectSplitsAndMergesBack) {
  World w;
  Mm mm(w.context);
  ASSERT_EQ(vm_mmap(mm, page_at(0), 8 * kPageSize, kRW, kFixed), static_cast<long>(page_at(0)));
  EXPECT_EQ(picture(mm, 10), "AAAAAAAA..");
  ASSERT_EQ(do_mprotect(mm, page_at(2), 2 * kPageSize, PROT_READ), 0);
  EXPECT_EQ(picture(mm, 10), "AABBCCCC..");
  EXPECT_EQ(mm.map_count, 3u);
  EXPECT_EQ(vma_lookup(mm, page_at(2))->vm_flags & VM_ACCESS_FLAGS, VM_READ);
  // Back to read-write: both neighbours match again, one VMA remains.
  ASSERT_EQ(do_mprotect(mm, page_at(2), 2 * kPageSize, kRW), 0);
  EXPECT_EQ(picture(mm, 10), "AAAAAAAA..");
  EXPECT_EQ(mm.map_count, 1u);
  expect_consistent(w.context, {&mm});
  exit_mmap(mm);
}

TEST(VmaPicture, MprotectMergesIntoPrevWithoutSplitting) {
  // The seed-000 path: mprotect of the start of a VMA whose protection then matches
  // prev moves the boundary with one preallocated store (vma_merge "case 4").
  World w;
  Mm mm(w.context);
  vm_mmap(mm, page_at(0), 8 * kPageSize, kRW, kFixed);
  ASSERT_EQ(do_mprotect(mm, page_at(0), 2 * kPageSize, PROT_READ), 0);
  EXPECT_EQ(picture(mm, 8), "AABBBBBB");
  ASSERT_EQ(do_mprotect(mm, page_at(2), 2 * kPageSize, PROT_READ), 0);
  EXPECT_EQ(picture(mm, 8), "AAAABBBB");
  EXPECT_EQ(mm.map_count, 2u);
  // ...and the end of a VMA merging into next.
  ASSERT_EQ(do_mprotect(mm, page_at(2), 2 * kPageSize, kRW), 0);
  EXPECT_EQ(picture(mm, 8), "AABBBBBB");
  expect_consistent(w.context, {&mm});
  exit_mmap(mm);
}

TEST(VmaPicture, MunmapHolesAndMapFixedFillsThem) {
  World w;
  Mm mm(w.context);
  vm_mmap(mm, page_at(0), 8 * kPageSize, kRW, kFixed);
  ASSERT_EQ(vm_munmap(mm, page_at(3), 2 * kPageSize), 0);
  EXPECT_EQ(picture(mm, 8), "AAA..BBB");
  EXPECT_EQ(mm.total_vm, 6u);
  // Filling the hole with the same protection merges all three.
  ASSERT_EQ(vm_mmap(mm, page_at(3), 2 * kPageSize, kRW, kFixed), static_cast<long>(page_at(3)));
  EXPECT_EQ(picture(mm, 8), "AAAAAAAA");
  EXPECT_EQ(mm.map_count, 1u);
  // MAP_FIXED over the middle with another protection replaces it.
  ASSERT_EQ(vm_mmap(mm, page_at(2), 3 * kPageSize, PROT_READ, kFixed), static_cast<long>(page_at(2)));
  EXPECT_EQ(picture(mm, 8), "AABBBCCC");
  EXPECT_EQ(vm_mmap(mm, page_at(2), kPageSize, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE),
            -EEXIST);
  expect_consistent(w.context, {&mm});
  exit_mmap(mm);
}

TEST(VmaPicture, BadArgumentsLeaveTheMmUnchanged) {
  World w;
  Mm mm(w.context);
  vm_mmap(mm, page_at(0), 4 * kPageSize, kRW, kFixed);
  EXPECT_EQ(vm_mmap(mm, page_at(0) + 1, kPageSize, kRW, kFixed), -EINVAL);
  EXPECT_EQ(vm_mmap(mm, 0, 0, kRW, MAP_PRIVATE | MAP_ANONYMOUS), -EINVAL);
  EXPECT_EQ(vm_mmap(mm, 0, kPageSize, kRW, MAP_PRIVATE), -EBADF);
  EXPECT_EQ(vm_mmap(mm, 0, kPageSize, kRW, MAP_ANONYMOUS), -EINVAL);
  EXPECT_EQ(vm_mmap(mm, 0x1000, kPageSize, kRW, kFixed), -EPERM);
  EXPECT_EQ(vm_munmap(mm, page_at(0) + 7, kPageSize), -EINVAL);
  EXPECT_EQ(vm_munmap(mm, page_at(0), 0), -EINVAL);
  EXPECT_EQ(do_mprotect(mm, page_at(2), 4 * kPageSize, PROT_READ), -ENOMEM);  // runs into a hole
  EXPECT_EQ(do_mremap(mm, page_at(6), kPageSize, 2 * kPageSize, MREMAP_MAYMOVE, 0), -EFAULT);
  EXPECT_EQ(do_mremap(mm, page_at(0), kPageSize, 2 * kPageSize, MREMAP_FIXED, 0), -EINVAL);
  EXPECT_EQ(handle_mm_fault(mm, page_at(5), false), -EFAULT);
  EXPECT_EQ(picture(mm, 8), "AABB....");
  expect_consistent(w.context, {&mm});
  exit_mmap(mm);
}

TEST(VmaPicture, TopDownPlacementBelowMmapBase) {
  World w;
  Mm mm(w.context);
  const long a = vm_mmap(mm, 0, 4 * kPageSize, kRW, MAP_PRIVATE | MAP_ANONYMOUS);
  const long b = vm_mmap(mm, 0, 2 * kPageSize, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
  EXPECT_EQ(static_cast<unsigned long>(a), w.context.config().mmap_base - 4 * kPageSize);
  EXPECT_EQ(static_cast<unsigned long>(b), static_cast<unsigned long>(a) - 2 * kPageSize);
  expect_consistent(w.context, {&mm});
  exit_mmap(mm);
}

TEST(VmaPicture, FaultForkAndCopyOnWrite) {
  World w;
  Mm parent(w.context);
  vm_mmap(parent, page_at(0), 4 * kPageSize, kRW, kFixed);
  for (unsigned long i = 0; i < 4; ++i) ASSERT_EQ(handle_mm_fault(parent, page_at(i), true), 0);
  EXPECT_EQ(parent.rss, 4u);
  int error = 1;
  auto child = dup_mm(parent, &error);
  ASSERT_TRUE(child) << error;
  EXPECT_EQ(picture(*child, 4), "AAAA");
  mem::Page* shared = parent.ptes.at(page_at(1) >> kPageShift).page;
  EXPECT_EQ(shared->mapcount, 2);
  EXPECT_EQ(shared->refcount, 2);
  EXPECT_FALSE(parent.ptes.at(page_at(1) >> kPageShift).writable);  // write-protected for COW
  ASSERT_EQ(handle_mm_fault(*child, page_at(1), true), 0);
  mem::Page* copy = child->ptes.at(page_at(1) >> kPageShift).page;
  EXPECT_NE(copy, shared);
  EXPECT_EQ(shared->mapcount, 1);
  // The parent is the only user left: its write fault reuses the page.
  ASSERT_EQ(handle_mm_fault(parent, page_at(1), true), 0);
  EXPECT_EQ(parent.ptes.at(page_at(1) >> kPageShift).page, shared);
  expect_consistent(w.context, {&parent, child.get()});
  exit_mmap(*child);
  exit_mmap(parent);
  EXPECT_EQ(w.memory.nr_free_pages() + w.context.maple_node_cache().slab_pages() + w.context.vma_cache().slab_pages() +
                w.context.anon_vma_cache().slab_pages(),
            w.memory.nr_pages());
}

TEST(VmaPicture, MremapGrowsInPlaceOrMoves) {
  World w;
  Mm mm(w.context);
  vm_mmap(mm, page_at(0), 2 * kPageSize, kRW, kFixed);
  vm_mmap(mm, page_at(6), 2 * kPageSize, PROT_READ, kFixed);
  ASSERT_EQ(handle_mm_fault(mm, page_at(1), true), 0);
  EXPECT_EQ(picture(mm, 8), "AA....BB");
  ASSERT_EQ(do_mremap(mm, page_at(0), 2 * kPageSize, 4 * kPageSize, 0, 0), static_cast<long>(page_at(0)));
  EXPECT_EQ(picture(mm, 8), "AAAA..BB");
  // No room to grow to 7 pages: without MREMAP_MAYMOVE it fails, with it the mapping moves.
  EXPECT_EQ(do_mremap(mm, page_at(0), 4 * kPageSize, 7 * kPageSize, 0, 0), -ENOMEM);
  const long moved = do_mremap(mm, page_at(0), 4 * kPageSize, 7 * kPageSize, MREMAP_MAYMOVE, 0);
  ASSERT_GT(moved, 0);
  EXPECT_EQ(picture(mm, 8), "......AA");
  // The populated page moved with its mapping.
  EXPECT_EQ(mm.ptes.count((static_cast<unsigned long>(moved) >> kPageShift) + 1), 1u);
  EXPECT_EQ(mm.rss, 1u);
  // Shrinking unmaps the tail.
  ASSERT_EQ(do_mremap(mm, static_cast<unsigned long>(moved), 7 * kPageSize, kPageSize, 0, 0), moved);
  EXPECT_EQ(mm.total_vm, 3u);
  expect_consistent(w.context, {&mm});
  exit_mmap(mm);
}

TEST(VmaPicture, BrkGrowsAndShrinks) {
  World w;
  Mm mm(w.context);
  const unsigned long base = mm.start_brk;
  EXPECT_EQ(do_brk(mm, base + 3 * kPageSize), base + 3 * kPageSize);
  EXPECT_EQ(picture(mm, 4, base), "AAA.");
  EXPECT_EQ(do_brk(mm, base + 4 * kPageSize), base + 4 * kPageSize);
  EXPECT_EQ(picture(mm, 5, base), "AAAA.");
  EXPECT_EQ(mm.map_count, 1u);  // grown in place
  EXPECT_EQ(do_brk(mm, base + kPageSize), base + kPageSize);
  EXPECT_EQ(picture(mm, 5, base), "A....");
  EXPECT_EQ(do_brk(mm, base - kPageSize), base + kPageSize);  // below start_brk: refused
  // A mapping in the way stops the heap from growing into it.
  vm_mmap(mm, base + 3 * kPageSize, kPageSize, kRW, kFixed);
  EXPECT_EQ(do_brk(mm, base + 3 * kPageSize), base + kPageSize);
  expect_consistent(w.context, {&mm});
  exit_mmap(mm);
}

TEST(VmaPicture, AccountingFollowsWritablePrivateMappings) {
  World w;
  Mm mm(w.context);
  vm_mmap(mm, page_at(0), 4 * kPageSize, PROT_READ, kFixed);
  EXPECT_EQ(w.context.committed_pages(), 0u);
  ASSERT_EQ(do_mprotect(mm, page_at(1), kPageSize, kRW), 0);  // charges one page
  EXPECT_EQ(w.context.committed_pages(), 1u);
  vm_mmap(mm, page_at(8), 4 * kPageSize, kRW, kFixed);
  EXPECT_EQ(w.context.committed_pages(), 5u);
  vm_munmap(mm, page_at(8), 2 * kPageSize);
  EXPECT_EQ(w.context.committed_pages(), 3u);
  expect_consistent(w.context, {&mm});
  exit_mmap(mm);
  EXPECT_EQ(w.context.committed_pages(), 0u);
}

}  // namespace mmt::vma::testing
