// Per-VMA locks (vma/vma_lock.h): the sequence-count protocol between mmap write
// sections and lock-free faults, VMAs freed only after a grace period, and the checks
// that name each misuse — a VMA changed without vma_start_write, changed under a reader,
// detached without its write lock, used by a fault after it left the tree. And stack
// growth (expand_downwards), which takes the mmap write lock and the VMA's.
#ifdef MMT_SANITIZED
#include <sanitizer/lsan_interface.h>
#endif

#include <cerrno>

#include "mmtorture/core/defects.h"
#include "mmtorture/core/failure.h"
#include "mmtorture/sched/sched.h"
#include "mmtorture/vma/vma_lock.h"
#include "vma_test_util.h"

namespace mmt::vma::testing {

namespace {

constexpr unsigned long kRW = PROT_READ | PROT_WRITE;

VmConfig with_vma_locks() {
  VmConfig config;
  config.per_vma_locks = true;
  return config;
}

// A world whose context runs per-VMA locks.
struct LockWorld : World {
  LockWorld() : World(1, small_memory(), with_vma_locks()) {}
};

// Maps `pages` read-write pages at page_at(0) and faults the first one in, so the VMA
// has its anon_vma (a first fault needs mmap_lock).
Vma* mapped(Mm& mm, unsigned long pages) {
  EXPECT_EQ(vm_mmap(mm, page_at(0), pages * kPageSize, kRW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED),
            static_cast<long>(page_at(0)));
  EXPECT_EQ(handle_mm_fault(mm, page_at(0), true), 0);
  return vma_lookup(mm, page_at(0));
}

std::string check_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const FailureError& error) {
    return error.failure().check;
  }
  return "";
}

}  // namespace

TEST(VmaLock, WriteLockLastsUntilMmapWriteUnlock) {
  LockWorld w;
  Mm mm(w.context);
  Vma* vma = mapped(mm, 4);
  ASSERT_NE(vma, nullptr);
  EXPECT_FALSE(vma_is_write_locked(vma));
  ASSERT_TRUE(vma_start_read(vma));
  vma_end_read(vma);

  mmap_write_lock(mm, Site{"test"});
  vma_start_write(vma);
  EXPECT_TRUE(vma_is_write_locked(vma));
  EXPECT_FALSE(vma_start_read(vma)) << "a reader got a write-locked VMA";
  vma_start_write(vma);  // a second time in the section is a no-op
  mmap_write_unlock(mm);

  EXPECT_FALSE(vma_is_write_locked(vma)) << "mmap_write_unlock ends every VMA write lock";
  ASSERT_TRUE(vma_start_read(vma));
  vma_end_read(vma);
  EXPECT_FALSE(validate_mm(mm).has_value());
}

TEST(VmaLock, LockVmaUnderRcuCountsSuccessAbortAndMiss) {
  LockWorld w;
  Mm mm(w.context);
  ASSERT_EQ(vm_mmap(mm, page_at(0), 4 * kPageSize, kRW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED),
            static_cast<long>(page_at(0)));
  // No anon_vma yet: anon_vma_prepare needs mmap_lock, so the lock-free path gives up.
  EXPECT_EQ(lock_vma_under_rcu(mm, page_at(1)), nullptr);
  EXPECT_EQ(w.context.vma_lock_stats().abort, 1u);
  // That fault falls back to mmap_lock and gives the VMA its anon_vma...
  EXPECT_EQ(handle_mm_fault(mm, page_at(1), true), 0);
  EXPECT_EQ(w.context.vma_lock_stats().abort, 2u);
  // ...so the next one runs under the VMA's own lock.
  EXPECT_EQ(handle_mm_fault(mm, page_at(2), true), 0);
  EXPECT_EQ(w.context.vma_lock_stats().success, 1u);
  EXPECT_EQ(mm.ptes.size(), 2u);
  // Nothing mapped there: a miss, and the mmap_lock path says -EFAULT.
  EXPECT_EQ(handle_mm_fault(mm, page_at(10), false), -EFAULT);
  EXPECT_EQ(w.context.vma_lock_stats().miss, 1u);
  // An access error under the VMA's lock is final.
  EXPECT_EQ(do_mprotect(mm, page_at(0), 4 * kPageSize, PROT_READ), 0);
  EXPECT_EQ(handle_mm_fault(mm, page_at(3), true), -EFAULT);
  EXPECT_EQ(w.context.vma_lock_stats().success, 2u);
  EXPECT_FALSE(validate_mm(mm).has_value());
}

TEST(VmaLock, StartWriteNeedsTheMmapWriteLock) {
  LockWorld w;
  Mm mm(w.context);
  Vma* vma = mapped(mm, 2);
  EXPECT_EQ(check_of([&] { vma_start_write(vma); }), "vma_lock.start_write_without_mmap_lock");
}

TEST(VmaLock, DetachNeedsTheVmaWriteLock) {
  LockWorld w;
  Mm mm(w.context);
  Vma* vma = mapped(mm, 2);
  mmap_write_lock(mm, Site{"test"});
  EXPECT_EQ(check_of([&] { vma_mark_detached(vma); }), "vma_lock.not_write_locked");
  mmap_write_unlock(mm);
}

TEST(VmaLock, ChangeWithoutStartWriteIsReportedAtUnlock) {
  LockWorld w;
  Mm mm(w.context);
  Vma* vma = mapped(mm, 2);
  mmap_write_lock(mm, Site{"test"});
  const unsigned long flags = vma->vm_flags;
  vma->vm_flags &= ~VM_WRITE;  // as an mprotect that forgot vma_start_write
  mmap_write_unlock(mm);
  auto failure = validate_mm(mm);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->check, "vma_lock.modified_without_start_write") << failure->message;
  mm.vma_lock_violation.reset();
  mmap_write_lock(mm, Site{"test"});
  vma_start_write(vma);
  vma->vm_flags = flags;  // the same change with the lock: no complaint
  mmap_write_unlock(mm);
  EXPECT_FALSE(validate_mm(mm).has_value());
}

// The canary: mprotect of a whole VMA, changed in place without vma_start_write.
TEST(VmaLock, MprotectSkippingStartWriteIsReported) {
  LockWorld w;
  Mm mm(w.context);
  mapped(mm, 4);
  {
    DefectScope scope({Defect::MprotectSkipsVmaStartWrite});
    ASSERT_EQ(do_mprotect(mm, page_at(0), 4 * kPageSize, PROT_READ), 0);
  }
  auto failure = validate_mm(mm);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->check, "vma_lock.modified_without_start_write") << failure->message;
}

TEST(VmaLock, ReaderSeesChangeAndDetachUnderItsLock) {
  LockWorld w;
  Mm mm(w.context);
  Vma* vma = mapped(mm, 2);
  Vma* locked = lock_vma_under_rcu(mm, page_at(1));
  ASSERT_EQ(locked, vma);
  const VmaReadSnapshot snapshot = vma_read_snapshot(vma);
  vma_check_read_stable(vma, snapshot, "test");  // nothing changed
  vma->vm_flags &= ~VM_WRITE;
  EXPECT_EQ(check_of([&] { vma_check_read_stable(vma, snapshot, "test"); }), "vma_lock.changed_under_reader");
  vma->vm_flags |= VM_WRITE;
  vma->vm_lock->detached = true;  // as if it had left the tree
  EXPECT_EQ(check_of([&] { vma_check_read_stable(vma, snapshot, "test"); }), "vma_lock.fault_on_detached");
  vma->vm_lock->detached = false;
  vma_end_read(vma);
}

TEST(VmaLock, UnmappedVmaIsFreedOnlyAfterAGracePeriod) {
  LockWorld w;
  Mm mm(w.context);
  Vma* vma = mapped(mm, 2);
  rcu_read_lock();  // a reader that may have found it
  ASSERT_EQ(vm_munmap(mm, page_at(0), 2 * kPageSize), 0);
  EXPECT_TRUE(w.context.vma_cache().is_live(vma)) << "freed under an RCU reader";
  rcu_read_unlock();
  rcu_barrier();
  EXPECT_FALSE(w.context.vma_cache().is_live(vma));
  EXPECT_EQ(w.context.vma_lock_count(), 0u) << "its lock outlived the RCU free";
}

// Until its grace period ends a freed VMA is not back in the slab, whose poison would
// show a write after the free: the RCU callback compares it with what was freed.
TEST(VmaLock, WriteAfterFreeIsCaughtWhenTheGracePeriodEnds) {
#ifdef MMT_SANITIZED
  // The failure is raised before the freed VMA's destructor runs (its fields are what
  // the report is about), so its anon_vma chain is abandoned with it, not leaked.
  __lsan::ScopedDisabler abandoned_vma_is_not_a_leak;
#endif
  LockWorld w;
  Mm mm(w.context);
  Vma* vma = mapped(mm, 2);
  rcu_read_lock();
  ASSERT_EQ(vm_munmap(mm, page_at(0), 2 * kPageSize), 0);
  vma->vm_flags ^= VM_EXEC;  // a write through a stale pointer, as mremap-uaf makes
  rcu_read_unlock();
  EXPECT_EQ(check_of([&] { rcu_barrier(); }), "vma.use_after_free");
  w.context.abandon();  // failed mid-check: never torn down, so not leak-checked
}

// A writer's vma_start_write waits until the fault holding the VMA read-locked is done,
// and the fault sees the VMA unchanged throughout.
TEST(VmaLock, StartWriteWaitsForTheReader) {
  uint64_t waited = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    LockWorld w;
    auto mm = std::make_unique<Mm>(w.context);
    Vma* vma = mapped(*mm, 8);
    SeededChoices choices(seed);
    sched::SchedulerOptions options;
    options.strategy = sched::StrategyConfig::preempt(0.5);
    sched::Scheduler scheduler(choices, options);
    bool reading = false, written_while_reading = false;
    scheduler.spawn("fault", [&] {
      Vma* locked = lock_vma_under_rcu(*mm, page_at(3));
      if (!locked) return;
      reading = true;
      for (int i = 0; i < 8; ++i) sched::yield_point(Site{"test: reading"});
      reading = false;
      vma_end_read(locked);
    });
    scheduler.spawn("mprotect", [&] {
      mmap_write_lock(*mm, Site{"test"});
      vma_start_write(vma);
      written_while_reading |= reading;
      waited += w.context.vma_lock_stats().success;
      mmap_write_unlock(*mm);
    });
    const auto result = scheduler.run();
    ASSERT_TRUE(result.ok()) << result.failure->headline();
    EXPECT_FALSE(written_while_reading) << "seed " << seed;
    mm.reset();
  }
  EXPECT_GT(waited, 0u) << "no seed had the fault take the VMA lock before the writer";
}

// Faults under per-VMA locks racing mprotect, munmap and mmap on the same mm: every
// seed clean, both ways of faulting taken.
TEST(VmaLock, LockFreeFaultsRaceLayoutChangesCleanly) {
  VmaLockStats total;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    LockWorld w;
    auto mm = std::make_unique<Mm>(w.context);
    mapped(*mm, 16);
    SeededChoices choices(seed);
    sched::SchedulerOptions options;
    options.strategy = sched::StrategyConfig::preempt(0.3);
    sched::Scheduler scheduler(choices, options);
    for (int t = 0; t < 2; ++t)
      scheduler.spawn("fault", [&, t] {
        for (int round = 0; round < 6; ++round)
          for (unsigned long i = 0; i < 16; ++i) handle_mm_fault(*mm, page_at((i * 5 + t) % 16), t == 0);
      });
    scheduler.spawn("layout", [&] {
      for (int round = 0; round < 6; ++round) {
        do_mprotect(*mm, page_at(2 + round), 4 * kPageSize, round % 2 ? kRW : PROT_READ);
        vm_munmap(*mm, page_at(12), 2 * kPageSize);
        vm_mmap(*mm, page_at(12), 2 * kPageSize, kRW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
      }
    });
    const auto result = scheduler.run();
    ASSERT_TRUE(result.ok()) << "seed " << seed << ": " << result.failure->headline();
    auto failure = validate_mm(*mm);
    ASSERT_FALSE(failure.has_value()) << failure->message;
    total.success += w.context.vma_lock_stats().success;
    total.abort += w.context.vma_lock_stats().abort;
    mm.reset();
  }
  EXPECT_GT(total.success, 0u);
  EXPECT_GT(total.abort, 0u);
}

}  // namespace mmt::vma::testing

namespace mmt::vma::testing {

namespace {

constexpr unsigned long kStackFlags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN | MAP_FIXED;

VmConfig stack_config(bool per_vma_locks, unsigned long guard_pages) {
  VmConfig config;
  config.per_vma_locks = per_vma_locks;
  config.stack_guard_gap = guard_pages << kPageShift;
  return config;
}

struct StackWorld : World {
  explicit StackWorld(VmConfig config) : World(1, small_memory(), config) {}
};

}  // namespace

// A write fault below a MAP_GROWSDOWN mapping grows it down to that page: one VMA, its
// pgoff still the linear index of its start, the pages charged.
TEST(StackGrowth, AFaultBelowAStackGrowsIt) {
  for (bool locks : {false, true}) {
    StackWorld w(stack_config(locks, 2));
    Mm mm(w.context);
    ASSERT_EQ(vm_mmap(mm, page_at(10), kPageSize, kRW, kStackFlags), static_cast<long>(page_at(10)));
    EXPECT_EQ(picture(mm, 12), "..........A.");
    const uint64_t committed = w.context.committed_pages();
    EXPECT_EQ(handle_mm_fault(mm, page_at(7), true), 0);
    EXPECT_EQ(picture(mm, 12), ".......AAAA.") << "per_vma_locks " << locks;
    Vma* stack = vma_lookup(mm, page_at(7));
    ASSERT_NE(stack, nullptr);
    EXPECT_EQ(stack->vm_pgoff, page_at(7) >> kPageShift);
    EXPECT_EQ(mm.total_vm, 4u);
    EXPECT_EQ(w.context.committed_pages(), committed + 3);
    expect_consistent(w.context, {&mm});
    if (locks) {
      EXPECT_EQ(w.context.vma_lock_stats().miss, 1u) << "the fault below the stack found no VMA under RCU";
    }
  }
}

TEST(StackGrowth, GuardGapAndPlainMappingsRefuseGrowth) {
  StackWorld w(stack_config(true, 2));
  Mm mm(w.context);
  ASSERT_EQ(vm_mmap(mm, page_at(0), 2 * kPageSize, kRW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED),
            static_cast<long>(page_at(0)));
  ASSERT_EQ(vm_mmap(mm, page_at(10), kPageSize, kRW, kStackFlags), static_cast<long>(page_at(10)));
  // One page above the mapping below is inside the 2-page gap; two pages are not.
  EXPECT_EQ(handle_mm_fault(mm, page_at(3), true), -EFAULT);
  EXPECT_EQ(picture(mm, 12), "AA........B.");
  EXPECT_EQ(handle_mm_fault(mm, page_at(4), true), 0);
  EXPECT_EQ(picture(mm, 12), "AA..BBBBBBB.");
  // Below a mapping that is not a stack a fault is just outside every VMA.
  ASSERT_EQ(vm_munmap(mm, page_at(4), 7 * kPageSize), 0);
  ASSERT_EQ(vm_mmap(mm, page_at(8), kPageSize, kRW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED),
            static_cast<long>(page_at(8)));
  EXPECT_EQ(handle_mm_fault(mm, page_at(6), true), -EFAULT);
  expect_consistent(w.context, {&mm});
}

// RLIMIT_STACK: a stack grows to at most the limit (its whole size), and a fault that
// would take it further is -EFAULT with nothing changed (the kernel's -ENOMEM from
// acct_stack_growth, which the fault path turns into SIGSEGV).
TEST(StackGrowth, StackRlimitBoundsTheGrowth) {
  VmConfig config = stack_config(true, 2);
  config.stack_rlimit = 4 * kPageSize;
  StackWorld w(config);
  Mm mm(w.context);
  ASSERT_EQ(vm_mmap(mm, page_at(10), kPageSize, kRW, kStackFlags), static_cast<long>(page_at(10)));
  const uint64_t committed = w.context.committed_pages();
  EXPECT_EQ(handle_mm_fault(mm, page_at(6), true), -EFAULT) << "5 pages would exceed a 4-page limit";
  EXPECT_EQ(picture(mm, 12), "..........A.");
  EXPECT_EQ(w.context.committed_pages(), committed);
  EXPECT_EQ(handle_mm_fault(mm, page_at(7), true), 0);
  EXPECT_EQ(picture(mm, 12), ".......AAAA.");
  EXPECT_EQ(handle_mm_fault(mm, page_at(6), true), -EFAULT);
  EXPECT_EQ(mm.total_vm, 4u);
  expect_consistent(w.context, {&mm});
}

// The canary: the stack's bounds change in the tree with no VMA write lock.
TEST(StackGrowth, GrowthWithoutTheVmaLockIsCaught) {
#ifdef MMT_SANITIZED
  // The world is abandoned with its failure (its anon_vma chains included), not leaked.
  __lsan::ScopedDisabler abandoned_world_is_not_a_leak;
#endif
  StackWorld w(stack_config(true, 2));
  Mm mm(w.context);
  ASSERT_EQ(vm_mmap(mm, page_at(10), kPageSize, kRW, kStackFlags), static_cast<long>(page_at(10)));
  DefectScope scope({Defect::ExpandStackWithoutVmaLock});
  EXPECT_EQ(check_of([&] { handle_mm_fault(mm, page_at(8), true); }), "vma_lock.not_write_locked");
  w.context.abandon();  // failed mid-fault: never torn down, so not leak-checked
}

// Lock-free faults in a stack race its growth: every seed clean, the stack grown.
TEST(StackGrowth, GrowthRacesLockFreeFaultsCleanly) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    StackWorld w(stack_config(true, 2));
    auto mm = std::make_unique<Mm>(w.context);
    ASSERT_EQ(vm_mmap(*mm, page_at(30), 2 * kPageSize, kRW, kStackFlags), static_cast<long>(page_at(30)));
    SeededChoices choices(seed);
    sched::SchedulerOptions options;
    options.strategy = sched::StrategyConfig::preempt(0.3);
    sched::Scheduler scheduler(choices, options);
    scheduler.spawn("grow", [&] {
      for (unsigned long page = 29; page >= 10; --page) EXPECT_EQ(handle_mm_fault(*mm, page_at(page), true), 0);
    });
    scheduler.spawn("touch", [&] {
      for (int round = 0; round < 40; ++round) handle_mm_fault(*mm, page_at(31 - round % 8), round % 2);
    });
    const auto result = scheduler.run();
    ASSERT_TRUE(result.ok()) << "seed " << seed << ": " << result.failure->headline();
    EXPECT_EQ(vma_lookup(*mm, page_at(10)), vma_lookup(*mm, page_at(31)));
    expect_consistent(w.context, {mm.get()});
    mm.reset();
  }
}

}  // namespace mmt::vma::testing
