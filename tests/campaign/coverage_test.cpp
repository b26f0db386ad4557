// Coverage (coverage.h): what the jobs count, how a registry scores it, and that counting
// changes nothing in the run.
#include "mmtorture/campaign/coverage.h"

#include <gtest/gtest.h>

#include "mmtorture/campaign/config.h"
#include "mmtorture/campaign/seed_run.h"
#include "mmtorture/core/choice.h"

namespace mmt::campaign {
namespace {

uint64_t outcome_total(const Coverage& coverage) {
  uint64_t total = 0;
  for (const auto& [op, by_outcome] : coverage.outcomes)
    for (const auto& [outcome, times] : by_outcome) total += times;
  return total;
}

Config world_config() {
  Config config;
  config.workload.job = "world";
  config.run.ops_per_seed = 600;
  config.faults.vma_fail_probability = 0.05;
  config.faults.anon_vma_fail_probability = 0.05;
  config.faults.maple_node_fail_probability = 0.05;
  config.faults.page_fail_probability = 0.05;
  return config;
}

TEST(Coverage, TheWorldCountsOneOutcomePerOperationAndEverySiteItAsks) {
  const Config config = world_config();
  SeededChoices choices(7);
  const SeedResult result = run_seed(config, choices);
  ASSERT_FALSE(result.failure) << result.failure->headline();
  EXPECT_EQ(outcome_total(result.coverage), result.ops);
  CoverageRegistry registry;
  ASSERT_TRUE(coverage_registry(config, &registry));
  const CoverageScore score = score_coverage(registry, result.coverage);
  EXPECT_TRUE(score.unregistered.empty()) << score.unregistered.front();
  EXPECT_EQ(score.sites_total, 5u);
  EXPECT_EQ(score.sites_reached, 5u);
  EXPECT_GT(score.sites_failed, 0u);
  EXPECT_GT(score.errors_taken, 0u);
}

TEST(Coverage, TheSameSeedCountsTheSameCoverage) {
  // Coverage is a function of the run: a seed replays to the same counts (journals,
  // resumed campaigns and merged shards add up the same).
  const Config config = world_config();
  SeededChoices a(11), b(11);
  const SeedResult first = run_seed(config, a);
  const SeedResult second = run_seed(config, b);
  EXPECT_EQ(first.trace_hash, second.trace_hash);
  EXPECT_EQ(coverage_json_text(first.coverage), coverage_json_text(second.coverage));
}

TEST(Coverage, TheMapleJobCountsItsNowaitSiteAndOutcomes) {
  Config config;
  config.workload.job = "maple";
  config.run.ops_per_seed = 2000;
  SeededChoices choices(3);
  const SeedResult result = run_seed(config, choices);
  ASSERT_FALSE(result.failure) << result.failure->headline();
  ASSERT_TRUE(config.workload.maple_alloc_range);  // else mtree_alloc_range draws do nothing and count nothing
  EXPECT_EQ(outcome_total(result.coverage), result.ops);
  CoverageRegistry registry;
  ASSERT_TRUE(coverage_registry(config, &registry));
  const CoverageScore score = score_coverage(registry, result.coverage);
  EXPECT_TRUE(score.unregistered.empty()) << score.unregistered.front();
  EXPECT_EQ(score.sites_failed, 1u);
  EXPECT_EQ(score.errors_total, 6u);
  EXPECT_GE(score.errors_taken, 3u);
}

TEST(Coverage, OtherJobsRecordNone) {
  Config config;
  config.workload.job = "nommu";
  CoverageRegistry registry;
  EXPECT_FALSE(coverage_registry(config, &registry));
  EXPECT_EQ(coverage_line(config, Coverage{}), "coverage: not recorded for the nommu job");
  // The cma job records its own (jobs/cma.cpp): the migration targets and every outcome.
  config.workload.job = "cma";
  ASSERT_TRUE(coverage_registry(config, &registry));
  EXPECT_EQ(registry.sites.size(), 2u);
  EXPECT_EQ(coverage_line(config, Coverage{}).rfind("coverage: injection sites 0/", 0), 0u);
}

TEST(Coverage, ScoreCountsEnabledEntriesAndNamesWhatTheRegistryLacks) {
  CoverageRegistry registry;
  registry.sites = {{"a/kernel", true}, {"b/nowait", true}, {"c/kernel", false}};
  registry.outcomes = {{"op", "0", false, true},
                       {"op", "-ENOMEM", true, true},
                       {"op", "-EFAULT", true, true},
                       {"off_op", "-ENOMEM", true, false}};
  Coverage coverage;
  coverage.sites["a/kernel"] = {10, 2};
  coverage.sites["b/nowait"] = {5, 0};
  coverage.sites["d/kernel"] = {1, 0};  // not in the registry
  coverage.count_outcome("op", "0", 4);
  coverage.count_outcome("op", "-ENOMEM");
  coverage.count_outcome("op", "-EINVAL");  // not in the registry
  const CoverageScore score = score_coverage(registry, coverage);
  EXPECT_EQ(score.sites_total, 2u);  // c is off
  EXPECT_EQ(score.sites_reached, 2u);
  EXPECT_EQ(score.sites_failed, 1u);
  EXPECT_EQ(score.errors_total, 2u);  // off_op is off
  EXPECT_EQ(score.errors_taken, 1u);
  ASSERT_EQ(score.unregistered.size(), 2u);
  EXPECT_EQ(score.unregistered[0], "site d/kernel");
  EXPECT_EQ(score.unregistered[1], "outcome op -> -EINVAL");
  EXPECT_DOUBLE_EQ(score.sites_percent(), 50.0);
}

TEST(Coverage, AddsUpAndSurvivesItsJsonForm) {
  Coverage a, b;
  a.sites["s/kernel"] = {3, 1};
  a.count_outcome("mmap", "addr", 2);
  b.sites["s/kernel"] = {4, 0};
  b.sites["t/nowait"] = {1, 1};
  b.count_outcome("mmap", "addr");
  b.count_outcome("mmap", "-ENOMEM");
  a.add(b);
  EXPECT_EQ(a.sites["s/kernel"].requests, 7u);
  EXPECT_EQ(a.sites["s/kernel"].injected, 1u);
  EXPECT_EQ(a.outcomes["mmap"]["addr"], 3u);
  const Coverage back = coverage_from_json_text(coverage_json_text(a));
  EXPECT_EQ(coverage_json_text(back), coverage_json_text(a));
  EXPECT_EQ(back.sites.at("t/nowait").injected, 1u);
  EXPECT_EQ(back.outcomes.at("mmap").at("-ENOMEM"), 1u);
}

}  // namespace
}  // namespace mmt::campaign
