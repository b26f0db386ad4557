// The structure-aware shrinker (shrink.h) on real world failures: the planted fork
// failure and a canary defect shrink to a handful of choices with a reduced config,
// keep their signature, replay exactly with plain replay, and shrink the same way twice.
#include <gtest/gtest.h>

#include "campaign_test_util.h"

#include "mmtorture/campaign/aligned_replay.h"
#include "mmtorture/campaign/config.h"
#include "mmtorture/campaign/repro.h"
#include "mmtorture/campaign/seed_run.h"
#include "mmtorture/campaign/shrink.h"
#include "mmtorture/jobs/world.h"

namespace mmt::campaign {

namespace {

using testing::record_failure;

CandidateRun in_process(const Config& config, const std::vector<Choice>& choices) {
  return run_candidate_in_process(config, choices);
}

// What `mmtorture replay` does with the shrunk file: plain replay by position.
void expect_replays_exactly(const Repro& shrunk) {
  const Repro reread = parse_repro(repro_to_json(shrunk), "shrunk.repro.json");
  ReplayChoices replay(reread.choices);
  const SeedResult result = run_seed(reread.config, replay);
  ASSERT_TRUE(result.failure.has_value());
  EXPECT_EQ(result.failure->signature(), shrunk.failure.signature());
  EXPECT_EQ(result.trace_hash, shrunk.trace_hash);
  EXPECT_FALSE(replay.divergence().has_value());
}

// The smoke world (4 workers, 4 mms, PCT, swarm) with the planted fork failure.
Config planted_smoke_config() {
  Config config = parse_config_text(R"(
[world]
memory_pages = 1024
min_free_pages = 96
mm_slots = 4
[workload]
job = "world"
workers = 4
swarm = true
[faults]
nowait_fail_probability = 0.02
swarm = true
[schedule]
strategy = "pct"
pct_depth = 3
pct_steps = 20000
[checks]
selftest_plant_fork_after_op = 300
[run]
ops_per_seed = 10000
)",
                                    "planted.toml");
  return config;
}

}  // namespace

TEST(Shrink, PlantedWorldFailureShrinksToItsConfig) {
  const Repro repro = record_failure(planted_smoke_config(), 1);
  ASSERT_EQ(repro.failure.check, "selftest.planted");
  ShrinkOptions options;
  options.max_attempts = 300;
  const ShrinkResult a = shrink_repro(repro, options, in_process);
  EXPECT_EQ(a.repro.failure.signature(), repro.failure.signature());
  EXPECT_GT(a.before.choices, 1000u);
  // The failure needs only "fork once at op 300": one worker, one mm, forks only.
  EXPECT_LE(a.after.choices, 10u);
  EXPECT_EQ(a.after.threads, 1u);
  EXPECT_LE(a.repro.config.run.ops_per_seed, 301u);
  expect_replays_exactly(a.repro);
  // Deterministic: shrinking again gives the identical file.
  const ShrinkResult b = shrink_repro(repro, options, in_process);
  EXPECT_EQ(repro_to_json(b.repro), repro_to_json(a.repro));
  EXPECT_EQ(b.attempts, a.attempts);
}

// schedule.swarm's drawn preempt probability is baked into the config like the other
// swarm draws: the shrunk repro has no Swarm choice left and replays on its own.
TEST(Shrink, SwarmPreemptProbabilityIsBakedIntoTheConfig) {
  Config config = planted_smoke_config();
  config.schedule.strategy = "preempt";
  config.schedule.swarm = true;
  config.workload.swarm = false;
  config.faults.swarm = false;
  for (uint64_t seed = 1;; ++seed) {
    ASSERT_LT(seed, 40u) << "no seed drew a preempt probability";
    const Repro repro = record_failure(config, seed);
    ASSERT_EQ(repro.failure.check, "selftest.planted");
    ASSERT_EQ(repro.choices.at(0).site, jobs::kSwarmPreemptSite);
    if (repro.choices[0].value == 0) continue;
    ShrinkOptions options;
    options.max_attempts = 200;
    const ShrinkResult shrunk = shrink_repro(repro, options, in_process);
    EXPECT_FALSE(shrunk.repro.config.schedule.swarm);
    for (const Choice& choice : shrunk.repro.choices) EXPECT_NE(choice.kind, ChoiceKind::Swarm);
    expect_replays_exactly(shrunk.repro);
    break;
  }
}

TEST(Shrink, CanaryDefectShrinksBelowFiftyChoices) {
  // topdown-gap-miscalc in the seed-003 world (3 workers, kswapd, mremap under pressure),
  // caught by validate_mm in the first seed.
  Config config = parse_config_text(R"(
[world]
memory_pages = 1024
min_free_pages = 160
mm_slots = 3
[workload]
job = "world"
workers = 3
mix_mmap_fixed = 5
mix_mmap = 4
mix_munmap = 4
mix_mprotect = 1
mix_fault = 12
mix_mremap = 10
mix_brk = 0
mix_fork = 1
mix_exit = 1
[faults]
nowait_fail_probability = 0.02
[run]
ops_per_seed = 3000
defects = ["topdown-gap-miscalc"]
)",
                                    "seed003.toml");
  const Repro repro = record_failure(config, 1);
  ShrinkOptions options;
  options.max_attempts = 300;
  const ShrinkResult a = shrink_repro(repro, options, in_process);
  EXPECT_EQ(a.repro.failure.signature(), repro.failure.signature());
  EXPECT_LE(a.after.beyond_setup(), 50u);
  EXPECT_LT(a.after.operations, a.before.operations);
  EXPECT_LE(a.after.threads, a.before.threads);
  expect_replays_exactly(a.repro);
  const ShrinkResult b = shrink_repro(repro, options, in_process);
  EXPECT_EQ(repro_to_json(b.repro), repro_to_json(a.repro));
}

// mprotect-drops-late-enomem needs the mprotect's maple-node request made after it
// changed its first VMA to fail. Deleting an earlier operation changes the tree, and
// with it how many requests the mprotect makes, so the failed one would land earlier
// (an honest -ENOMEM) or nowhere: the shrinker moves it along with a deletion (the same
// request counted from the end). Without that this repro stalls at 17 operations, 102
// choices, that only shape the tree.
TEST(Shrink, ALateAllocationFailureFollowsTheDeletedOperations) {
  Config config = parse_config_text(R"(
[world]
memory_pages = 1024
min_free_pages = 96
mm_slots = 3
kswapd = false
[workload]
job = "world"
workers = 2
mix_mremap = 0
mix_brk = 0
mix_fork = 0
mix_exit = 0
mix_stack = 2
[faults]
nowait_fail_probability = 0
maple_node_fail_probability = 0.01
[run]
ops_per_seed = 4000
defects = ["mprotect-drops-late-enomem"]
)",
                                    "late-enomem.toml");
  const Repro repro = record_failure(config, 2);
  ASSERT_EQ(repro.failure.check, "world.result");
  ShrinkOptions options;
  options.max_attempts = 300;
  const ShrinkResult a = shrink_repro(repro, options, in_process);
  EXPECT_EQ(a.repro.failure.signature(), repro.failure.signature());
  EXPECT_LE(a.after.beyond_setup(), 20u);
  EXPECT_LE(a.after.operations, 3u);
  expect_replays_exactly(a.repro);
}

// A shrink replays each candidate in a worker when the candidate may take the process
// down: a crash or a timeout, and any failure of a job that runs the kernel's own C
// code, whose bugs corrupt memory (a freed live node read back as poison crashes).
TEST(Shrink, CandidatesRunInWorkersForCrashesAndTheKernelsCode) {
  Repro repro;
  repro.config.workload.job = "maple";
  repro.failure.check = "slab.double_free";
  EXPECT_FALSE(shrink_in_workers(repro));  // the model backend: in process
  for (const char* backend : {"kernel", "differential"}) {
    repro.config.workload.maple_backend = backend;
    EXPECT_TRUE(shrink_in_workers(repro)) << backend;
  }
  repro.config.workload.maple_backend = "model";
  for (const char* check : {"crash", "timeout"}) {
    repro.failure.check = check;
    EXPECT_TRUE(shrink_in_workers(repro)) << check;
  }
  repro.config.workload.job = "world";
  repro.failure.check = "vma.validate";
  EXPECT_FALSE(shrink_in_workers(repro));
}

TEST(OpAlignedChoices, RecordedListReplaysAsPlainReplay) {
  Config config;
  config.run.ops_per_seed = 200;
  SeededChoices seeded(7);
  const SeedResult recorded = run_seed(config, seeded);
  OpAlignedChoices aligned(seeded.recorded());
  const SeedResult again = run_seed(config, aligned);
  EXPECT_EQ(again.trace_hash, recorded.trace_hash);
  ASSERT_EQ(aligned.recorded().size(), seeded.recorded().size());
  for (size_t i = 0; i < aligned.recorded().size(); ++i) EXPECT_EQ(aligned.recorded()[i].value, seeded.recorded()[i].value);
}

TEST(OpAlignedChoices, ACutOperationLeavesLaterOperationsAligned) {
  // One worker, one mm, no preemption or injection: each operation is its Op draw and
  // its arguments. Cutting the arguments of the first operation short must not shift
  // the later operations (plain replay would feed them to the wrong draws).
  Config config;
  config.run.ops_per_seed = 20;
  config.workload.workers = 1;
  config.world.mm_slots = 1;
  config.world.kswapd = false;
  config.schedule.preempt_probability = 0;
  config.faults.nowait_fail_probability = 0;
  SeededChoices seeded(3);
  run_seed(config, seeded);
  std::vector<Choice> cut = seeded.recorded();
  size_t second_op = 1;
  while (second_op < cut.size() && cut[second_op].kind != ChoiceKind::Op) ++second_op;
  ASSERT_GT(second_op, 1u);
  cut.erase(cut.begin() + 1, cut.begin() + static_cast<ptrdiff_t>(second_op));  // the first op's arguments
  OpAlignedChoices aligned(cut);
  run_seed(config, aligned);
  std::vector<uint64_t> want, got;
  for (size_t i = second_op; i < seeded.recorded().size(); ++i)
    if (seeded.recorded()[i].kind == ChoiceKind::Op) want.push_back(seeded.recorded()[i].value);
  bool first = true;
  for (const Choice& c : aligned.recorded())
    if (c.kind == ChoiceKind::Op && !std::exchange(first, false)) got.push_back(c.value);
  EXPECT_EQ(got, want);
}

TEST(Shrink, CmaFailureDropsTheActorsItDoesNotNeed) {
  // cma-bitmap-leak-on-busy in the seed-004 policies world (9 threads: two clients,
  // forker, O_DIRECT pinner, toucher, hog, vfio, two killers): the leak needs one client
  // and one page pinned for good, nothing else.
  Config config = parse_config_text(R"(
[workload]
job = "cma"
[cma]
policy = "bounded"
longterm_pins = 8
longterm_mode = "pin_in_place"
fatal_signal_at_ms = 1000
[schedule]
hang_ms = 20000
[run]
defects = ["cma-bitmap-leak-on-busy"]
)",
                                    "seed004.toml");
  const Repro repro = record_failure(config, 1);
  ASSERT_EQ(repro.failure.check, "cma.bitmap");
  EXPECT_EQ(repro_size(repro).threads, 9u);
  ShrinkOptions options;
  options.max_attempts = 200;
  const ShrinkResult a = shrink_repro(repro, options, in_process);
  EXPECT_EQ(a.repro.failure.signature(), repro.failure.signature());
  EXPECT_EQ(a.repro.config.cma.forkers, 0u);
  EXPECT_EQ(a.repro.config.cma.short_pinners, 0u);
  EXPECT_EQ(a.repro.config.cma.touchers, 0u);
  EXPECT_EQ(a.repro.config.cma.hogs, 0u);
  EXPECT_EQ(a.repro.config.cma.clients, 1u);
  EXPECT_LE(a.after.threads, 2u) << "one client and vfio";
  EXPECT_LE(a.after.beyond_setup(), 50u);
  expect_replays_exactly(a.repro);
}

}  // namespace mmt::campaign
