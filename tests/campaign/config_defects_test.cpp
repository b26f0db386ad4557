// The run.defects knob (issue 8): a TOML array, `--set a,b`, the repro's JSON; unknown
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
  EXPECT_EQ(result.failure->check, "validate_mm");
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

}  // namespace mmt::campaign
