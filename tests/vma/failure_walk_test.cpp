// -ENOMEM at every allocation index: each operation that splits, merges, forks or
// moves is run with the nth allocation failing (FaultPlan fail-nth), for n = 1, 2, ...
// until a run sees no injected failure. Whatever the outcome, the mm stays consistent
// (validate_mm, committed accounting, page frames), a failed operation leaves every
// page's mapping and protection as it was, and nothing leaks.
#include <cerrno>
#include <functional>
#include <map>

#include "vma_test_util.h"

namespace mmt::vma::testing {

namespace {

constexpr unsigned long kRW = PROT_READ | PROT_WRITE;
constexpr unsigned long kFixed = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;

// Page -> protection of everything mapped.
std::map<unsigned long, unsigned long> layout(Mm& mm) {
  std::map<unsigned long, unsigned long> pages;
  MA_STATE(mas, &mm.mm_mt, 0, 0);
  void* entry;
  mas_for_each(&mas, entry, ULONG_MAX) {
    auto* vma = static_cast<Vma*>(entry);
    for (unsigned long a = vma->vm_start; a < vma->vm_end; a += kPageSize)
      pages[a] = vma->vm_flags & (VM_ACCESS_FLAGS | VM_SHARED);
  }
  return pages;
}

// A populated mm with a few differently protected VMAs: "AAABBBCCCDDD" plus a fork-ready
// set of touched pages.
void setup(Mm& mm) {
  vm_mmap(mm, page_at(0), 12 * kPageSize, kRW, kFixed);
  do_mprotect(mm, page_at(3), 3 * kPageSize, PROT_READ);
  do_mprotect(mm, page_at(9), 3 * kPageSize, PROT_READ);
  for (unsigned long i = 0; i < 12; i += 2) handle_mm_fault(mm, page_at(i), false);
  for (unsigned long i = 0; i < 3; ++i) handle_mm_fault(mm, page_at(i), true);
}

// Runs `op` with the nth allocation failing for every n it reaches.
void walk(const char* name, const std::function<long(Mm&)>& op, long success) {
  unsigned failures = 0;
  for (uint64_t nth = 1; nth < 200; ++nth) {
    World w(nth);
    auto mm = std::make_unique<Mm>(w.context);
    setup(*mm);
    const auto before = layout(*mm);
    const uint64_t injected_before = w.plan.stats().injected;
    w.plan.set_fail_nth(nth);
    const long ret = op(*mm);
    w.plan.set_fail_nth(0);
    const bool injected = w.plan.stats().injected > injected_before;
    expect_consistent(w.context, {mm.get()});
    if (::testing::Test::HasFatalFailure()) return void(ADD_FAILURE() << name << " with allocation #" << nth << " failing");
    if (ret == -ENOMEM) {
      EXPECT_EQ(layout(*mm), before) << name << ": -ENOMEM at allocation #" << nth << " changed the layout\n"
                                     << dump_mm(*mm);
    } else {
      EXPECT_EQ(ret, success) << name << " at allocation #" << nth;
    }
    exit_mmap(*mm);
    mm.reset();
    rcu_barrier();
    EXPECT_EQ(w.context.vma_cache().live_objects(), 0u) << name << ": VMAs leaked";
    EXPECT_EQ(w.context.maple_node_cache().live_objects(), 0u) << name << ": maple nodes leaked";
    EXPECT_EQ(w.context.anon_vma_cache().live_objects(), 0u) << name << ": anon_vmas leaked";
    if (ret == -ENOMEM) ++failures;
    if (!injected) {  // the operation never reached the nth allocation
      if (nth > 1) {
        EXPECT_GT(failures, 0u) << name << ": no allocation index made it fail";
      }
      return;
    }
  }
  ADD_FAILURE() << name << " still allocating after 200 steps";
}

}  // namespace

TEST(VmaFailureWalk, MprotectSplit) {
  walk("mprotect split", [](Mm& mm) { return long(do_mprotect(mm, page_at(1), kPageSize, PROT_READ)); }, 0);
}

TEST(VmaFailureWalk, MprotectMerge) {
  walk("mprotect merge", [](Mm& mm) { return long(do_mprotect(mm, page_at(3), 3 * kPageSize, kRW)); }, 0);
}

TEST(VmaFailureWalk, MunmapAcrossVmas) {
  walk("munmap", [](Mm& mm) { return long(vm_munmap(mm, page_at(2), 8 * kPageSize)); }, 0);
}

TEST(VmaFailureWalk, MapFixedOverMiddle) {
  walk("mmap fixed", [](Mm& mm) { return vm_mmap(mm, page_at(4), 4 * kPageSize, PROT_READ, kFixed); },
       static_cast<long>(page_at(4)));
}

TEST(VmaFailureWalk, Fork) {
  walk("fork", [](Mm& mm) {
    int error = 0;
    auto child = dup_mm(mm, &error);
    if (!child) return long(error);
    auto failure = validate_mm(*child);
    EXPECT_FALSE(failure.has_value()) << failure->message;
    exit_mmap(*child);
    return 0L;
  }, 0);
}

TEST(VmaFailureWalk, MremapMove) {
  walk("mremap move", [](Mm& mm) {
    const long ret = do_mremap(mm, page_at(4), kPageSize, 3 * kPageSize, MREMAP_MAYMOVE, 0);
    return ret > 0 ? 1L : ret;
  }, 1);
}

TEST(VmaFailureWalk, PageFault) {
  walk("fault", [](Mm& mm) { return long(handle_mm_fault(mm, page_at(7), false)); }, 0);
}

}  // namespace mmt::vma::testing
