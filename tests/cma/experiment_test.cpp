// The seed-004 experiment end to end on a few seeds: the grid runs without any failure
// other than the hangs it is meant to find; forever against long-term pins made in
// place hangs, with the hang naming cma_alloc and a pfn; "migrate first" never hangs;
// the table has one row per policy and workload; and one seed's world replays to the
// same trace hash.
#include <gtest/gtest.h>

#include "mmtorture/cma/experiment.h"

namespace mmt::cma {
namespace {

TEST(CmaExperiment, GridFindsTheForeverHangAndNothingElse) {
  CmaExperimentOptions options;
  options.seeds = 2;
  options.policies = {RetryPolicy::none(), RetryPolicy::bounded(5, 100), RetryPolicy::forever(100)};
  const CmaExperimentResult result = run_cma_policy_experiment(options);
  ASSERT_EQ(result.rows.size(), 3u * 4u);
  for (const CmaPolicyRow& row : result.rows) {
    EXPECT_EQ(row.other_failures, 0u) << row.policy << " / " << row.workload << ": " << row.first_failure;
    EXPECT_EQ(row.runs, 2u);
    if (row.workload == "longterm+migrate" || row.workload == "transient" || row.policy != "forever(100ms)") {
      EXPECT_EQ(row.hangs, 0u) << row.policy << " / " << row.workload << ": " << row.first_hang;
    }
  }
  const CmaPolicyRow& forever_longterm = result.rows[2 * 4 + 1];
  ASSERT_EQ(forever_longterm.workload, "longterm");
  EXPECT_EQ(forever_longterm.hangs, 2u);
  EXPECT_NE(forever_longterm.first_hang.find("operation 'cma_alloc'"), std::string::npos) << forever_longterm.first_hang;
  EXPECT_NE(forever_longterm.first_hang.find("-EBUSY at pfn "), std::string::npos) << forever_longterm.first_hang;
  const std::string table = result.table();
  EXPECT_NE(table.find("forever(100ms)"), std::string::npos);
  EXPECT_NE(table.find("first hang"), std::string::npos);
  std::printf("%s", table.c_str());
}

TEST(CmaExperiment, OneSeedReplaysToTheSameTrace) {
  CmaWorldOptions options;
  options.longterm_pins = 8;
  options.cma.retry = RetryPolicy::bounded(5, 100);
  SeededChoices first(7);
  const CmaWorldResult a = run_cma_world(first, options);
  ASSERT_FALSE(a.failure.has_value()) << a.failure->headline();
  ReplayChoices replay(first.recorded());
  const CmaWorldResult b = run_cma_world(replay, options);
  EXPECT_FALSE(b.failure.has_value());
  EXPECT_EQ(a.trace_hash, b.trace_hash);
  EXPECT_FALSE(replay.divergence().has_value());
  EXPECT_EQ(a.calls.size(), b.calls.size());
}

}  // namespace
}  // namespace mmt::cma
