// Config parsing from the knob table, repro round trips, replay and shrink in process,
// swarm draws recorded as choices, and determinism of run_seed.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <iterator>
#include <set>

#include "campaign_test_util.h"

#include "mmtorture/campaign/config.h"
#include "mmtorture/campaign/repro.h"
#include "mmtorture/campaign/seed_run.h"
#include "mmtorture/campaign/shrink.h"
#include "mmtorture/jobs/cma.h"
#include "mmtorture/jobs/maple.h"
#include "mmtorture/jobs/nommu.h"
#include "mmtorture/jobs/page_model.h"
#include "mmtorture/jobs/world.h"

namespace mmt::campaign {

using namespace mmt::jobs;  // the jobs and their engines

namespace {

Config planted_config(uint64_t ops, uint64_t plant_at) {
  Config config;
  config.run.ops_per_seed = ops;
  config.checks.selftest_plant_fork_after_op = plant_at;
  return config;
}

using testing::record_failure;

}  // namespace

TEST(Config, DefaultsComeFromTheJobOptions) {
  const Config config;
  EXPECT_EQ(config.world.memory_pages, VmWorldOptions{}.memory_pages);
  EXPECT_EQ(config.run.ops_per_seed, VmWorldOptions{}.ops);
  EXPECT_EQ(world_options(config).op_mix, VmWorldOptions{}.op_mix);
  EXPECT_EQ(config.workload.maple_rcu, MapleStressOptions{}.rcu);
}

TEST(Config, TomlRoundTripKeepsEveryKnobAndHash) {
  Config config = parse_config_text("[world]\nmm_slots = 5\n[schedule]\nstrategy = \"pct\"\npct_depth = 3\n", "t.toml");
  EXPECT_EQ(config.world.mm_slots, 5u);
  EXPECT_EQ(config.schedule.strategy, "pct");
  const Config again = parse_config_text(config_to_toml(config), "again.toml");
  EXPECT_EQ(config_to_toml(again), config_to_toml(config));
  EXPECT_EQ(config_hash(again), config_hash(config));
  EXPECT_NE(config_hash(again), config_hash(Config{}));
  // The seed range does not change the hash (shards and resumes share it).
  Config seeds = config;
  seeds.run.seeds = "5..9";
  EXPECT_EQ(config_hash(seeds), config_hash(config));
}

TEST(Config, ErrorsNameFileLineAndKey) {
  try {
    parse_config_text("[world]\n\nmm_slots = 99\n", "x.toml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "x.toml:3: world.mm_slots: 99 is out of range 1..64");
  }
  EXPECT_THROW(parse_config_text("[run]\nops_per_seed = 1.5\n", "y.toml"), ConfigError);
  Config overridden;
  EXPECT_THROW(apply_override(overridden, "faults.nowait_fail_probability=2"), ConfigError);
  // A cross-knob rule names the key too: reserved frames must leave more than the min
  // watermark free.
  try {
    parse_config_text("[world]\nmemory_pages = 512\nmin_free_pages = 128\nreserved_pages = 384\n", "z.toml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("z.toml:4: world.reserved_pages: 384 of 512 pages reserved", 0), 0u)
        << e.what();
  }
  EXPECT_NO_THROW(parse_config_text("[world]\nmemory_pages = 512\nmin_free_pages = 128\nreserved_pages = 383\n", "z.toml"));
  // Lock-free readers need a tree that frees replaced nodes after a grace period.
  try {
    parse_config_text("[workload]\njob = \"maple\"\nmaple_readers = 2\n", "r.toml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "r.toml:3: workload.maple_readers: lock-free readers need an RCU-mode tree: set workload.maple_rcu = true");
  }
  EXPECT_NO_THROW(parse_config_text("[workload]\njob = \"maple\"\nmaple_readers = 2\nmaple_rcu = true\n", "r.toml"));
}

// --set takes every form the tool prints (the banner writes TOML values) and the bare
// words it always took.
TEST(Config, SetTakesTomlValuesAndBareWords) {
  Config c;
  apply_override(c, "workload.job=\"maple\"");
  EXPECT_EQ(c.workload.job, "maple");
  apply_override(c, "workload.job=cma");
  EXPECT_EQ(c.workload.job, "cma");
  apply_override(c, "run.defects=[\"topdown-gap-miscalc\", \"mremap-uaf\"]");
  EXPECT_EQ(c.run.defects, (std::vector<std::string>{"topdown-gap-miscalc", "mremap-uaf"}));
  apply_override(c, "run.defects=[]");
  EXPECT_TRUE(c.run.defects.empty());
  apply_override(c, "run.defects=mremap-uaf,topdown-gap-miscalc");
  EXPECT_EQ(c.run.defects.size(), 2u);
  apply_override(c, "run.seeds=\"3..9\"");
  EXPECT_EQ(c.run.seeds, "3..9");
  apply_override(c, "run.seeds=5");
  EXPECT_EQ(c.run.seeds, "5");
  apply_override(c, "world.kswapd=false");
  EXPECT_FALSE(c.world.kswapd);
  apply_override(c, "faults.nowait_fail_probability=0.25");
  EXPECT_EQ(c.faults.nowait_fail_probability, 0.25);
  apply_override(c, "world.mm_slots=0x10");
  EXPECT_EQ(c.world.mm_slots, 16u);
  EXPECT_THROW(apply_override(c, "world.kswapd=\"true\""), ConfigError);  // a string is not a boolean
  EXPECT_THROW(apply_override(c, "world.mm_slots={a = 1}"), ConfigError);
}

// A knob's range is what the storage it ends up in can hold: every knob at its
// maximum reaches every job's options without being cut (full_check_every =
// 4294967296 used to become 0 through a cast to unsigned).
TEST(Config, EveryKnobAtItsMaximumFitsItsStorage) {
  for (const Knob& knob : knob_table()) {
    if (knob.type != KnobType::U64) continue;
    Config c;
    set_knob(c, knob.section, knob.name, static_cast<int64_t>(knob.max), "test", 0);
    EXPECT_NO_THROW({
      world_options(c);
      cma_options(c);
      nommu_options(c);
      maple_options(c);
      page_model_options(c);
    }) << knob.qualified() << " = " << static_cast<uint64_t>(knob.max);
  }
  Config c;
  apply_override(c, "checks.full_check_every=4294967295");
  EXPECT_EQ(world_options(c).full_check_every, 4294967295u);
  EXPECT_THROW(apply_override(c, "checks.full_check_every=4294967296"), ConfigError);
}

TEST(Config, EveryKnobAppearsInTheDocAndBanner) {
  const std::string doc = config_markdown();
  const std::string banner = config_banner(Config{});
  for (const Knob& knob : knob_table()) {
    EXPECT_NE(doc.find(std::string("`") + knob.name + "`"), std::string::npos) << knob.qualified();
    EXPECT_NE(banner.find(std::string(" ") + knob.name + "="), std::string::npos) << knob.qualified();
  }
}

TEST(Repro, JsonRoundTripReplaysExactly) {
  const Config config = planted_config(600, 150);
  const Repro repro = record_failure(config, 11);
  const Repro read = parse_repro(repro_to_json(repro), "mem.json");
  ASSERT_EQ(read.choices.size(), repro.choices.size());
  EXPECT_EQ(config_hash(read.config), config_hash(config));
  ReplayChoices replay(read.choices);
  const SeedResult result = run_seed(read.config, replay);
  ASSERT_TRUE(result.failure.has_value());
  EXPECT_EQ(result.failure->signature(), repro.failure.signature());
  EXPECT_EQ(result.trace_hash, repro.trace_hash);
  EXPECT_FALSE(replay.divergence().has_value());
}

// A repro saved before check names carried their module prefix still replays: it is read
// under today's name, so its signature matches the failure the replay raises.
TEST(Repro, OlderReprosAreReadUnderTodaysCheckNames) {
  Repro repro = record_failure(planted_config(400, 100), 3);
  auto read_as = [&](const char* check, const char* message, const char* job) {
    Repro old = repro;
    old.failure.check = check;
    old.failure.message = message;
    old.config.workload.job = job;
    return parse_repro(repro_to_json(old), "old.repro.json").failure.check;
  };
  EXPECT_EQ(read_as("leak", "x", "world"), "vma.leak");
  EXPECT_EQ(read_as("leak", "x", "nommu"), "nommu.leak");
  EXPECT_EQ(read_as("leak", "x", "cma"), "cma.leak");
  EXPECT_EQ(read_as("validate_mm", "x", "nommu"), "nommu.validate_mm");
  EXPECT_EQ(read_as("validate_mm", "x", "page_model"), "vma.validate_mm");
  EXPECT_EQ(read_as("mt_validate.gaps", "x", "maple"), "maple.mt_validate.gaps");
  EXPECT_EQ(read_as("rcu", "rcu_read_unlock without rcu_read_lock", "world"), "rcu.unbalanced_unlock");
  EXPECT_EQ(read_as("rcu", "grace period waited for inside rcu_read_lock", "maple"), "rcu.sync_in_reader");
  EXPECT_EQ(read_as("BUG", "x", "world"), "maple.bug");
  EXPECT_EQ(read_as("hang", "x", "cma"), "sched.hang");
  EXPECT_EQ(read_as("vm_world.unexpected_result", "x", "world"), "world.unexpected_result");
  // Today's names, and names no rename touched, read as written.
  EXPECT_EQ(read_as("vma.leak", "x", "world"), "vma.leak");
  EXPECT_EQ(read_as("selftest.planted", "x", "world"), "selftest.planted");
  EXPECT_EQ(read_as("kernel.mt_validate", "x", "maple"), "kernel.mt_validate");
}

// Every error of the JSON library is our ConfigError naming the file: "8e508" is a
// number too large for a double, which the library reports as out_of_range (not a
// parse_error); it crashed fuzz_repro within two seconds from an empty corpus.
TEST(Repro, EveryJsonLibraryErrorIsAConfigError) {
  for (const char* text : {"8e508", "-8e508", "[1e999]", "{\"seed\": 1e400}", "", "\xff", "{\"format\": 1}"}) {
    try {
      parse_repro(text, "bad.repro.json");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.file, "bad.repro.json") << text;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "escaped as " << e.what() << " for: " << text;
    }
  }
}

TEST(Repro, ChangedLabelIsReportedAsDivergence) {
  const Repro repro = record_failure(planted_config(400, 100), 3);
  std::vector<Choice> edited = repro.choices;
  edited[5].site = Site{"renamed.site"};
  ReplayChoices replay(edited);
  run_seed(repro.config, replay);
  ASSERT_TRUE(replay.divergence().has_value());
  EXPECT_EQ(replay.divergence()->index, 5u);
}

TEST(Shrink, KeepsTheSignatureAndReduces) {
  const Repro repro = record_failure(planted_config(800, 120), 21);
  ShrinkOptions options;
  options.max_attempts = 300;
  const auto run = [](const Config& config, const std::vector<Choice>& c) { return run_candidate_in_process(config, c); };
  const ShrinkResult a = shrink_repro(repro, options, run);
  EXPECT_EQ(a.repro.failure.signature(), repro.failure.signature());
  EXPECT_LT(a.after.choices, a.before.choices);
  EXPECT_LE(a.after.operations, a.before.operations);
  // Deterministic, and the result replays to its recorded trace.
  const ShrinkResult b = shrink_repro(repro, options, run);
  EXPECT_EQ(b.after.choices, a.after.choices);
  const CandidateRun replayed = run(a.repro.config, a.repro.choices);
  ASSERT_TRUE(replayed.failure.has_value());
  EXPECT_EQ(replayed.failure->signature(), repro.failure.signature());
  EXPECT_EQ(replayed.trace_hash, a.repro.trace_hash);
}

TEST(Swarm, SwitchesAreRecordedChoicesFirst) {
  Config config;
  config.run.ops_per_seed = 200;
  config.workload.swarm = true;
  config.faults.swarm = true;
  bool some_off = false;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SeededChoices choices(seed);
    const SeedResult result = run_seed(config, choices);
    ASSERT_FALSE(result.failure.has_value()) << result.failure->headline();
    ASSERT_GE(choices.recorded().size(), 11u);
    for (size_t i = 0; i < 11; ++i) EXPECT_EQ(choices.recorded()[i].kind, ChoiceKind::Swarm);
    some_off |= !result.swarm.empty();
  }
  EXPECT_TRUE(some_off);
}

// schedule.swarm: under preempt each seed draws its preempt probability (one Swarm
// choice, value v ≥ 1 picking the v-th of the set); under PCT nothing is drawn.
TEST(Swarm, PreemptProbabilityIsDrawnPerSeedUnderPreemptOnly) {
  Config config;
  config.run.ops_per_seed = 100;
  config.schedule.swarm = true;
  std::set<std::string> drawn;
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    SeededChoices choices(seed);
    const SeedResult result = run_seed(config, choices);
    ASSERT_FALSE(result.failure.has_value()) << result.failure->headline();
    const Choice& first = choices.recorded().at(0);
    EXPECT_EQ(first.kind, ChoiceKind::Swarm);
    EXPECT_EQ(first.site, kSwarmPreemptSite);
    EXPECT_EQ(first.bound, std::size(kSwarmPreemptProbabilities) + 1);
    if (first.value == 0) EXPECT_EQ(result.swarm, "");
    else EXPECT_EQ(result.swarm, fmt::format("preempt_probability={}", kSwarmPreemptProbabilities[first.value - 1]));
    drawn.insert(result.swarm);
  }
  EXPECT_EQ(drawn.size(), std::size(kSwarmPreemptProbabilities) + 1);  // every value, and the configured one
  EXPECT_EQ(swarm_preempt_probability(0, 0.1), 0.1);
  EXPECT_EQ(swarm_preempt_probability(4, 0.1), 0.5);
  config.schedule.strategy = "pct";
  SeededChoices pct_choices(1);
  run_seed(config, pct_choices);
  for (const Choice& choice : pct_choices.recorded()) EXPECT_NE(choice.kind, ChoiceKind::Swarm);
}

TEST(Config, PctNeedsRoomForItsDistinctChangePointsAndOldStrategyNamesStillRead) {
  try {
    parse_config_text("[schedule]\nstrategy = \"pct\"\npct_depth = 5\npct_steps = 3\n", "t.toml");
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.line, 4u);
    EXPECT_EQ(e.key, "schedule.pct_steps");
    EXPECT_EQ(e.reason, "strategy pct: estimated steps k (3) leave no room for d-1 = 4 distinct change points");
  }
  // "random" (the name preempt had) reads, and runs exactly as preempt does.
  Config old_name = parse_config_text("[schedule]\nstrategy = \"random\"\n", "t.toml");
  Config new_name = parse_config_text("[schedule]\nstrategy = \"preempt\"\n", "t.toml");
  old_name.run.ops_per_seed = new_name.run.ops_per_seed = 200;
  SeededChoices a(3), b(3);
  EXPECT_EQ(run_seed(old_name, a).trace_hash, run_seed(new_name, b).trace_hash);
}

// The world job under PCT reports its per-seed guarantee; keep_going counts problems.
TEST(RunSeed, PctGuaranteeAndKeepGoingProblemsAreInTheResult) {
  Config config = parse_config_text("[schedule]\nstrategy = \"pct\"\npct_depth = 3\npct_steps = 5000\n", "t.toml");
  config.run.ops_per_seed = 200;
  config.workload.workers = 3;
  config.world.kswapd = true;
  config.world.oom_kill = false;
  SeededChoices choices(2);
  const SeedResult result = run_seed(config, choices);
  EXPECT_DOUBLE_EQ(result.pct_guarantee, sched::pct_guarantee(4, 5000, 3));  // kswapd0 + 3 workers
  EXPECT_NE(result.stats.find("pct: n=4 threads, k=5000, d=3"), std::string::npos) << result.stats;
  Config planted;
  planted.run.ops_per_seed = 400;
  planted.checks.selftest_plant_fork_after_op = 50;
  planted.checks.keep_going = true;
  SeededChoices planted_choices(1);
  const SeedResult failed = run_seed(planted, planted_choices);
  ASSERT_TRUE(failed.failure.has_value());
  EXPECT_EQ(failed.failure->check, "selftest.planted");
  EXPECT_NE(failed.stats.find("distinct problem"), std::string::npos) << failed.stats;
  EXPECT_NE(failed.stats.find("selftest.planted"), std::string::npos) << failed.stats;
}

TEST(RunSeed, SameSeedSameTraceForEveryJobAndStrategy) {
  for (const char* text : {"[schedule]\nstrategy = \"pct\"\n", "[schedule]\nstrategy = \"uniform\"\n",
                           "[workload]\njob = \"maple\"\n", ""}) {
    Config config = parse_config_text(text, "t.toml");
    config.run.ops_per_seed = 300;
    for (uint64_t seed = 1; seed <= 5; ++seed) {
      SeededChoices a(seed), b(seed);
      EXPECT_EQ(run_seed(config, a).trace_hash, run_seed(config, b).trace_hash) << text << " seed " << seed;
    }
  }
}

// workload.job_mix: a seed's job follows from its number alone, in rounds of the summed
// weights, the jobs in the order listed; the seed's config is its job's alone.
TEST(JobMix, EachSeedsJobFollowsItsNumberAlone) {
  const char* text =
      "[workload]\njob_mix = [\"world:3\", \"maple:1\", \"cma:2\"]\n"
      "job_set = [\"maple:run.ops_per_seed=77\", \"maple:schedule.strategy=uniform\", \"cma:cma.clients=3\"]\n"
      "maple_rcu = true\n[run]\nops_per_seed = 500\n";
  const Config config = parse_config_text(text, "mix.toml");
  const std::vector<std::string> want = {"world", "world", "world", "maple", "cma", "cma"};
  for (uint64_t seed = 0; seed < 60; ++seed) EXPECT_EQ(job_of_seed(config, seed), want[seed % 6]) << seed;
  EXPECT_EQ(mix_jobs(config), (std::vector<std::string>{"world", "maple", "cma"}));
  // Nothing but the mix decides it: other knobs, or the seed's choices, do not.
  Config other = config;
  other.run.ops_per_seed = 9;
  other.workload.workers = 7;
  for (uint64_t seed = 0; seed < 60; ++seed) EXPECT_EQ(job_of_seed(other, seed), job_of_seed(config, seed));
  // A seed's config: its job, its job's sets applied and no other's, no mix left.
  const Config maple = seed_config(config, 9);
  EXPECT_EQ(maple.workload.job, "maple");
  EXPECT_TRUE(maple.workload.job_mix.empty());
  EXPECT_TRUE(maple.workload.job_set.empty());
  EXPECT_EQ(maple.run.ops_per_seed, 77u);
  EXPECT_EQ(maple.schedule.strategy, "uniform");
  EXPECT_EQ(maple.cma.clients, Config{}.cma.clients);
  const Config world = seed_config(config, 6);
  EXPECT_EQ(world.workload.job, "world");
  EXPECT_EQ(world.run.ops_per_seed, 500u);
  EXPECT_EQ(world.schedule.strategy, Config{}.schedule.strategy);
  EXPECT_EQ(seed_config(config, 5).cma.clients, 3u);
  // A config without a mix is every seed's config, and its hash is what it was before
  // the mix existed (the two list knobs are left out while empty).
  const Config plain = parse_config_text("[run]\nops_per_seed = 500\n", "plain.toml");
  EXPECT_EQ(config_to_toml(seed_config(plain, 4)), config_to_toml(plain));
  EXPECT_NE(config_hash(config), config_hash(plain));
}

TEST(JobMix, BadMixesAreRejectedNamingTheKey) {
  const auto reason = [](const char* text) -> std::string {
    try {
      parse_config_text(text, "m.toml");
    } catch (const ConfigError& e) {
      return fmt::format("{}:{}: {}: {}", e.file, e.line, e.key, e.reason);
    }
    return "accepted";
  };
  EXPECT_EQ(reason("[workload]\njob_mix = [\"world:8\", \"dma:1\"]\n"),
            "m.toml:2: workload.job_mix: 'dma:1': the job must be \"world\", \"maple\", \"page_model\", \"cma\" or "
            "\"nommu\"");
  EXPECT_EQ(reason("[workload]\njob_mix = [\"world:0\"]\n"),
            "m.toml:2: workload.job_mix: 'world:0': the weight must be an integer in 1..1000");
  EXPECT_EQ(reason("[workload]\njob_mix = [\"world:1\", \"world:2\"]\n"),
            "m.toml:2: workload.job_mix: names the world job twice");
  EXPECT_EQ(reason("[workload]\njob_mix = [\"world:1\"]\njob_set = [\"maple:run.ops_per_seed=5\"]\n"),
            "m.toml:3: workload.job_set: 'maple:run.ops_per_seed=5': the maple job is not in workload.job_mix");
  EXPECT_EQ(reason("[workload]\njob_mix = [\"world:1\"]\njob_set = [\"world:run.nope=1\"]\n"),
            "m.toml:3: workload.job_set: 'world:run.nope=1': run.nope: unknown key");
  EXPECT_EQ(reason("[workload]\njob_set = [\"world:run.ops_per_seed=5\"]\n"),
            "m.toml:2: workload.job_set: sets knobs of the jobs of a workload.job_mix, and there is none");
  // A rule one job's seeds break names the key and the job.
  EXPECT_EQ(reason("[workload]\njob_mix = [\"world:1\", \"maple:1\"]\n"
                   "job_set = [\"maple:workload.maple_readers=2\"]\n"),
            "m.toml:3: workload.job_set: lock-free readers need an RCU-mode tree: set workload.maple_rcu = true (in "
            "the maple job's seeds of the mix)");
}

}  // namespace mmt::campaign
