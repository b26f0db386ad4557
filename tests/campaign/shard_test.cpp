// Shards: slice arithmetic, file names and `--shard auto` from a batch system's
// environment (Slurm array tasks, Kubernetes Indexed Jobs).
#include "mmtorture/campaign/shard.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace mmt::campaign {
namespace {

// An environment made of a map, as getenv would read it.
EnvironmentLookup env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

std::string error_of(std::string_view text, const EnvironmentLookup& e) {
  try {
    parse_shard(text, e);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "(no error)";
}

TEST(Shard, ExplicitKOfN) {
  const Shard s = parse_shard("3/4", env({}));
  EXPECT_EQ(s.index, 3u);
  EXPECT_EQ(s.count, 4u);
  EXPECT_EQ(error_of("5/4", env({})), "--shard: '5/4' is not K/N with 1 <= K <= N, nor auto");
  EXPECT_EQ(error_of("0/4", env({})), "--shard: '0/4' is not K/N with 1 <= K <= N, nor auto");
  EXPECT_EQ(error_of("1/4x", env({})), "--shard: '1/4x' is not K/N with 1 <= K <= N, nor auto");
  EXPECT_EQ(error_of("1/0", env({})), "--shard: '1/0' is not K/N with 1 <= K <= N, nor auto");
}

TEST(Shard, AutoFromASlurmArrayTask) {
  // sbatch --array=5-8: task 7 is the third of four.
  const Shard s = parse_shard(
      "auto", env({{"SLURM_ARRAY_TASK_ID", "7"}, {"SLURM_ARRAY_TASK_MIN", "5"}, {"SLURM_ARRAY_TASK_COUNT", "4"}}));
  EXPECT_EQ(s.index, 3u);
  EXPECT_EQ(s.count, 4u);
}

TEST(Shard, AutoFromAResubmittedSlurmTaskKeepsItsShardNumber) {
  // sbatch --array=3 alone (MIN 3, COUNT 1), with the campaign's shard count exported.
  const Shard s = parse_shard("auto", env({{"SLURM_ARRAY_TASK_ID", "3"},
                                           {"SLURM_ARRAY_TASK_MIN", "3"},
                                           {"SLURM_ARRAY_TASK_COUNT", "1"},
                                           {"MMT_SHARD_COUNT", "4"}}));
  EXPECT_EQ(s.index, 3u);
  EXPECT_EQ(s.count, 4u);
}

TEST(Shard, AutoFromAKubernetesIndexedJob) {
  const Shard s = parse_shard("auto", env({{"JOB_COMPLETION_INDEX", "0"}, {"MMT_SHARD_COUNT", "8"}}));
  EXPECT_EQ(s.index, 1u);
  EXPECT_EQ(s.count, 8u);
  const Shard last = parse_shard("auto", env({{"JOB_COMPLETION_INDEX", "7"}, {"MMT_SHARD_COUNT", "8"}}));
  EXPECT_EQ(last.index, 8u);
}

TEST(Shard, AutoNamesWhatIsMissingOrWrong) {
  EXPECT_EQ(error_of("auto", env({})),
            "--shard: auto: neither SLURM_ARRAY_TASK_ID (a Slurm array task) nor JOB_COMPLETION_INDEX (a Kubernetes "
            "Indexed Job) is set");
  EXPECT_EQ(error_of("auto", env({{"JOB_COMPLETION_INDEX", "2"}})),
            "--shard: auto: MMT_SHARD_COUNT is not set (an Indexed Job's manifest passes its completions count in it)");
  EXPECT_EQ(error_of("auto", env({{"JOB_COMPLETION_INDEX", "8"}, {"MMT_SHARD_COUNT", "8"}})),
            "--shard: auto: JOB_COMPLETION_INDEX=8 with MMT_SHARD_COUNT=8 gives shard 9/8, not K/N with 1 <= K <= N");
  EXPECT_EQ(error_of("auto", env({{"SLURM_ARRAY_TASK_ID", "x"}})), "--shard: auto: SLURM_ARRAY_TASK_ID='x' is not a number");
  EXPECT_EQ(error_of("auto", env({{"SLURM_ARRAY_TASK_ID", "2"}, {"SLURM_ARRAY_TASK_MIN", "1"}})),
            "--shard: auto: SLURM_ARRAY_TASK_COUNT is not set (a Slurm array task sets it)");
  // --array=1-7:2 has 4 tasks with ids 1,3,5,7: id 7 - min 1 + 1 = 7 > 4.
  EXPECT_NE(error_of("auto", env({{"SLURM_ARRAY_TASK_ID", "7"},
                                  {"SLURM_ARRAY_TASK_MIN", "1"},
                                  {"SLURM_ARRAY_TASK_COUNT", "4"}}))
                .find("gives shard 7/4"),
            std::string::npos);
}

TEST(Shard, SlicesPartitionTheRange) {
  const SeedRange seeds{5, 44};
  uint64_t total = 0;
  for (uint64_t k = 1; k <= 3; ++k) {
    const Shard shard{k, 3};
    const uint64_t n = shard_seed_count(seeds, shard);
    total += n;
    for (uint64_t i = 0; i < n; ++i) EXPECT_TRUE(shard_runs_seed(seeds, shard, shard_seed_at(seeds, shard, i)));
  }
  EXPECT_EQ(total, seeds.count());
  for (uint64_t s = seeds.first; s <= seeds.last; ++s) {
    int owners = 0;
    for (uint64_t k = 1; k <= 3; ++k) owners += shard_runs_seed(seeds, Shard{k, 3}, s);
    EXPECT_EQ(owners, 1) << "seed " << s;
  }
  EXPECT_EQ(shard_seed_count(SeedRange{1, 2}, Shard{3, 4}), 0u);  // more shards than seeds
  EXPECT_EQ(shard_seed_count(SeedRange{0, UINT64_MAX}, Shard{1, 2}), uint64_t{1} << 63);
}

TEST(Shard, FileNamesRoundTrip) {
  EXPECT_EQ(shard_journal_name(Shard{1, 1}), "journal.jsonl");
  EXPECT_EQ(shard_summary_name(Shard{1, 1}), "summary.json");
  EXPECT_EQ(shard_journal_name(Shard{2, 16}), "journal.shard-2-of-16.jsonl");
  EXPECT_EQ(shard_summary_name(Shard{2, 16}), "summary.shard-2-of-16.json");
  const auto shard = shard_of_journal_name("journal.shard-2-of-16.jsonl");
  ASSERT_TRUE(shard);
  EXPECT_EQ(shard->index, 2u);
  EXPECT_EQ(shard->count, 16u);
  EXPECT_TRUE(shard_of_journal_name("journal.jsonl"));
  EXPECT_FALSE(shard_of_journal_name("journal.shard-3-of-2.jsonl"));
  EXPECT_FALSE(shard_of_journal_name("journal.shard-x-of-2.jsonl"));
  EXPECT_FALSE(shard_of_journal_name("journal.jsonl.lock"));
  EXPECT_FALSE(shard_of_journal_name("random.bin"));
}

}  // namespace
}  // namespace mmt::campaign
