// The numbers behind the report's job charts: a cma seed's metrics
// agree with its stats, survive the journal, and add up per policy with the same
// percentiles cma::summarize_latency gives over every call; a nommu seed's metrics
// count its OOM and largest free block; the SVG bar chart carries each bar's number.
#include "mmtorture/campaign/seed_metrics.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "mmtorture/campaign/campaign.h"
#include "mmtorture/campaign/seed_run.h"
#include "mmtorture/campaign/svg_chart.h"
#include "mmtorture/cma/stats.h"

namespace mmt::campaign {
namespace {

Config job_config(const char* job) {
  Config config;
  apply_override(config, std::string("workload.job=\"") + job + "\"");
  return config;
}

SeedResult run(const Config& config, uint64_t seed) {
  SeededChoices choices(seed);
  return run_seed(config, choices);
}

TEST(SeedMetrics, ACmaSeedRecordsItsPolicyCountsAndEveryCallsLatency) {
  const Config config = job_config("cma");
  const SeedResult result = run(config, 3);
  ASSERT_TRUE(result.metrics.cma.has_value());
  EXPECT_FALSE(result.metrics.nommu.has_value());
  const CmaSeedMetrics& m = *result.metrics.cma;
  EXPECT_EQ(m.policy, "bounded(5,100ms)");
  EXPECT_GT(m.calls, 0u);
  uint64_t calls = 0, previous = 0;
  std::vector<uint64_t> samples;
  for (const auto& [ms, n] : m.latency_ms) {
    EXPECT_TRUE(calls == 0 || ms > previous) << "ascending, one pair per latency";
    EXPECT_GT(n, 0u);
    previous = ms;
    calls += n;
    samples.insert(samples.end(), n, ms);
  }
  // The stats line says the same.
  const cma::LatencySummary latency = cma::summarize_latency(samples);
  EXPECT_NE(result.stats.find(fmt::format("latency p50 {} ms p99 {} ms max {} ms", latency.p50_ms, latency.p99_ms,
                                          latency.max_ms)),
            std::string::npos)
      << result.stats;
  EXPECT_NE(result.stats.find(fmt::format("retries {}, busy {}, interrupted {}", m.retries, m.busy, m.interrupted)),
            std::string::npos)
      << result.stats;
  // Deterministic: the same seed, the same metrics.
  EXPECT_EQ(seed_metrics_json(run(config, 3).metrics), seed_metrics_json(result.metrics));
}

TEST(SeedMetrics, ANommuSeedRecordsItsOomAndLargestFreeBlock) {
  Config config = job_config("nommu");
  apply_override(config, "nommu.memory_mib=32");
  apply_override(config, "nommu.oom_fails=false");
  const SeedResult result = run(config, 1);
  ASSERT_TRUE(result.metrics.nommu.has_value());
  const NommuSeedMetrics& m = *result.metrics.nommu;
  EXPECT_EQ(m.memory_mib, 32u);
  EXPECT_NE(result.stats.find(fmt::format("{} KiB free, largest free block {} KiB, {} free blocks", m.free_kib,
                                          m.largest_free_kib, m.free_blocks_1mib)),
            std::string::npos)
      << result.stats;
  EXPECT_EQ(m.oom, result.stats.find("out of memory") != std::string::npos) << result.stats;
  Config maple = job_config("maple");
  apply_override(maple, "run.ops_per_seed=20");
  EXPECT_TRUE(run(maple, 1).metrics.empty()) << "other jobs record none";
}

TEST(SeedMetrics, SurviveTheJournal) {
  JournalEntry e;
  e.seed = 7;
  e.outcome = "clean";
  e.metrics.cma = CmaSeedMetrics{"forever(100ms)", 5, 1, 9, 40, 1, 0, {{0, 3}, {100, 1}, {6400, 1}}};
  e.metrics.nommu = NommuSeedMetrics{64, true, 900, 512, 0};
  const std::string line = journal_line(e);
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j.at("metrics").at("cma").at("latency_ms").dump(), "[[0,3],[100,1],[6400,1]]");
  const SeedMetrics back = seed_metrics_from_json(j.at("metrics").dump());
  EXPECT_EQ(seed_metrics_json(back), seed_metrics_json(e.metrics));
  JournalEntry plain;
  EXPECT_EQ(nlohmann::json::parse(journal_line(plain)).contains("metrics"), false) << "no metrics, no key";
}

TEST(SeedMetrics, PolicyTotalsGiveTheSamePercentilesAsEveryCall) {
  std::mt19937_64 rng(42);  // test data only: fixed seed
  JobTotals totals;
  std::vector<uint64_t> all;
  for (int seed = 0; seed < 20; ++seed) {
    std::map<uint64_t, uint64_t> calls;
    for (int call = 0; call < 1 + static_cast<int>(rng() % 30); ++call) {
      const uint64_t ms = rng() % 4 == 0 ? 0 : (rng() % 8) * 100 + rng() % 3;
      ++calls[ms];
      all.push_back(ms);
    }
    SeedMetrics m;
    m.cma = CmaSeedMetrics{"bounded(5,100ms)", 1, 0, 2, 3, 0, 0, {calls.begin(), calls.end()}};
    totals.add(m);
  }
  const CmaPolicyTotals& t = totals.cma_by_policy.at("bounded(5,100ms)");
  const cma::LatencySummary want = cma::summarize_latency(all);
  EXPECT_EQ(t.latency.calls(), all.size());
  EXPECT_EQ(t.latency.percentile_ms(50), want.p50_ms);
  EXPECT_EQ(t.latency.percentile_ms(99), want.p99_ms);
  EXPECT_EQ(t.latency.max_ms(), want.max_ms);
  EXPECT_EQ(t.seeds, 20u);
  EXPECT_EQ(t.retries, 40u);
  EXPECT_EQ(t.busy, 60u);
  // The histogram: powers of two, every call in exactly one bucket.
  const std::vector<uint64_t> histogram = t.latency.histogram();
  uint64_t bucketed = 0;
  for (uint64_t n : histogram) bucketed += n;
  EXPECT_EQ(bucketed, all.size());
  EXPECT_EQ(histogram.size(), latency_bucket(want.max_ms) + 1);
  EXPECT_EQ(latency_bucket(0), 0u);
  EXPECT_EQ(latency_bucket(1), 1u);
  EXPECT_EQ(latency_bucket(100), 7u);
  EXPECT_EQ(latency_bucket_range(7), (std::pair<uint64_t, uint64_t>{64, 127}));
  const auto j = nlohmann::json::parse(job_totals_json(totals));
  const auto& policy = j.at("cma").at("policies").at(0);
  EXPECT_EQ(policy.at("latency_ms").at("p99_ms").get<uint64_t>(), want.p99_ms);
  EXPECT_EQ(policy.at("latency_ms").at("histogram").size(), histogram.size());
  EXPECT_EQ(job_totals_json(JobTotals{}), "");
}

TEST(SvgChart, EachBarCarriesItsNumberAndMarkersTheirCaption) {
  BarChart chart;
  chart.id = "c";
  chart.title = "t <x>";
  chart.unit = "%";
  chart.decimals = 1;
  chart.bars = {{"g1", "a", 50}, {"g1", "b", 0}, {"g2", "c", 12.5, "bad"}};
  chart.markers = {{2, "p99 7 ms"}};
  const std::string svg = svg_bar_chart(chart);
  EXPECT_EQ(svg.rfind("<svg id=\"c\" class=\"chart\"", 0), 0u);
  EXPECT_NE(svg.find("t &lt;x&gt;"), std::string::npos);
  EXPECT_NE(svg.find("<rect class=\"bar\" data-group=\"g1\" data-label=\"a\" data-value=\"50.0\""), std::string::npos);
  EXPECT_NE(svg.find("<rect class=\"bad\" data-group=\"g2\" data-label=\"c\" data-value=\"12.5\""), std::string::npos)
      << svg;
  EXPECT_NE(svg.find("data-caption=\"p99 7 ms\""), std::string::npos);
  EXPECT_NE(svg.find(">g2</text>"), std::string::npos);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
}

}  // namespace
}  // namespace mmt::campaign
