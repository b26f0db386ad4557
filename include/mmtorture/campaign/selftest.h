// `mmtorture selftest` (design.md §6): proves the checks catch each canary defect.
// For every defect it first runs the default campaign (configs/smoke.toml, unmodified)
// from fresh seeds, each in a worker process (a defect that corrupts memory may crash an
// unsanitized build; a crash counts as detected, as the campaign runner treats it),
// until the defect is detected or the budget runs out; if the default campaign did not
// catch it, the defect's own scenario config (configs/seedNNN-*.toml, maple.toml ...)
// gets the same budget. The table names the config that caught each defect first and
// says plainly which ones the default campaign does not catch. Then it shrinks the first
// repro; replays the shrunk repro 10 times as `mmtorture replay` does (each must fail
// with the recorded signature and trace hash); and runs a control — every config it
// ran, with no defect — over the same budget, which must stay clean. The table gives each
// repro's size before and after the shrink as (choices, operations, threads), the
// shrunk choices split into set-up and the rest (ReproSize, shrink.h).
//
// With `known_configs` (CI) each defect runs only its known catching config: the
// default campaign for the defects listed as caught by it (SelftestScenario::
// default_catches), the scenario for the rest — which verifies the list without paying
// a budget of default-campaign seeds for each defect it does not catch. The table then
// says "not run" for the default campaign of those.
//
// Which seed detects a defect, the ops it took and the shrunk repro are deterministic;
// wall times are reported only (the budget decides how many seeds are tried).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mmtorture/core/defects.h"

namespace mmt::campaign {

// A defect's scenario: the config (a file name under the configs directory) whose
// workload reaches its branch; empty when no job in the product reaches it yet.
// `default_catches`: the default campaign (kDefaultCampaign) is known to catch it
// within a few seconds, so --known-configs runs only the default campaign for it.
// `shrink_attempts` (0: the config's run.shrink_attempts) for a repro the shrinker needs
// more replays to bring within the target.
struct SelftestScenario {
  Defect defect;
  const char* config;
  bool default_catches = false;
  uint64_t shrink_attempts = 0;
};

// The default campaign: the config `scripts/run` and the README's main job run.
inline constexpr const char* kDefaultCampaign = "smoke.toml";
const std::vector<SelftestScenario>& selftest_scenarios();

struct SelftestOptions {
  std::string configs_dir = "configs";
  std::string out_dir = "out/selftest";
  double budget_s = 30;  // per config tried for a defect, and for the control
  // Seeds per defect, and control seeds per scenario (0: no limit). A search ends at
  // whichever of the two limits comes first; tests bound it by seeds, so the verdict
  // does not depend on how loaded the machine is.
  uint64_t max_seeds = 0;
  std::vector<std::string> defects;  // names; empty = every defect with a scenario
  uint64_t first_seed = 1;
  uint64_t shrink_attempts = 0;    // 0 = the scenario's run.shrink_attempts
  unsigned replays = 10;           // replays of the shrunk repro that must fail the same way
  // Also fail unless every shrunk repro is within kShrunkChoicesTarget choices beyond
  // set-up (CI: a shrinker or scenario regression shows as a red build).
  bool require_target = false;
  // Run only each defect's known catching config (see the top of this file).
  bool known_configs = false;
};

// The target for a shrunk repro: at most this many choices beyond the job's set-up.
inline constexpr uint64_t kShrunkChoicesTarget = 50;

// One row of the table.
struct SelftestRow {
  std::string defect, seed_thread, config;  // config: the one that caught it (else the last tried)
  bool implemented = true;  // a scenario exists
  bool detected = false;
  // The default campaign's try: run at all, caught it, seeds and wall time it took.
  bool default_run = false, default_detected = false, default_listed = false;
  uint64_t default_seeds = 0;
  double default_wall_s = 0;
  uint64_t seeds = 0;  // seeds of `config` run up to and including the detecting one
  uint64_t detecting_seed = 0;
  uint64_t ops = 0;         // operations over those seeds, to the failure
  double wall_s = 0;        // to first detection (or the budget), in the config that caught it
  std::string signature, repro;
  // The first repro: its choices (trimmed), set-up choices, operations to the failure,
  // and the workload threads of the scenario.
  uint64_t repro_choices = 0, repro_setup_choices = 0, repro_ops = 0, threads = 0;
  // The shrunk repro, the same sizes (its config may run fewer threads); see ReproSize
  // in shrink.h for what "set-up" means.
  uint64_t shrunk_choices = 0, setup_choices = 0, shrunk_ops = 0, shrunk_threads = 0;
  double shrink_s = 0;
  unsigned replays_same = 0, replays = 0;
  std::string note;
};

struct SelftestResult {
  std::vector<SelftestRow> rows;
  uint64_t control_seeds = 0, control_ops = 0;
  double control_wall_s = 0;
  std::string control_failure;  // the false positive's signature, empty when clean
  bool passed = false;  // every defect caught, every shrunk repro replayed the same way each time, control clean
};

// Runs the selftest, printing progress and the table to stdout. Throws ConfigError
// for an unknown defect name or an unreadable scenario config.
SelftestResult run_selftest(const SelftestOptions& options);

}  // namespace mmt::campaign
