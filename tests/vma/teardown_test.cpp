// Failures must not mask each other: after the first failure of a
// run no kernel-model code runs over its half-done state, a destructor never throws, a
// VMA freed twice is a named failure (never a destructor run over the poison), and a
// check's report is safe on exactly the corrupt state it reports.
#include <memory>

#include "mmtorture/sched/sched.h"
#include "vma_test_util.h"

namespace mmt::vma::testing {

namespace {

constexpr unsigned long kRW = PROT_READ | PROT_WRITE;

// Puts `vma` back into the tree over [start, end): the state a use after free leaves
// (the tree still naming a VMA that munmap freed).
void store_stale(Mm& mm, const Vma* vma, unsigned long start, unsigned long end) {
  MA_STATE(mas, &mm.mm_mt, start, end - 1);
  ASSERT_EQ(mas_store_gfp(&mas, const_cast<Vma*>(vma), gfp::kKernel), 0);
}

}  // namespace

TEST(VmaTeardown, ValidateMmNamesAFreedVmaInTheTreeAndItsDumpDoesNotReadIt) {
  World w;
  auto mm = std::make_unique<Mm>(w.context);
  ASSERT_EQ(vm_mmap(*mm, page_at(0), 2 * kPageSize, kRW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED),
            static_cast<long>(page_at(0)));
  ASSERT_EQ(vm_mmap(*mm, page_at(4), 2 * kPageSize, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED),
            static_cast<long>(page_at(4)));
  ASSERT_EQ(handle_mm_fault(*mm, page_at(0), true), 0);
  const Vma* freed = vma_lookup(*mm, page_at(4));
  ASSERT_NE(freed, nullptr);
  ASSERT_EQ(vm_munmap(*mm, page_at(4), 2 * kPageSize), 0);
  ASSERT_FALSE(w.context.vma_cache().is_live(freed));
  store_stale(*mm, freed, page_at(4), page_at(6));

  // The dump reads the freed slot's pointer, never the object (whose poisoned fields
  // would be dereferenced as pointers).
  const auto failure = validate_mm(*mm);
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->check, "vma.validate_mm");
  EXPECT_NE(failure->message.find("holds a freed vm_area_struct (freed object"), std::string::npos) << failure->message;
  EXPECT_NE(failure->dump.find("freed object"), std::string::npos) << failure->dump;
  EXPECT_NE(dump_mm(*mm).find("cache 'vm_area_struct'"), std::string::npos);
  EXPECT_NE(dump_mm_dot(*mm, "mm", "mm").find("freed object"), std::string::npos);

  // Tearing it down reaches the freed VMA again: a named double free, raised before its
  // fields are read, and kept by the context because a destructor cannot throw it.
  mm.reset();
  const auto& torn = w.context.destructor_failure();
  ASSERT_TRUE(torn);
  EXPECT_EQ(torn->check, "slab.double_free");
  EXPECT_NE(torn->message.find("cache 'vm_area_struct': object"), std::string::npos) << torn->message;
  EXPECT_TRUE(w.context.abandoned());
}

// A thread parked holding the last reference to an address space whose accounting
// another thread has broken, then a failure: the scheduler unwinds the parked thread
// and ~Mm must not run exit_mmap (whose accounting check would throw inside a
// destructor during unwinding: std::terminate). The run reports its first failure.
TEST(VmaTeardown, UnwindingAfterAFailureDoesNotTearTheAddressSpaceDown) {
  World w;
  SeededChoices choices(1);
  sched::Scheduler scheduler(choices, {});
  bool holding = false;
  scheduler.spawn("holder", [&] {
    auto mm = std::make_shared<Mm>(w.context);
    ASSERT_EQ(vm_mmap(*mm, page_at(0), 8 * kPageSize, kRW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED),
              static_cast<long>(page_at(0)));
    holding = true;
    sched::msleep(1000, Site{"holder: parked"});
  });
  scheduler.spawn("breaker", [&] {
    while (!holding) sched::yield_point(Site{"breaker: waiting"});
    w.context.vm_unacct_memory(w.context.committed_pages());  // exit_mmap would uncharge 8 pages more
    raise_failure("test.first", "breaker", "the run's first failure");
  });
  const sched::RunResult result = scheduler.run();
  ASSERT_TRUE(result.failure);
  EXPECT_EQ(result.failure->check, "test.first");
  EXPECT_FALSE(w.context.destructor_failure());
  // The abandoned address space still holds its VMA: nothing tore it down.
  EXPECT_EQ(w.context.vma_cache().live_objects(), 1u);
  w.context.abandon();  // a failed run's world: never torn down, so not leak-checked
}

// Outside any failure, ~Mm still tears down (tests and simple owners rely on it).
TEST(VmaTeardown, DestructorTearsDownACleanAddressSpace) {
  World w;
  {
    Mm mm(w.context);
    ASSERT_EQ(vm_mmap(mm, page_at(0), 4 * kPageSize, kRW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED),
              static_cast<long>(page_at(0)));
    ASSERT_EQ(handle_mm_fault(mm, page_at(1), true), 0);
  }
  EXPECT_EQ(w.context.vma_cache().live_objects(), 0u);
  EXPECT_EQ(w.context.committed_pages(), 0u);
  EXPECT_FALSE(w.context.destructor_failure());
}

}  // namespace mmt::vma::testing
