// File-backed mappings: file references, i_mmap, the shm-like attach count kept by
// ->open/->close, the merge rules for file offsets and for VMAs with ->close, and faults
// through the page cache. Each step is drawn as the address space it leaves (one letter
// per VMA, '.' unmapped; page 0 is kBase).
#include <cerrno>
#include <vector>

#include <fmt/format.h>

#include "file_test_util.h"
#include "mmtorture/core/defects.h"
#include "mmtorture/vma/alloc_sites.h"

namespace mmt::vma::testing {

namespace {
void expect_files_valid(World& w) {
  auto failure = validate_files(w.context);
  EXPECT_FALSE(failure.has_value()) << failure->check << ": " << failure->message << "\n" << failure->dump;
}
}  // namespace

TEST(VmaFile, MmapSplitAndUnmapKeepTheFileCounts) {
  World w;
  Mm mm(w.context);
  ASSERT_EQ(shm(w)->mmap_ops, &kShmVmOps);
  ASSERT_EQ(map(mm, shm(w), 0, 8, 0), static_cast<long>(page_at(0)));
  EXPECT_EQ(picture(mm, 10), "AAAAAAAA..");
  Vma* vma = vma_lookup(mm, page_at(0));
  EXPECT_EQ(vma->vm_file, shm(w));
  EXPECT_EQ(vma->vm_ops, &kShmVmOps);
  EXPECT_EQ(vma->vm_flags & (VM_SHARED | VM_MAYSHARE), VM_SHARED | VM_MAYSHARE);
  EXPECT_EQ(shm(w)->refcount, 2);  // its own + the VMA's
  EXPECT_EQ(shm(w)->attach, 1);    // shm_mmap opened it
  // A split: the new part holds a reference and is opened.
  ASSERT_EQ(do_mprotect(mm, page_at(2), 2 * kPageSize, PROT_READ), 0);
  EXPECT_EQ(picture(mm, 10), "AABBCCCC..");
  EXPECT_EQ(shm(w)->refcount, 4);
  EXPECT_EQ(shm(w)->attach, 3);
  EXPECT_EQ(shm(w)->i_mmap.size(), 3u);
  EXPECT_EQ(vma_lookup(mm, page_at(4))->vm_pgoff, 4u);  // the file offset follows the split
  expect_files_valid(w);
  // munmap closes and puts what it removes.
  ASSERT_EQ(vm_munmap(mm, page_at(1), 4 * kPageSize), 0);
  EXPECT_EQ(picture(mm, 10), "A....BBB..");
  EXPECT_EQ(shm(w)->refcount, 3);
  EXPECT_EQ(shm(w)->attach, 2);
  expect_consistent(w.context, {&mm});
  expect_files_valid(w);
  exit_mmap(mm);
  EXPECT_EQ(shm(w)->refcount, 1);
  EXPECT_EQ(shm(w)->attach, 0);
  EXPECT_TRUE(shm(w)->i_mmap.empty());
}

TEST(VmaFile, NeighboursMergeOnlyAtContiguousFileOffsets) {
  World w;
  Mm mm(w.context);
  ASSERT_EQ(map(mm, plain(w), 0, 2, 10), static_cast<long>(page_at(0)));
  // The next two file pages right after: one VMA.
  ASSERT_EQ(map(mm, plain(w), 2, 2, 12), static_cast<long>(page_at(2)));
  EXPECT_EQ(picture(mm, 6), "AAAA..");
  // Another offset, the same file: no merge (the anonymous linear rule does not apply).
  ASSERT_EQ(map(mm, plain(w), 4, 2, 4), static_cast<long>(page_at(4)));
  EXPECT_EQ(picture(mm, 6), "AAAABB");
  // Another file at a contiguous offset: no merge either.
  ASSERT_EQ(map(mm, shm(w), 6, 1, 6), static_cast<long>(page_at(6)));
  EXPECT_EQ(picture(mm, 8), "AAAABBC.");
  // Anonymous memory next to a file mapping never merges with it.
  ASSERT_EQ(vm_mmap(mm, page_at(7), kPageSize, kRW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED),
            static_cast<long>(page_at(7)));
  EXPECT_EQ(picture(mm, 8), "AAAABBCD");
  EXPECT_EQ(plain(w)->refcount, 3);
  expect_consistent(w.context, {&mm});
  expect_files_valid(w);
  exit_mmap(mm);
}

TEST(VmaFile, AVmaWithCloseIsNeverRemovedByAMerge) {
  World w;
  Mm mm(w.context);
  // The reproducer's shape (fc0c8f9089c2): a shm mapping split by mprotect, then the
  // middle part made to match its neighbours again.
  ASSERT_EQ(map(mm, shm(w), 0, 6, 0), static_cast<long>(page_at(0)));
  ASSERT_EQ(do_mprotect(mm, page_at(2), 2 * kPageSize, PROT_READ), 0);
  EXPECT_EQ(picture(mm, 6), "AABBCC");
  ASSERT_EQ(do_mprotect(mm, page_at(2), 2 * kPageSize, kRW), 0);
  // No merge removes B (nor C): the three VMAs stay, B changed in place.
  EXPECT_EQ(picture(mm, 6), "AABBCC");
  EXPECT_EQ(vma_lookup(mm, page_at(2))->vm_flags & VM_ACCESS_FLAGS, VM_READ | VM_WRITE);
  EXPECT_EQ(shm(w)->attach, 3);
  // Case 7's shape (prev matches, next does not): no merge either.
  ASSERT_EQ(do_mprotect(mm, page_at(4), 2 * kPageSize, PROT_READ), 0);
  ASSERT_EQ(do_mprotect(mm, page_at(2), 2 * kPageSize, PROT_READ | PROT_EXEC), 0);
  ASSERT_EQ(do_mprotect(mm, page_at(2), 2 * kPageSize, kRW), 0);
  EXPECT_EQ(picture(mm, 6), "AABBCC");
  EXPECT_EQ(shm(w)->attach, 3);
  // A merge that removes nothing is allowed: part of B joins A (case 4).
  ASSERT_EQ(do_mprotect(mm, page_at(2), 2 * kPageSize, PROT_READ), 0);
  ASSERT_EQ(do_mprotect(mm, page_at(2), kPageSize, kRW), 0);
  EXPECT_EQ(picture(mm, 6), "AAABCC");
  EXPECT_EQ(shm(w)->attach, 3);
  expect_consistent(w.context, {&mm});
  expect_files_valid(w);
  // The same steps on a plain file merge all the way back.
  Mm other(w.context);
  ASSERT_EQ(map(other, plain(w), 0, 6, 0), static_cast<long>(page_at(0)));
  ASSERT_EQ(do_mprotect(other, page_at(2), 2 * kPageSize, PROT_READ), 0);
  ASSERT_EQ(do_mprotect(other, page_at(2), 2 * kPageSize, kRW), 0);
  EXPECT_EQ(picture(other, 6), "AAAAAA");
  EXPECT_EQ(plain(w)->refcount, 2);
  expect_files_valid(w);
  exit_mmap(other);
  exit_mmap(mm);
}

TEST(VmaFile, MmapBetweenTwoShmVmasGrowsPrevOnly) {
  World w;
  Mm mm(w.context);
  ASSERT_EQ(map(mm, shm(w), 0, 2, 0), static_cast<long>(page_at(0)));
  ASSERT_EQ(map(mm, shm(w), 3, 2, 3), static_cast<long>(page_at(3)));
  EXPECT_EQ(picture(mm, 5), "AA.BB");
  // Filling the hole at the offset between them: merging both would remove next.
  ASSERT_EQ(map(mm, shm(w), 2, 1, 2), static_cast<long>(page_at(2)));
  EXPECT_EQ(picture(mm, 5), "AAABB");
  EXPECT_EQ(shm(w)->attach, 2);
  // A plain file merges all three into one.
  ASSERT_EQ(map(mm, plain(w), 8, 2, 0), static_cast<long>(page_at(8)));
  ASSERT_EQ(map(mm, plain(w), 11, 2, 3), static_cast<long>(page_at(11)));
  ASSERT_EQ(map(mm, plain(w), 10, 1, 2), static_cast<long>(page_at(10)));
  EXPECT_EQ(picture(mm, 13), "AAABB...CCCCC");
  EXPECT_EQ(plain(w)->refcount, 2);
  expect_consistent(w.context, {&mm});
  expect_files_valid(w);
  exit_mmap(mm);
}

TEST(VmaFile, CanaryMergeRemovesVmaWithCloseLeaksTheAttachCount) {
  DefectScope defect({Defect::MergeRemovesVmaWithClose});
  World w;
  Mm mm(w.context);
  ASSERT_EQ(map(mm, shm(w), 0, 6, 0), static_cast<long>(page_at(0)));
  ASSERT_EQ(do_mprotect(mm, page_at(2), 2 * kPageSize, PROT_READ), 0);
  ASSERT_EQ(do_mprotect(mm, page_at(4), 2 * kPageSize, PROT_EXEC), 0);
  // Case 7: B merges into A and goes without ->close.
  ASSERT_EQ(do_mprotect(mm, page_at(2), 2 * kPageSize, kRW), 0);
  EXPECT_EQ(picture(mm, 6), "AAAABB");
  auto failure = validate_files(w.context);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->check, "vma.file_attach");
  EXPECT_NE(failure->message.find("attach count 3 but 2 VMAs"), std::string::npos) << failure->message;
  // Put the count right by hand so the world tears down cleanly.
  --shm(w)->attach;
  expect_files_valid(w);
  exit_mmap(mm);
}

TEST(VmaFile, ForkAndMremapOpenTheirCopies) {
  World w;
  Mm parent(w.context);
  ASSERT_EQ(map(parent, shm(w), 0, 4, 8), static_cast<long>(page_at(0)));
  int error = 0;
  auto child = dup_mm(parent, &error);
  ASSERT_TRUE(child);
  EXPECT_EQ(shm(w)->refcount, 3);
  EXPECT_EQ(shm(w)->attach, 2);
  // mremap moves the child's mapping: the copy is opened, the old VMA closed.
  const long moved =
      do_mremap(*child, page_at(0), 4 * kPageSize, 6 * kPageSize, MREMAP_MAYMOVE | MREMAP_FIXED, page_at(20));
  ASSERT_EQ(moved, static_cast<long>(page_at(20)));
  Vma* copy = vma_lookup(*child, page_at(20));
  EXPECT_EQ(copy->vm_file, shm(w));
  EXPECT_EQ(copy->vm_pgoff, 8u);
  EXPECT_EQ(shm(w)->refcount, 3);
  EXPECT_EQ(shm(w)->attach, 2);
  expect_consistent(w.context, {&parent, child.get()});
  expect_files_valid(w);
  exit_mmap(*child);
  EXPECT_EQ(shm(w)->attach, 1);
  exit_mmap(parent);
  EXPECT_EQ(shm(w)->refcount, 1);
}

TEST(VmaFile, SharedFaultsMapTheCachePageAndPrivateWritesCopyIt) {
  World w;
  Mm a(w.context);
  Mm b(w.context);
  ASSERT_EQ(map(a, plain(w), 0, 4, 0), static_cast<long>(page_at(0)));
  ASSERT_EQ(map(b, plain(w), 4, 4, 0), static_cast<long>(page_at(4)));
  ASSERT_EQ(map(b, plain(w), 0, 4, 0, kPrivateFixed), static_cast<long>(page_at(0)));
  // A shared write fault: the cache page, writable.
  ASSERT_EQ(handle_mm_fault(a, page_at(1), true), 0);
  mem::Page* cached = plain(w)->cache.at(1);
  EXPECT_EQ(a.ptes.at(page_at(1) >> kPageShift).page, cached);
  EXPECT_TRUE(a.ptes.at(page_at(1) >> kPageShift).writable);
  EXPECT_EQ(cached->mapping, plain(w));
  // Another mm's shared mapping of the same page maps the same frame.
  ASSERT_EQ(handle_mm_fault(b, page_at(5), false), 0);
  EXPECT_EQ(b.ptes.at(page_at(5) >> kPageShift).page, cached);
  EXPECT_FALSE(b.ptes.at(page_at(5) >> kPageShift).writable);
  ASSERT_EQ(handle_mm_fault(b, page_at(5), true), 0);  // wp_page_shared
  EXPECT_TRUE(b.ptes.at(page_at(5) >> kPageShift).writable);
  // A private read maps the cache page read-only; a write then copies it.
  ASSERT_EQ(handle_mm_fault(b, page_at(1), false), 0);
  EXPECT_EQ(b.ptes.at(page_at(1) >> kPageShift).page, cached);
  EXPECT_EQ(cached->mapcount, 3);
  ASSERT_EQ(handle_mm_fault(b, page_at(1), true), 0);
  mem::Page* copy = b.ptes.at(page_at(1) >> kPageShift).page;
  EXPECT_NE(copy, cached);
  EXPECT_EQ(copy->mapping, nullptr);
  EXPECT_TRUE(copy->test(mem::PG_anon));
  EXPECT_EQ(copy->index, 1u);
  EXPECT_EQ(cached->mapcount, 2);
  // A private write with nothing mapped copies at once (do_cow_fault).
  ASSERT_EQ(handle_mm_fault(b, page_at(2), true), 0);
  EXPECT_EQ(b.ptes.at(page_at(2) >> kPageShift).page->mapping, nullptr);
  EXPECT_EQ(plain(w)->cache.count(2), 1u);
  // Past the file's end: SIGBUS.
  ASSERT_EQ(map(a, plain(w), 8, 1, plain(w)->size_pages), static_cast<long>(page_at(8)));
  EXPECT_EQ(handle_mm_fault(a, page_at(8), false), -EFAULT);
  expect_consistent(w.context, {&a, &b});
  // fork shares the file pages; the child's private pages are write-protected.
  int error = 0;
  auto child = dup_mm(b, &error);
  ASSERT_TRUE(child);
  EXPECT_EQ(cached->mapcount, 3);
  expect_consistent(w.context, {&a, &b, child.get()});
  exit_mmap(*child);
  exit_mmap(b);
  exit_mmap(a);
  EXPECT_EQ(cached->mapcount, 0);
}

TEST(VmaFile, APageCacheAllocationFailureIsEnomem) {
  World w;
  Mm mm(w.context);
  ASSERT_EQ(map(mm, shm(w), 0, 2, 0), static_cast<long>(page_at(0)));
  mem::FaultRule always;
  always.probability = 1.0;
  w.plan.set_rule("filemap_fault", mem::GfpClass::Kernel, always);
  EXPECT_EQ(handle_mm_fault(mm, page_at(0), false), -ENOMEM);
  EXPECT_TRUE(mm.ptes.empty());
  EXPECT_TRUE(shm(w)->cache.empty());
  w.plan.set_rule("filemap_fault", mem::GfpClass::Kernel, mem::FaultRule{});
  EXPECT_EQ(handle_mm_fault(mm, page_at(0), false), 0);
  expect_consistent(w.context, {&mm});
  exit_mmap(mm);
}

TEST(VmaFile, ChecksNameABrokenFileCount) {
  World w;
  Mm mm(w.context);
  ASSERT_EQ(map(mm, shm(w), 0, 2, 0), static_cast<long>(page_at(0)));
  ++shm(w)->refcount;
  auto failure = validate_files(w.context);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->check, "vma.file");
  --shm(w)->refcount;
  ++shm(w)->attach;
  failure = validate_files(w.context);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->check, "vma.file_attach");
  --shm(w)->attach;
  expect_files_valid(w);
  exit_mmap(mm);
  // A reference no VMA holds after every mm exited (a missed fput): the leak check
  // names the file.
  rcu_barrier();  // the tree's nodes go back after a grace period
  ++plain(w)->refcount;
  auto leak = vm_teardown_leak(w.context);
  ASSERT_TRUE(leak.has_value());
  EXPECT_EQ(*leak, "file 2 still mapped: refcount 2 (1 is its own), attach count 0, 0 VMAs on i_mmap");
  --plain(w)->refcount;
}

// validate_mm checks a file VMA's link with one comparison (its i_mmap position): the
// check must still fail when the list loses a VMA, whichever one, and when the list's
// last entry fills a gap without its position following it.
TEST(VmaFile, ValidateMmNamesAVmaTheIMmapListLost) {
  World w;
  Mm mm(w.context);
  // Three VMAs of one file (offsets far apart: no merge), linked in this order.
  for (unsigned long i = 0; i < 3; ++i)
    ASSERT_EQ(map(mm, plain(w), i * 2, 1, i * 10), static_cast<long>(page_at(i * 2)));
  auto& i_mmap = plain(w)->i_mmap;
  ASSERT_EQ(i_mmap.size(), 3u);
  const std::vector<Vma*> linked = i_mmap;
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(linked[i]->i_mmap_pos, i);
  expect_consistent(w.context, {&mm});
  for (size_t lost = 0; lost < 3; ++lost) {
    // The list loses one VMA (erased: the ones after it shift down).
    i_mmap.erase(i_mmap.begin() + static_cast<ptrdiff_t>(lost));
    auto failure = validate_mm(mm);
    ASSERT_TRUE(failure.has_value()) << "lost vma#" << linked[lost]->id;
    EXPECT_EQ(failure->check, "vma.validate_mm");
    // The lost one is named, not one whose entry shifted into its place.
    EXPECT_NE(failure->message.find(fmt::format("vma#{} maps file 2 but is not on its i_mmap", linked[lost]->id)),
              std::string::npos)
        << failure->message;
    EXPECT_TRUE(validate_files(w.context).has_value());
    i_mmap = linked;
    expect_consistent(w.context, {&mm});
    expect_files_valid(w);
  }
  // The last entry moved into the first one's place, its position not updated.
  i_mmap = {linked[2], linked[1]};
  auto failure = validate_mm(mm);
  ASSERT_TRUE(failure.has_value());
  EXPECT_NE(failure->message.find(fmt::format("vma#{} maps file 2", linked[0]->id)), std::string::npos)
      << failure->message;
  failure = validate_files(w.context);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->check, "vma.file");
  i_mmap = linked;
  expect_consistent(w.context, {&mm});
  // munmap of the middle one moves the last into its place, positions following.
  ASSERT_EQ(vm_munmap(mm, page_at(2), kPageSize), 0);
  ASSERT_EQ(i_mmap.size(), 2u);
  EXPECT_EQ(i_mmap[0], linked[0]);
  EXPECT_EQ(i_mmap[1], linked[2]);
  EXPECT_EQ(linked[2]->i_mmap_pos, 1u);
  expect_consistent(w.context, {&mm});
  expect_files_valid(w);
  exit_mmap(mm);
}

}  // namespace mmt::vma::testing
