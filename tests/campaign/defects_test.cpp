// Each canary defect in the maple tree and the VMA manager is caught by the check its
// description names, within a bounded number of seeds; with no defect the same runs are
// clean. Defects that corrupt memory (use after free) may crash an unsanitized build
// before a check speaks, so those run in a child process where a crash also counts as
// caught (the campaign runner treats a crashing seed the same way).
#include <gtest/gtest.h>
#ifdef MMT_SANITIZED
#include <sanitizer/lsan_interface.h>
#endif
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <optional>
#include <string>

#include "mmtorture/core/defects.h"
#include "mmtorture/jobs/maple_stress.h"
#include "mmtorture/jobs/vm_world.h"
#include "mmtorture/mem/fault_plan.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/sched/sched.h"
#include "mmtorture/vma/ops.h"
#include "mmtorture/vma/page_model.h"

namespace mmt::campaign {

using namespace mmt::jobs;  // the jobs and their engines

namespace {

using Job = std::function<std::optional<Failure>(uint64_t seed)>;

std::optional<Failure> page_model_job(uint64_t seed) {
  SeededChoices choices(seed);
  vma::PageModelOptions options;
  options.ops = 400;
  options.inject_failures = false;
  return vma::run_page_model(choices, options).failure;
}

// brk churn on a populated heap while reclaim walks the reverse map: the shape of the
// seed-002 report (a heap shrink racing with migration/reclaim of its pages).
std::optional<Failure> brk_reclaim_job(uint64_t seed) {
#ifdef MMT_SANITIZED
  __lsan::ScopedDisabler abandoned_address_spaces_are_not_leaks;
#endif
  SeededChoices choices(seed);
  mem::FaultPlan plan;
  mem::MemConfig config;
  config.pages = 1024;
  mem::Memory memory(config, choices, &plan);
  std::optional<Failure> failure;
  {
    vma::VmContext context(memory);
    auto mm = std::make_unique<vma::Mm>(context);
    sched::SchedulerOptions options;
    options.strategy = sched::StrategyConfig::preempt(0.5);
    sched::Scheduler scheduler(choices, options);
    bool done = false;
    scheduler.spawn("brk", [&] {
      for (int round = 0; round < 20; ++round) {
        const unsigned long top = mm->start_brk + 16 * vma::kPageSize;
        vma::do_brk(*mm, top);
        for (unsigned long a = mm->start_brk; a < top; a += vma::kPageSize) vma::handle_mm_fault(*mm, a, true);
        vma::do_brk(*mm, mm->start_brk + 2 * vma::kPageSize);
      }
      done = true;
    });
    scheduler.spawn("reclaim", [&] {
      while (!done) {
        memory.shrink_lru(8, Site{"test reclaim"});
        sched::yield_point(Site{"test reclaim"});
      }
    });
    const auto result = scheduler.run();
    failure = result.failure;
    if (failure) (void)mm.release();  // broken: abandoned, never torn down
    else mm.reset();
    // Deferred node frees go to this context's slab: run them before it is destroyed.
    try {
      sched::rcu_barrier();
    } catch (const FailureError&) {
    }
  }
  return failure;
}

// A failed run is abandoned, not torn down (its structures may be broken), as the
// campaign's seeds are: under LeakSanitizer that is not a leak.
std::optional<Failure> maple_job(uint64_t seed) {
#ifdef MMT_SANITIZED
  __lsan::ScopedDisabler abandoned_trees_are_not_leaks;
#endif
  SeededChoices choices(seed);
  MapleStressOptions options;
  options.ops = 2000;
  return run_maple_stress(choices, options).failure;
}

std::optional<Failure> maple_readers_job(uint64_t seed) {
  SeededChoices choices(seed);
  MapleStressOptions options;  // configs/maple-rcu.toml
  options.ops = 500;
  options.rcu = true;
  options.prefill = 256;
  options.readers = 3;
  options.rcu_access_points = true;
  options.strategy = sched::StrategyConfig::uniform();
  return run_maple_stress(choices, options).failure;
}

// The world as smoke.toml runs it (without swarm), sleeping classes failing, per-VMA
// locks on; plus stacks (the stack op, as seed000-mprotect-nowait.toml draws it).
VmWorldOptions smoke_world_options() {
  VmWorldOptions options;
  options.ops = 10000;
  options.workers = 4;
  options.mm_slots = 4;
  options.memory_pages = 1024;
  options.min_free_pages = 96;
  options.vma_fail_probability = 0.02;
  options.anon_vma_fail_probability = 0.02;
  options.maple_node_fail_probability = 0.01;
  options.page_fail_probability = 0.002;
  options.per_vma_locks = true;
  options.op_mix[static_cast<size_t>(VmOp::kStack)] = 2;
  return options;
}

std::optional<Failure> world_job(uint64_t seed) {
#ifdef MMT_SANITIZED
  __lsan::ScopedDisabler abandoned_address_spaces_are_not_leaks;
#endif
  SeededChoices choices(seed);
  return run_vm_world(choices, smoke_world_options()).failure;
}

// world_job with file mappings as smoke.toml draws them (the mmap_file op).
std::optional<Failure> world_file_job(uint64_t seed) {
#ifdef MMT_SANITIZED
  __lsan::ScopedDisabler abandoned_address_spaces_are_not_leaks;
#endif
  SeededChoices choices(seed);
  VmWorldOptions options = smoke_world_options();
  options.op_mix[static_cast<size_t>(VmOp::kMmapFile)] = 2;
  return run_vm_world(choices, options).failure;
}

// The first seed in [1, seeds] whose run fails, with the failure.
std::optional<std::pair<uint64_t, Failure>> first_failure(const Job& job, uint64_t seeds) {
  for (uint64_t seed = 1; seed <= seeds; ++seed)
    if (auto failure = job(seed)) return std::make_pair(seed, *failure);
  return std::nullopt;
}

void expect_caught(Defect defect, const Job& job, const std::string& check_prefix, uint64_t seeds) {
  {
    DefectScope scope({defect});
    auto found = first_failure(job, seeds);
    ASSERT_TRUE(found.has_value()) << defect_name(defect) << " not caught in " << seeds << " seeds";
    EXPECT_EQ(found->second.check.rfind(check_prefix, 0), 0u)
        << defect_name(defect) << " caught by " << found->second.check << ": " << found->second.message;
  }
  const auto control = first_failure(job, std::min<uint64_t>(seeds, 20));
  EXPECT_FALSE(control.has_value()) << "control run not clean: seed " << control->first << ": " << control->second.check
                                    << ": " << control->second.message;
}

// Runs the defect in a child: caught = a reported failure or a crash.
void expect_caught_or_crash(Defect defect, const Job& job, uint64_t seeds) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    enable_defect(defect);
    _exit(first_failure(job, seeds) ? 42 : 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  // 42: a check reported it; a signal or any other non-zero exit: the process died of it
  // (a sanitizer report exits 1).
  const bool caught = (WIFEXITED(status) && WEXITSTATUS(status) != 0) || WIFSIGNALED(status);
  EXPECT_TRUE(caught) << defect_name(defect) << " not caught in " << seeds << " seeds";
}

}  // namespace

TEST(Defects, TableNamesEveryDefectOnce) {
  EXPECT_EQ(defect_table().size(), kDefectCount);
  for (const auto& info : defect_table()) {
    EXPECT_EQ(defect_from_name(info.name), info.defect);
    EXPECT_FALSE(defect_enabled(info.defect));
  }
  EXPECT_FALSE(defect_from_name("no-such-defect").has_value());
}

// The switch mask is 64 bits wide: a defect numbered past 31 is its own bit, not an
// alias of a low one (as a 32-bit shift would make it).
TEST(Defects, TheMaskHoldsDefectsPastThirtyTwo) {
  const auto high = static_cast<Defect>(40);
  {
    DefectScope scope({high});
    EXPECT_TRUE(defect_enabled(high));
    EXPECT_FALSE(defect_enabled(static_cast<Defect>(8)));
    EXPECT_TRUE(enabled_defects().empty());  // no table entry has that number
  }
  EXPECT_FALSE(defect_enabled(high));
}

TEST(Defects, PreallocRedundantWriteIsABug) {
  expect_caught(Defect::PreallocRedundantWrite, page_model_job, "maple.bug", 50);
}

TEST(Defects, GfpKernelUnderRmapLockBreaksTheReclaimRule) {
  expect_caught(Defect::GfpKernelUnderRmapLock, page_model_job, "lockdep.reclaim", 50);
}

TEST(Defects, NommuSplitDoubleCountBreaksMapCount) {
  expect_caught(Defect::NommuSplitDoubleCount, page_model_job, "vma.validate_mm", 20);
}

TEST(Defects, MremapAccountLeakDriftsCommitted) {
  expect_caught(Defect::MremapAccountLeak, page_model_job, "page_model.committed_accounting", 50);
}

TEST(Defects, TopdownGapMiscalcOverlapsMappings) {
  expect_caught(Defect::TopdownGapMiscalc, page_model_job, "", 50);
}

TEST(Defects, BrkMunmapShortcutIsSeenByRmap) {
  expect_caught(Defect::BrkMunmapShortcut, brk_reclaim_job, "rmap.unstable_vma", 100);
}

TEST(Defects, MremapUseAfterFreeIsCaught) { expect_caught_or_crash(Defect::MremapUaf, page_model_job, 50); }

TEST(Defects, DestroyFreesLiveNodesIsCaught) {
  expect_caught_or_crash(Defect::DestroyFreesLiveNodes, maple_job, 20);
}

// In the world the node the spanning store's clean-up freed while linked is met either
// by a walk under the mmap lock, where nothing can run inside the walk: it finds the node
// dead and names it (maple.dead_node_linked) instead of retrying from the root forever
// (before, smoke's seed 2 spun until the selftest's budget ran out); or by a lock-free
// lookup (per-VMA locks) that enters the freed node (maple.rcu_freed_node).
TEST(Defects, DestroyFreesLiveNodesIsNamedInTheWorldNotAHang) {
  expect_caught_or_crash(Defect::DestroyFreesLiveNodes, world_job, 5);
#if !defined(MMT_SANITIZED)
  DefectScope scope({Defect::DestroyFreesLiveNodes});
  const auto found = first_failure(world_job, 5);
  ASSERT_TRUE(found.has_value());
  EXPECT_TRUE(found->second.check == "maple.dead_node_linked" || found->second.check == "maple.rcu_freed_node" ||
              found->second.check.starts_with("maple.mt_validate."))
      << found->second.check << ": " << found->second.message;
#endif
}

// A reader still inside a node freed without a grace period: maple.rcu_freed_node in
// plain builds, ASan in sanitizer builds (the node went back to it).
TEST(Defects, RcuFreeWithoutGracePeriodIsCaughtByTheReaders) {
  expect_caught_or_crash(Defect::RcuFreeWithoutGracePeriod, maple_readers_job, 5);
#if !defined(MMT_SANITIZED)
  {
    DefectScope scope({Defect::RcuFreeWithoutGracePeriod});
    const auto failure = maple_readers_job(1);
    ASSERT_TRUE(failure.has_value());
    EXPECT_EQ(failure->check, "maple.rcu_freed_node") << failure->message;
  }
#endif
  EXPECT_FALSE(first_failure(maple_readers_job, 5).has_value()) << "control run not clean";
}

// Caught by checks of answers against a model: every answer the defective
// search gives is a free range in the window; only -EBUSY with a gap in the model, or a
// gap other than the lowest, gives it away.
TEST(Defects, EmptyAreaSkipsLastSlotIsCaughtByTheGapModel) {
  expect_caught(Defect::EmptyAreaSkipsLastSlot, maple_job, "maple.model_diff", 20);
}

// The mm stays valid and accounted: only the world's per-operation model sees an
// mprotect that returned 0 with part of its range unchanged.
TEST(Defects, MprotectDropsLateEnomemIsCaughtByTheWorldModel) {
  expect_caught(Defect::MprotectDropsLateEnomem, world_job, "world.result", 40);
}

// A VMA changed in place with no vma_start_write: the end of its mmap write section
// names it (or a fault holding it read-locked sees it change first).
TEST(Defects, MprotectSkipsVmaStartWriteIsCaughtByTheVmaLockChecks) {
  expect_caught(Defect::MprotectSkipsVmaStartWrite, world_job, "vma_lock.", 10);
}

// A stack grown with no VMA write lock: its store into the tree names it.
TEST(Defects, ExpandStackWithoutVmaLockIsCaughtByTheVmaLockChecks) {
  expect_caught(Defect::ExpandStackWithoutVmaLock, world_job, "vma_lock.", 10);
}

// The canaries in the world's error paths, accounting, node reservation and gap
// metadata: each caught by the world as the default smoke campaign runs it (no knob for
// the defect), by the check its description names.
TEST(Defects, MmapLeaksVmaOnEnomemIsCaughtByTheLeakCheck) {
  expect_caught(Defect::MmapLeaksVmaOnEnomem, world_job, "vma.leak", 20);
}

TEST(Defects, MunmapEnomemDropsTotalVmIsCaughtByValidateMm) {
  expect_caught(Defect::MunmapEnomemDropsTotalVm, world_job, "vma.validate_mm", 20);
}

TEST(Defects, BrkEnomemMovesBrkIsCaughtByTheHeapModel) {
  expect_caught(Defect::BrkEnomemMovesBrk, world_job, "world.brk", 20);
}

TEST(Defects, MremapEnomemKeepsChargeIsCaughtByCommittedAccounting) {
  expect_caught(Defect::MremapEnomemKeepsCharge, world_job, "vma.committed_accounting", 20);
}

TEST(Defects, ForkEnomemLeaksChargeIsCaughtByCommittedAccounting) {
  expect_caught(Defect::ForkEnomemLeaksCharge, world_job, "vma.committed_accounting", 20);
}

// vma_merge's case 7 before fc0c8f9089c2: a shm-like VMA merged away without ->close
// leaves the file's attach count one too high, which the file check names.
TEST(Defects, MergeRemovesVmaWithCloseIsCaughtByTheAttachCount) {
  expect_caught(Defect::MergeRemovesVmaWithClose, world_file_job, "vma.file_attach", 10);
}

// A shared write fault that maps the cache page writable without dirtying it: the next
// validate_mm names the writable pte of a clean page.
TEST(Defects, WpPageSharedSkipsDirtyIsCaughtByValidateMm) {
  expect_caught(Defect::WpPageSharedSkipsDirty, world_file_job, "vma.validate_mm", 10);
}

TEST(Defects, MergeKeepsMapCountIsCaughtByValidateMm) {
  expect_caught(Defect::MergeKeepsMapCount, world_job, "vma.validate_mm", 20);
}

// The maple-tree canaries reach both the tree job and the world's VMA trees.
// (The maple job's run in a child: its BUG is raised inside the tree lock on the host
// thread, whose preempt count a later run in this process would inherit.)
TEST(Defects, PreallocSplitOneShortIsABug) {
  expect_caught(Defect::PreallocSplitOneShort, world_job, "maple.bug", 10);
  expect_caught_or_crash(Defect::PreallocSplitOneShort, maple_job, 10);
}

TEST(Defects, SplitSkipsAnonVmaCloneIsCaughtByValidateMm) {
  expect_caught(Defect::SplitSkipsAnonVmaClone, world_job, "vma.validate_mm", 10);
}

TEST(Defects, MprotectEnomemKeepsChargeIsCaughtByCommittedAccounting) {
  expect_caught(Defect::MprotectEnomemKeepsCharge, world_job, "vma.committed_accounting", 20);
}

// The maple-tree canaries of rebalancing and spanning stores: the world's VMA
// trees (mt_validate after every operation) and the maple job both find them.
TEST(Defects, RebalanceLeavesNodeShortIsCaughtByMtValidate) {
  expect_caught(Defect::RebalanceLeavesNodeShort, world_job, "maple.mt_validate.occupancy", 10);
  expect_caught(Defect::RebalanceLeavesNodeShort, maple_job, "maple.mt_validate.occupancy", 10);
}

TEST(Defects, SpanningStoreMissesNextNodeIsCaughtByMtValidate) {
  expect_caught(Defect::SpanningStoreMissesNextNode, world_job, "maple.mt_validate.nulls", 10);
  expect_caught(Defect::SpanningStoreMissesNextNode, maple_job, "maple.mt_validate.nulls", 10);
}

// Lock ordering: fork copies a parent VMA's page tables without write-locking it; the
// rule of every page-table copy or move under mmap_lock names it, with or without a
// fault racing the copy in that run.
TEST(Defects, ForkSkipsVmaStartWriteIsCaughtByThePageTableLockRule) {
  expect_caught(Defect::ForkSkipsVmaStartWrite, world_job, "vma_lock.page_tables_not_write_locked", 10);
}

// RCU publication order: a reader inside a node linked before its pivots were written
// finds entries at indices that never held them (maple.rcu_reader). In a child: the
// failed run abandons its tree, whose nodes the process's node count would then miss.
TEST(Defects, RcuNodePublishedBeforePivotsIsCaughtByTheReaders) {
  expect_caught_or_crash(Defect::RcuNodePublishedBeforePivots, maple_readers_job, 10);
  EXPECT_FALSE(first_failure(maple_readers_job, 5).has_value()) << "control run not clean";
}

TEST(Defects, NodeReplaceSkipsGapUpdateIsCaughtByMtValidate) {
  expect_caught(Defect::NodeReplaceSkipsGapUpdate, world_job, "maple.mt_validate.gaps", 10);
}

}  // namespace mmt::campaign
