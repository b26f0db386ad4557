// summary.json: a campaign with failures writes a summary whose
// every number and path agrees with its journal and its repro files.
#include "mmtorture/campaign/summary.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "mmtorture/campaign/campaign.h"
#include "mmtorture/campaign/repro.h"

namespace mmt::campaign {
namespace {

namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / (name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir.string();
}

TEST(Summary, AgreesWithTheJournalAndTheRepros) {
  CampaignOptions options;
  apply_override(options.config, "checks.selftest_plant_fork_after_op=60");
  apply_override(options.config, "run.shrink_attempts=40");
  options.config.run.ops_per_seed = 300;
  options.config_name = "(test)";
  options.seeds = SeedRange{3, 9};
  options.shard_index = 2;
  options.shard_count = 2;  // seeds 4, 6, 8
  options.jobs = 2;
  options.quiet_progress = true;
  options.out_dir = fresh_dir("summary");
  std::fflush(stdout);
  ASSERT_EQ(run_campaign(options), 1);

  const auto entries = read_journal(journal_path(options));
  ASSERT_EQ(entries.size(), 3u);
  const auto j = nlohmann::json::parse(read_file(options.out_dir + "/summary.shard-2-of-2.json"));
  EXPECT_EQ(j.at("format"), kSummaryFormat);
  EXPECT_EQ(j.at("kind"), "run");
  EXPECT_EQ(j.at("state"), "done");
  EXPECT_EQ(j.at("config_hash"), config_hash(options.config));
  EXPECT_EQ(j.at("job"), options.config.workload.job);
  EXPECT_EQ(j.at("seeds").at("first"), 3u);
  EXPECT_EQ(j.at("seeds").at("last"), 9u);
  EXPECT_EQ(j.at("shard").at("index"), 2u);
  EXPECT_EQ(j.at("shard").at("count"), 2u);
  EXPECT_EQ(j.at("shard").at("seeds"), 3u);
  EXPECT_EQ(j.at("journal"), journal_path(options));
  EXPECT_EQ(j.at("complete"), true);
  EXPECT_TRUE(j.at("missing").empty());

  // Counts, ops and per-signature facts recomputed from the journal.
  uint64_t ops = 0, virtual_ms = 0, failing = 0;
  std::map<std::string, uint64_t> outcomes, counts, first_seed;
  std::map<std::string, std::string> first_repro;
  for (const auto& e : entries) {
    ops += e.ops;
    virtual_ms += e.virtual_ms;
    ++outcomes[e.outcome];
    if (e.outcome == "clean") continue;
    ++failing;
    ++counts[e.signature_id];
    if (!first_seed.count(e.signature_id) || e.seed < first_seed[e.signature_id]) {
      first_seed[e.signature_id] = e.seed;
      first_repro[e.signature_id] = e.repro;
    }
  }
  ASSERT_GT(failing, 0u);
  EXPECT_EQ(j.at("counts").at("seeds"), entries.size());
  EXPECT_EQ(j.at("counts").at("failing"), failing);
  EXPECT_EQ(j.at("counts").at("signatures"), counts.size());
  EXPECT_EQ((j.at("counts").at("outcomes").get<std::map<std::string, uint64_t>>()), outcomes);
  EXPECT_EQ(j.at("ops"), ops);
  EXPECT_EQ(j.at("virtual_ms"), virtual_ms);
  ASSERT_EQ(j.at("signatures").size(), counts.size());
  for (const auto& sig : j.at("signatures")) {
    const std::string id = sig.at("signature_id");
    EXPECT_EQ(sig.at("count"), counts[id]);
    EXPECT_EQ(sig.at("first_seed"), first_seed[id]);
    EXPECT_EQ(sig.at("first_repro"), first_repro[id]);
    EXPECT_TRUE(fs::exists(first_repro[id]));
    EXPECT_EQ(sig.at("shards"), nlohmann::json::array({1}));
    // The campaign shrank the first repro: the summary gives the shrunk file's size.
    ASSERT_FALSE(sig.at("shrunk").is_null()) << id;
    const Repro shrunk = load_repro(sig.at("shrunk").at("path"));
    EXPECT_EQ(sig.at("shrunk").at("choices"), shrunk.choices.size());
    EXPECT_EQ(sig.at("shrunk").at("ops"), shrunk.ops);
    EXPECT_LT(shrunk.choices.size(), load_repro(first_repro[id]).choices.size());
  }
  const auto& t = j.at("throughput");
  EXPECT_EQ(t.at("seeds"), 3u);
  EXPECT_EQ(t.at("ops"), ops);
  EXPECT_EQ(t.at("jobs"), 2u);
  EXPECT_GT(t.at("wall_s").get<double>(), 0.0);

  // merge reads the seed range and shard back from it.
  const ShardSummary back = read_shard_summary(options.out_dir + "/summary.shard-2-of-2.json");
  EXPECT_EQ(back.seeds.first, 3u);
  EXPECT_EQ(back.seeds.last, 9u);
  EXPECT_EQ(back.shard.index, 2u);
  EXPECT_EQ(back.config_hash, config_hash(options.config));
  // No temporary file is left beside it.
  for (const auto& entry : fs::directory_iterator(options.out_dir))
    EXPECT_EQ(entry.path().string().find(".tmp."), std::string::npos) << entry.path();
}

TEST(Summary, ReadingRejectsWhatIsNotAShardSummary) {
  const std::string dir = fresh_dir("summary-bad");
  fs::create_directories(dir);
  write_file_atomic(dir + "/random.json", "\x01\x02 not json");
  EXPECT_THROW(read_shard_summary(dir + "/random.json"), ConfigError);
  write_file_atomic(dir + "/other.json", R"({"format": "mmtorture-repro/1"})");
  EXPECT_THROW(read_shard_summary(dir + "/other.json"), ConfigError);
  EXPECT_THROW(read_shard_summary(dir + "/missing.json"), ConfigError);
}

}  // namespace
}  // namespace mmt::campaign
