// Every job in the table (jobs.def) is a function of its choices: one seed run twice
// gives the same trace hash, operations, virtual time and outcome, and a replay of the
// recorded choices gives them again. The test walks job_table(), so a job added to the
// table is covered without touching it.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "mmtorture/core/choice.h"
#include "mmtorture/jobs/job.h"

namespace mmt::jobs {
namespace {

// What a seed's run must repeat exactly.
struct Outcome {
  uint64_t trace_hash, ops, virtual_ms;
  std::optional<std::string> failure;  // check, site and message
  bool operator==(const Outcome&) const = default;
};

Outcome run_once(const Job& job, const Config& config, ChoiceSource& choices) {
  const JobResult result = job.run(config, choices, SeedHooks{});
  return {result.trace_hash, result.ops, result.virtual_ms,
          result.failure
              ? std::optional(result.failure->check + " @ " + result.failure->site + ": " + result.failure->message)
              : std::nullopt};
}

std::string describe(const Outcome& o) {
  return "hash " + std::to_string(o.trace_hash) + ", " + std::to_string(o.ops) + " ops, " +
         std::to_string(o.virtual_ms) + " ms, " + o.failure.value_or("clean");
}

}  // namespace

TEST(JobDeterminism, EveryJobRepeatsAndReplaysEachSeed) {
  ASSERT_GE(job_table().size(), 5u);
  for (const Job* job : job_table()) {
    Config config;
    config.workload.job = job->name();
    config.run.ops_per_seed = 150;
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      SeededChoices first(seed), second(seed);
      const Outcome a = run_once(*job, config, first);
      const Outcome b = run_once(*job, config, second);
      EXPECT_EQ(a, b) << job->name() << " seed " << seed << ": " << describe(a) << " then " << describe(b);
      EXPECT_NE(a.trace_hash, 0u) << job->name() << " seed " << seed;
      ReplayChoices replay(first.recorded());
      const Outcome replayed = run_once(*job, config, replay);
      EXPECT_EQ(replayed, a) << job->name() << " seed " << seed << " replayed: " << describe(replayed) << ", recorded "
                             << describe(a);
      EXPECT_FALSE(replay.divergence().has_value()) << job->name() << " seed " << seed;
    }
  }
}

}  // namespace mmt::jobs
