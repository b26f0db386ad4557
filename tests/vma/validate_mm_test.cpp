// validate_mm's page-table half names each way the ptes can disagree with the VMAs: it
// walks the ptes and swap ptes alongside the tree's slots, so each check here is one
// corruption of a consistent address space (undone before the next).
#include <fmt/format.h>

#include <string>

#include "vma_test_util.h"

namespace mmt::vma::testing {

namespace {

constexpr unsigned long kRW = PROT_READ | PROT_WRITE;
constexpr unsigned long kAnonFixed = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;

unsigned long vpn_of(unsigned long page) { return page_at(page) >> kPageShift; }

// validate_mm's failure, which must name `page` (as its subject and in its message)
// and say `what`.
void expect_page_failure(Mm& mm, unsigned long page, const std::string& what) {
  const auto failure = validate_mm(mm);
  ASSERT_TRUE(failure) << what;
  EXPECT_EQ(failure->check, "vma.validate_mm");
  EXPECT_NE(failure->message.find(what), std::string::npos) << failure->message;
  EXPECT_NE(failure->message.find(fmt::format("{:#x}", page_at(page))), std::string::npos) << failure->message;
  EXPECT_EQ(failure->subject.kind, FailureSubject::Kind::Entry);
  EXPECT_EQ(failure->subject.first, page_at(page));
  EXPECT_EQ(failure->subject.last, page_at(page + 1) - 1);
  EXPECT_EQ(failure->subject.mm_id, mm.id());
}

}  // namespace

TEST(ValidateMm, NamesEachPageTableDisagreementWithTheVmas) {
  World w;
  Mm mm(w.context);
  // Pages 0-1 read-write, 4-5 read-only, 8-9 read-write; pages 0 and 8 faulted in.
  ASSERT_EQ(vm_mmap(mm, page_at(0), 2 * kPageSize, kRW, kAnonFixed), static_cast<long>(page_at(0)));
  ASSERT_EQ(vm_mmap(mm, page_at(4), 2 * kPageSize, PROT_READ, kAnonFixed), static_cast<long>(page_at(4)));
  ASSERT_EQ(vm_mmap(mm, page_at(8), 2 * kPageSize, kRW, kAnonFixed), static_cast<long>(page_at(8)));
  ASSERT_EQ(handle_mm_fault(mm, page_at(0), true), 0);
  ASSERT_EQ(handle_mm_fault(mm, page_at(8), true), 0);
  ASSERT_FALSE(validate_mm(mm));
  const Pte faulted = mm.ptes.at(vpn_of(0));

  // A present pte in the hole between the VMAs, and one past the last.
  for (unsigned long page : {2UL, 6UL, 12UL}) {
    mm.ptes[vpn_of(page)] = faulted;
    ++mm.rss;
    expect_page_failure(mm, page, "lies outside every VMA");
    mm.ptes.erase(vpn_of(page));
    --mm.rss;
  }
  ASSERT_FALSE(validate_mm(mm));

  // A writable pte in the read-only VMA.
  mm.ptes[vpn_of(5)] = faulted;
  ++mm.rss;
  expect_page_failure(mm, 5, "in a read-only VMA");
  mm.ptes[vpn_of(5)].writable = false;
  const auto read_only = validate_mm(mm);  // now the rmap check: the page is page 0's
  ASSERT_TRUE(read_only);
  EXPECT_EQ(read_only->subject.first, page_at(5));
  mm.ptes.erase(vpn_of(5));
  --mm.rss;
  ASSERT_FALSE(validate_mm(mm));

  // Swap ptes: outside every VMA, over a present pte (before and after other present
  // ptes in vpn order), and naming an entry no count holds.
  mm.swap_ptes[vpn_of(3)] = mem::SwapEntry{1};
  expect_page_failure(mm, 3, "swap pte at");
  mm.swap_ptes.clear();
  for (unsigned long page : {0UL, 8UL}) {
    mm.swap_ptes[vpn_of(page)] = mem::SwapEntry{1};
    expect_page_failure(mm, page, "has both a present pte and a swap pte");
    mm.swap_ptes.clear();
  }
  mm.swap_ptes[vpn_of(9)] = mem::SwapEntry{1};
  expect_page_failure(mm, 9, "which no count holds");
  mm.swap_ptes.clear();
  ASSERT_FALSE(validate_mm(mm));

  // A VMA whose range no longer matches its tree slot.
  Vma* vma = vma_lookup(mm, page_at(4));
  ASSERT_NE(vma, nullptr);
  vma->vm_end += kPageSize;
  const auto moved = validate_mm(mm);
  ASSERT_TRUE(moved);
  EXPECT_NE(moved->message.find("sits in tree slot"), std::string::npos) << moved->message;
  EXPECT_EQ(moved->subject.first, page_at(4));
  vma->vm_end -= kPageSize;
  EXPECT_FALSE(validate_mm(mm));
}

}  // namespace mmt::vma::testing
