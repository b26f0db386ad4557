// The run.defects knob: a TOML array, `--set a,b`, the repro's JSON; unknown
// names rejected; the config's defects are on for exactly the seed that runs it.
#include <gtest/gtest.h>

#include "mmtorture/campaign/config.h"
#include "mmtorture/campaign/seed_run.h"
#include "mmtorture/core/defects.h"

namespace mmt::campaign {

TEST(ConfigDefects, TomlArrayOverrideAndJsonRoundTrip) {
  Config config = parse_config_text("[run]\ndefects = [\"mremap-uaf\", \"brk-munmap-shortcut\", \"mremap-uaf\"]\n", "t.toml");
  EXPECT_EQ(config.run.defects, (std::vector<std::string>{"mremap-uaf", "brk-munmap-shortcut"}));
  EXPECT_EQ(config_from_json(config_to_json(config), "r.json", 1).run.defects, config.run.defects);
  EXPECT_NE(config_hash(config), config_hash(Config{}));  // the defects decide the run
  apply_override(config, "run.defects=");
  EXPECT_TRUE(config.run.defects.empty());
  apply_override(config, "run.defects=topdown-gap-miscalc,nommu-split-double-count");
  EXPECT_EQ(config.run.defects.size(), 2u);
}

TEST(ConfigDefects, UnknownNameIsAConfigErrorWithItsLine) {
  try {
    parse_config_text("[run]\n\ndefects = [\"no-such-defect\"]\n", "t.toml");
    FAIL() << "accepted an unknown defect";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "t.toml:3: run.defects: unknown defect 'no-such-defect' (mmtorture list --defects names them)");
  }
  EXPECT_THROW(parse_config_text("[run]\ndefects = [1]\n", "t.toml"), ConfigError);
}

TEST(ConfigDefects, OnForTheSeedOnlyAndCaught) {
  Config config;
  config.workload.job = "page_model";
  config.run.ops_per_seed = 100;
  config.run.defects = {"nommu-split-double-count"};
  SeededChoices choices(1);
  const SeedResult result = run_seed(config, choices);
  ASSERT_TRUE(result.failure.has_value());
  EXPECT_EQ(result.failure->check, "vma.validate_mm");
  EXPECT_TRUE(enabled_defects().empty());  // restored after the seed
  config.run.defects.clear();
  SeededChoices again(1);
  EXPECT_FALSE(run_seed(config, again).failure.has_value());
}

TEST(ConfigDefects, PageModelJobIsDeterministic) {
  Config config;
  config.workload.job = "page_model";
  config.run.ops_per_seed = 200;
  SeededChoices a(7), b(7);
  const SeedResult first = run_seed(config, a), second = run_seed(config, b);
  EXPECT_EQ(first.trace_hash, second.trace_hash);
  EXPECT_NE(first.trace_hash, 0u);
  EXPECT_EQ(first.ops, 200u);
}

// The nommu job: seed 001's board as a campaign seed. An OOM fails the seed (the
// thread's failure) with the boot step as its op index, replays exactly from the
// recorded choices, and is only a stats line with nommu.oom_fails off; the split
// canary fails validate_mm in the boot itself.
TEST(NommuJob, AnOomFailsTheSeedAndReplays) {
  Config config = parse_config_text("[workload]\njob = \"nommu\"\n[nommu]\nmemory_mib = 32\n[run]\nops_per_seed = 300\n",
                                    "seed001.toml");
  SeededChoices seeded(1);
  const SeedResult result = run_seed(config, seeded);
  ASSERT_TRUE(result.failure.has_value());
  EXPECT_EQ(result.failure->check, "nommu.oom");
  EXPECT_NE(result.failure->message.find("32 MiB board ran out of memory at step"), std::string::npos)
      << result.failure->message;
  EXPECT_EQ(result.failure->op_index + 1, result.ops) << "the OOM step is the last one run";
  ReplayChoices replay(seeded.recorded());
  const SeedResult again = run_seed(config, replay);
  ASSERT_TRUE(again.failure.has_value());
  EXPECT_EQ(again.failure->signature(), result.failure->signature());
  EXPECT_EQ(again.trace_hash, result.trace_hash);

  config.nommu.oom_fails = false;
  SeededChoices quiet(1);
  const SeedResult reported = run_seed(config, quiet);
  EXPECT_FALSE(reported.failure.has_value());
  EXPECT_NE(reported.stats.find("out of memory at step"), std::string::npos) << reported.stats;
  EXPECT_EQ(reported.trace_hash, result.trace_hash) << "whether an OOM fails the seed changes nothing in the run";

  config.nommu.oom_fails = true;
  config.nommu.exact_free_to_tail = true;  // Liam's allocator change: the same seed boots
  SeededChoices tail(1);
  const SeedResult booted = run_seed(config, tail);
  EXPECT_FALSE(booted.failure.has_value()) << booted.failure->headline();
  EXPECT_EQ(booted.ops, 300u);
}

TEST(NommuJob, SplitDoubleCountIsCaughtInTheBoot) {
  Config config = parse_config_text("[workload]\njob = \"nommu\"\n[nommu]\nmemory_mib = 64\n[run]\nops_per_seed = 300\n",
                                    "seed001.toml");
  config.run.defects = {"nommu-split-double-count"};
  SeededChoices choices(1);
  const SeedResult result = run_seed(config, choices);
  ASSERT_TRUE(result.failure.has_value());
  EXPECT_EQ(result.failure->check, "nommu.validate_mm");
  EXPECT_NE(result.failure->message.find("map_count says"), std::string::npos) << result.failure->message;
}

}  // namespace mmt::campaign
