// The maple stress is a function of its choices: same seed, same trace hash; a
// recorded run replays to the same hash; fuzz bytes encoding the recorded choices
// replay it too.
#include <gtest/gtest.h>

#include "mmtorture/jobs/maple_stress.h"

#include <optional>

#include "mmtorture/core/choice.h"
#include "mmtorture/core/defects.h"
#include "mmtorture/sched/atomic_context.h"
#include "mmtorture/sched/thread.h"

#ifdef MMT_SANITIZED
#include <sanitizer/lsan_interface.h>
#endif

namespace mmt::jobs {

namespace {
MapleStressOptions small_options() {
  MapleStressOptions options;
  options.ops = 1500;
  options.nowait_fail_probability = 0.1;
  return options;
}
}  // namespace

TEST(MapleStress, CleanAndDeterministicPerSeed) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    SeededChoices a(seed), b(seed);
    const auto first = run_maple_stress(a, small_options());
    const auto second = run_maple_stress(b, small_options());
    ASSERT_FALSE(first.failure.has_value()) << first.failure->headline() << "\n" << first.failure->dump;
    EXPECT_EQ(first.ops_done, 1500u);
    EXPECT_GT(first.allocation_failures, 0u);
    EXPECT_EQ(first.trace_hash, second.trace_hash);
    EXPECT_EQ(a.recorded().size(), b.recorded().size());
  }
  SeededChoices x(1), y(2);
  EXPECT_NE(run_maple_stress(x, small_options()).trace_hash, run_maple_stress(y, small_options()).trace_hash);
}

TEST(MapleStress, ReplayAndFuzzBytesReproduceTheRun) {
  SeededChoices seeded(42);
  const auto original = run_maple_stress(seeded, small_options());
  ASSERT_FALSE(original.failure.has_value());

  ReplayChoices replay(seeded.recorded());
  const auto replayed = run_maple_stress(replay, small_options());
  EXPECT_EQ(replayed.trace_hash, original.trace_hash);
  EXPECT_FALSE(replay.divergence().has_value());

  const auto bytes = choices_to_fuzz_bytes(seeded.recorded());
  FuzzChoices fuzz(bytes.data(), bytes.size());
  EXPECT_EQ(run_maple_stress(fuzz, small_options()).trace_hash, original.trace_hash);
}

TEST(MapleStress, RcuAndPlainTreesStayClean) {
  auto options = small_options();
  options.rcu = true;
  SeededChoices rcu(7);
  const auto r = run_maple_stress(rcu, options);
  EXPECT_FALSE(r.failure.has_value()) << r.failure->headline();
  options.rcu = false;
  options.alloc_range_tree = false;
  SeededChoices plain(8);
  const auto p = run_maple_stress(plain, options);
  EXPECT_FALSE(p.failure.has_value()) << p.failure->headline();
}

// The starting tree is configuration: built before the first op, it draws nothing (so
// it costs a repro no choices), is validated, and the run over it stays clean.
TEST(MapleStress, PrefillBuildsADeepTreeWithoutDrawing) {
  auto options = small_options();
  options.prefill = 256;
  options.ops = 0;
  SeededChoices none(3);
  const auto built = run_maple_stress(none, options);
  ASSERT_FALSE(built.failure.has_value()) << built.failure->headline();
  EXPECT_TRUE(none.recorded().empty()) << none.recorded().size() << " choices drawn by the prefill";
  options.ops = 1500;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    SeededChoices a(seed), b(seed);
    const auto first = run_maple_stress(a, options);
    ASSERT_FALSE(first.failure.has_value()) << first.failure->headline();
    EXPECT_GE(first.max_entries, 256u);
    EXPECT_GE(first.max_height, 3u) << "256 ranges with NULLs between them need three levels";
    EXPECT_EQ(first.trace_hash, run_maple_stress(b, options).trace_hash);
  }
}

TEST(MapleStress, ExhaustedReplayTakesTheSimplestChoices) {
  // An empty choice list is a valid run: every draw is 0 (store at region 0, index 0...).
  ReplayChoices empty(std::vector<Choice>{});
  const auto result = run_maple_stress(empty, small_options());
  EXPECT_FALSE(result.failure.has_value());
  EXPECT_EQ(result.allocation_failures, 0u);
}

// The cursor and bulk ops (maple_mix_*): stores through paused and reset states,
// spanning stores and tree copies run, hit their -ENOMEM paths under injection, stay
// clean and replay; with every weight 0 the op draw is the classic one of 10.
uint64_t taken(const Coverage& coverage, const std::string& op, const std::string& outcome) {
  auto it = coverage.outcomes.find(op);
  if (it == coverage.outcomes.end()) return 0;
  auto at = it->second.find(outcome);
  return at == it->second.end() ? 0 : at->second;
}

TEST(MapleStress, CursorAndBulkOpsRunCleanAndReplay) {
  auto options = small_options();
  options.prefill = 256;
  options.mix_paused_store = 10;
  options.mix_spanning_store = 10;
  options.mix_dup = 10;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    SeededChoices a(seed);
    const auto first = run_maple_stress(a, options);
    ASSERT_FALSE(first.failure.has_value()) << first.failure->headline() << "\n" << first.failure->dump.substr(0, 3000);
    EXPECT_EQ(first.ops_done, 1500u);
    for (const char* op : {"mas_pause/mas_store_gfp", "mas_reset/mas_store_gfp", "spanning mtree_store_range",
                           "spanning mas_store_gfp", "spanning mas_preallocate", "__mt_dup"})
      EXPECT_GT(taken(first.coverage, op, "0"), 0u) << op << " never succeeded, seed " << seed;
    // A GFP_NOWAIT copy asks for every node of the tree one by one: at 10% per request
    // it nearly always meets a failure, and must then leave nothing behind.
    EXPECT_GT(taken(first.coverage, "mtree_dup", "0") + taken(first.coverage, "mtree_dup", "-ENOMEM"), 0u);
    ReplayChoices replay(a.recorded());
    EXPECT_EQ(run_maple_stress(replay, options).trace_hash, first.trace_hash);
    EXPECT_FALSE(replay.divergence().has_value());
  }
  uint64_t enomem = 0;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    SeededChoices c(seed);
    const auto r = run_maple_stress(c, options);
    for (const char* op : {"mas_pause/mas_store_gfp", "mas_reset/mas_store_gfp", "spanning mas_store_gfp", "mtree_dup"})
      enomem += taken(r.coverage, op, "-ENOMEM");
  }
  EXPECT_GE(enomem, 3u);
  // All weights 0: the first op draw is one of 10, as before the weights existed.
  SeededChoices classic(1);
  run_maple_stress(classic, small_options());
  EXPECT_EQ(classic.recorded().at(0).bound, 10u);
}

}  // namespace mmt::jobs

namespace mmt::jobs {

// A BUG raised under mtree_lock (a planted node reservation one short) unwinds past the
// lock's preempt_enable on the host: the run gives the host back its preempt count, so
// the next run in the process does not start in atomic context.
TEST(MapleStress, AFailureUnderTheTreeLockLeavesTheHostPreemptible) {
#ifdef MMT_SANITIZED
  __lsan::ScopedDisabler abandoned_trees_are_not_leaks;
#endif
  MapleStressOptions options;
  options.ops = 2000;
  std::optional<Failure> failure;
  {
    DefectScope scope({Defect::PreallocSplitOneShort});
    for (uint64_t seed = 1; seed <= 30 && !failure; ++seed) {
      SeededChoices choices(seed);
      failure = run_maple_stress(choices, options).failure;
    }
  }
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->check, "maple.bug") << failure->message;
  EXPECT_EQ(sched::host_thread().preempt_count(), 0u);
  EXPECT_FALSE(sched::in_atomic());
}

}  // namespace mmt::jobs
