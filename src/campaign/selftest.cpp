// `mmtorture selftest` (selftest.h): each canary defect against its scenario, the
// shrink of its first repro, replays of the shrunk repro, and a defect-free control.
#include "mmtorture/campaign/selftest.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "mmtorture/campaign/config.h"
#include "mmtorture/campaign/isolated.h"
#include "mmtorture/campaign/repro.h"
#include "mmtorture/campaign/seed_run.h"
#include "mmtorture/campaign/shrink.h"

namespace mmt::campaign {

namespace {

using Clock = std::chrono::steady_clock;  // budgets and reporting only, never fed to a run

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Waits for a worker, killing it after `timeout_s`; returns whether it timed out.
bool wait_worker(Worker& worker, double timeout_s) {
  const auto started = Clock::now();
  for (;;) {
    pollfd pfd{worker.fd(), POLLIN, 0};
    if (::poll(&pfd, 1, 100) > 0 && !worker.read_some()) return false;
    if (seconds_since(started) > timeout_s) {
      worker.kill_now();
      return true;
    }
  }
}

struct SeedOutcome {
  WorkerReport report;
  std::vector<Choice> choices;  // every choice drawn, even when the worker died
};

// One seed of `config` in a worker that streams its choices into shared memory (a
// mixed campaign's seed runs its own job's config, seed_config).
SeedOutcome run_seed_isolated(const Config& campaign_config, uint64_t seed, double timeout_s) {
  CaptureBuffer buffer;
  const Config config = seed_config(campaign_config, seed);
  auto worker = Worker::start(
      [&](CaptureBuffer* capture) {
        SeededChoices seeded(seed);
        CapturingChoices capturing(seeded, *capture);
        WorkerReport report;
        report.result = run_seed(config, capturing);
        report.outcome = report.result.failure ? Outcome::Fail : Outcome::Clean;
        return encode_report(report);
      },
      &buffer);
  const bool timed_out = wait_worker(*worker, timeout_s);
  SeedOutcome out;
  out.report = finish_worker(*worker, timed_out, static_cast<uint64_t>(timeout_s));
  out.choices = buffer.choices();
  return out;
}

uint64_t count_kind(const std::vector<Choice>& choices, ChoiceKind kind) {
  return static_cast<uint64_t>(
      std::count_if(choices.begin(), choices.end(), [&](const Choice& c) { return c.kind == kind; }));
}

// Shrinks `repro` with every candidate replayed in a fresh worker process: a defect that
// corrupts memory (a use after free) fails in a way that depends on the allocator's
// state, which earlier candidates in the same process would have changed — the shrunk
// repro must fail the same way when replayed on its own.
void shrink_in_worker(const Repro& repro, const std::string& min_path, uint64_t attempts, SelftestRow& row) {
  auto worker = Worker::start(
      [&](CaptureBuffer*) {
        ShrinkOptions options;
        options.max_attempts = attempts;
        const uint64_t timeout = repro.config.run.seed_timeout_s;
        const ShrinkResult result =
            shrink_repro(repro, options, [&](const Config& candidate, const std::vector<Choice>& c) {
              return run_candidate_isolated(candidate, c, timeout);
            });
        nlohmann::json j;
        if (!result.reproduced) {
          j["not_reproduced"] = result.original_outcome;
          return j.dump();
        }
        write_file_atomic(min_path, repro_to_json(result.repro));
        j["choices"] = result.after.choices;
        j["setup"] = result.after.setup_choices;
        j["ops"] = result.after.operations;
        j["threads"] = result.after.threads;
        j["attempts"] = result.attempts;
        return j.dump();
      },
      nullptr);
  const bool timed_out = wait_worker(*worker, 600);
  const int status = worker->wait();
  const std::string& text = worker->text();
  if (timed_out || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || text.empty()) {
    row.note = "shrink did not finish";
    return;
  }
  const auto j = nlohmann::json::parse(text.substr(0, text.find('\n')));
  if (j.contains("not_reproduced")) {
    row.note = "the repro does not reproduce: " + j["not_reproduced"].get<std::string>();
    return;
  }
  row.shrunk_choices = j.at("choices").get<uint64_t>();
  row.setup_choices = j.at("setup").get<uint64_t>();
  row.shrunk_ops = j.at("ops").get<uint64_t>();
  row.shrunk_threads = j.at("threads").get<uint64_t>();
}

// Replays the shrunk repro `times` times as `mmtorture replay` does (plain replay of the
// file's choices under the file's config), each in a worker; counts the replays that
// fail with the recorded signature and trace hash.
unsigned count_replays(const std::string& min_path, unsigned times) {
  const Repro repro = load_repro(min_path);
  unsigned same = 0;
  for (unsigned i = 0; i < times; ++i) {
    const IsolatedReplay run = replay_isolated(repro.config, repro.choices, repro.config.run.seed_timeout_s);
    const auto& failure = run.report.result.failure;
    same += failure && failure->signature() == repro.failure.signature() &&
            run.report.result.trace_hash == repro.trace_hash;
  }
  return same;
}

Config scenario_config(const SelftestOptions& options, const char* file) {
  return load_config_file((std::filesystem::path(options.configs_dir) / file).string());
}

// Runs `config_file` with the defect from the first seed on until a seed fails or the
// budget (or --max-seeds) runs out; fills the row's search fields for that config and,
// on a detection, writes the first repro.
void search_config(const SelftestOptions& options, const DefectInfo& info, const char* config_file, SelftestRow& row) {
  row.config = config_file;
  row.seeds = row.ops = 0;
  Config config = scenario_config(options, config_file);
  config.run.defects = {info.name};
  row.threads = workload_threads(config);
  const double per_seed_limit = static_cast<double>(config.run.seed_timeout_s);
  const auto started = Clock::now();
  for (uint64_t seed = options.first_seed;; ++seed) {
    const double left = options.budget_s - seconds_since(started);
    if (left <= 0 || (options.max_seeds && row.seeds >= options.max_seeds)) break;
    SeedOutcome outcome = run_seed_isolated(config, seed, std::min(left, per_seed_limit));
    ++row.seeds;
    const auto& failure = outcome.report.result.failure;
    // A seed cut short by the budget itself is not a detection.
    if (outcome.report.outcome == Outcome::Timeout && left < per_seed_limit) break;
    if (!failure) {
      row.ops += outcome.report.result.ops;
      continue;
    }
    row.wall_s = seconds_since(started);
    row.detected = true;
    row.detecting_seed = seed;
    const bool died = outcome.report.outcome == Outcome::Crash || outcome.report.outcome == Outcome::Timeout;
    row.ops += died ? count_kind(outcome.choices, ChoiceKind::Op) : outcome.report.result.ops;
    row.signature = failure->signature();
    row.threads = workload_threads(seed_config(config, seed));
    const Repro repro = make_repro(seed_config(config, seed), seed, std::move(outcome.choices), *failure,
                                   outcome.report.result.trace_hash, died ? 0 : failure->op_index);
    const ReproSize size = repro_size(repro);
    row.repro_choices = size.choices;
    row.repro_setup_choices = size.setup_choices;
    row.repro_ops = died ? row.ops : size.operations;
    row.repro = fmt::format("{}/{}/{}.repro.json", options.out_dir, info.name, seed);
    write_file_atomic(row.repro, repro_to_json(repro));
    return;
  }
  row.wall_s = seconds_since(started);
}

// The default campaign first (unless --known-configs lists the defect as not caught by
// it), then the defect's scenario if that did not catch it; `ran` collects the configs
// run, for the control.
SelftestRow run_defect(const SelftestOptions& options, const DefectInfo& info, const SelftestScenario& scenario,
                       std::vector<std::string>& ran) {
  SelftestRow row;
  row.defect = info.name;
  row.seed_thread = info.seed;
  row.default_listed = scenario.default_catches;
  auto note_ran = [&](const char* file) {
    if (std::find(ran.begin(), ran.end(), file) == ran.end()) ran.emplace_back(file);
  };
  if (!options.known_configs || scenario.default_catches) {
    search_config(options, info, kDefaultCampaign, row);
    note_ran(kDefaultCampaign);
    row.default_run = true;
    row.default_detected = row.detected;
    row.default_seeds = row.seeds;
    row.default_wall_s = row.wall_s;
  }
  const bool scenario_left = std::string_view(scenario.config) != kDefaultCampaign;
  if (!row.detected && scenario_left && (!options.known_configs || !scenario.default_catches)) {
    search_config(options, info, scenario.config, row);
    note_ran(scenario.config);
  }
  if (!row.detected) return row;
  const Config config = scenario_config(options, row.config.c_str());
  std::string min_path = row.repro;
  min_path.replace(min_path.size() - std::string(".repro.json").size(), std::string::npos, ".min.repro.json");
  const auto shrink_started = Clock::now();
  const uint64_t attempts = options.shrink_attempts    ? options.shrink_attempts
                            : scenario.shrink_attempts ? scenario.shrink_attempts
                                                       : config.run.shrink_attempts;
  shrink_in_worker(load_repro(row.repro), min_path, attempts, row);
  row.shrink_s = seconds_since(shrink_started);
  if (row.note.empty()) {
    row.replays = options.replays;
    row.replays_same = count_replays(min_path, options.replays);
    row.repro = min_path;
  }
  return row;
}

// The scenarios with no defect, round-robin, seed by seed, for the budget.
void run_control(const SelftestOptions& options, const std::vector<std::string>& files, SelftestResult& result) {
  std::vector<Config> configs;
  for (const auto& file : files) configs.push_back(scenario_config(options, file.c_str()));
  const auto started = Clock::now();
  for (uint64_t i = 0; !configs.empty(); ++i) {
    const double left = options.budget_s - seconds_since(started);
    if (left <= 0 || (options.max_seeds && i >= options.max_seeds * configs.size())) break;
    const Config& config = configs[i % configs.size()];
    const uint64_t seed = options.first_seed + i / configs.size();
    const double limit = static_cast<double>(config.run.seed_timeout_s);
    SeedOutcome outcome = run_seed_isolated(config, seed, std::min(left, limit));
    if (outcome.report.outcome == Outcome::Timeout && left < limit) break;
    ++result.control_seeds;
    result.control_ops += outcome.report.result.ops;
    if (const auto& failure = outcome.report.result.failure) {
      result.control_failure = fmt::format("{} (seed {} of {})", failure->signature(), seed, files[i % files.size()]);
      break;
    }
  }
  result.control_wall_s = seconds_since(started);
}

std::string short_signature(const std::string& signature) {
  // "check @ site" (a '|' would split the markdown cell); the message is in the repro.
  const size_t first = signature.find('|');
  const size_t second = signature.find('|', first + 1);
  if (first == std::string::npos) return signature;
  return signature.substr(0, first) + " @ " + signature.substr(first + 1, second - first - 1);
}

// The default campaign's cell: caught, not caught in the seeds it ran, or not run.
std::string default_cell(const SelftestRow& r) {
  if (!r.default_run) return "not run (listed as not caught)";
  if (r.default_detected) return "yes";
  return fmt::format("**no** ({} seeds, {:.1f} s)", r.default_seeds, r.default_wall_s);
}

void print_table(const SelftestResult& result) {
  fmt::print(
      "\n| defect | seed | caught by | detected | default campaign ({}) | seeds | wall s | ops | "
      "signature (check @ site) | repro choices / ops / threads | shrunk choices (set-up + rest) / ops / "
      "threads | ≤ 50 | shrink s | replays |\n",
      kDefaultCampaign);
  fmt::print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : result.rows) {
    if (!r.implemented) {
      fmt::print("| {} | {} | — | not implemented yet | | | | | {} | | | | | |\n", r.defect, r.seed_thread, r.note);
      continue;
    }
    std::string before = "—", shrunk = "—", target = "—", replays = "—", shrink_s = "—";
    if (r.detected) before = fmt::format("{} / {} / {}", r.repro_choices, r.repro_ops, r.threads);
    if (r.detected && r.note.empty()) {
      const uint64_t rest = r.shrunk_choices - r.setup_choices;
      shrunk = fmt::format("{} ({} + {}) / {} / {}", r.shrunk_choices, r.setup_choices, rest, r.shrunk_ops,
                           r.shrunk_threads);
      target = rest <= kShrunkChoicesTarget ? "yes" : "**no**";
      replays = fmt::format("{}/{}", r.replays_same, r.replays);
      shrink_s = fmt::format("{:.1f}", r.shrink_s);
    }
    fmt::print("| {} | {} | {} | {} | {} | {} | {:.3f} | {} | {} | {} | {} | {} | {} | {} |\n", r.defect, r.seed_thread,
               r.detected ? r.config.c_str() : "—", r.detected ? "yes" : "**no**", default_cell(r), r.seeds, r.wall_s,
               r.ops, r.detected ? short_signature(r.signature).c_str() : "—", before, shrunk, target, shrink_s,
               r.note.empty() ? replays.c_str() : r.note);
  }
  fmt::print("| (control: no defect) | | every config above | {} | | {} | {:.2f} | {} | {} | | | | | |\n",
             result.control_failure.empty() ? "clean" : "**false positive**", result.control_seeds,
             result.control_wall_s, result.control_ops, result.control_failure.empty() ? "—" : result.control_failure);
}

// Which defects the default campaign does not catch, said plainly after the table.
void print_default_summary(const SelftestResult& result) {
  std::vector<std::string> missed, not_run;
  unsigned run = 0, caught = 0;
  for (const auto& r : result.rows) {
    if (!r.implemented) continue;
    const std::string by =
        r.detected ? fmt::format("{} (caught by {})", r.defect, r.config) : fmt::format("{} (not caught)", r.defect);
    if (!r.default_run) {
      not_run.push_back(by);
      continue;
    }
    ++run;
    caught += r.default_detected;
    if (!r.default_detected) missed.push_back(by);
  }
  auto join = [](const std::vector<std::string>& names) {
    std::string out;
    for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
    return out.empty() ? std::string("none") : out;
  };
  fmt::print("DEFAULT CAMPAIGN ({}, unmodified): caught {} of the {} defects it ran; not caught by it: {}\n",
             kDefaultCampaign, caught, run, join(missed));
  if (!not_run.empty())
    fmt::print("DEFAULT CAMPAIGN not run (--known-configs; listed as not caught by it): {}\n", join(not_run));
}

}  // namespace

const std::vector<SelftestScenario>& selftest_scenarios() {
  static const std::vector<SelftestScenario> table = {
      {Defect::PreallocRedundantWrite, "seed000-mprotect-nowait.toml", true},
      {Defect::GfpKernelUnderRmapLock, "seed000-mprotect-nowait.toml", true},
      {Defect::NommuSplitDoubleCount, "seed001-nommu-boot.toml", true},
      // The brk shortcut changes the heap VMA without vma_start_write: smoke's per-VMA
      // locks name it in its first seed (vma_lock.modified_without_start_write), before
      // any reclaim walk meets the moving VMA as seed 002 does.
      {Defect::BrkMunmapShortcut, "seed002-brk-churn.toml", true},
      {Defect::MremapAccountLeak, "seed003-mremap-pressure.toml", true},
      {Defect::MremapUaf, "seed003-mremap-pressure.toml", true},
      {Defect::TopdownGapMiscalc, "seed003-mremap-pressure.toml", true},
      // A maple-tree defect, caught in a world seed of the default campaign (seed 2:
      // maple.dead_node_linked; 15 world ops build a tree of height two and make the
      // spanning store). maple.toml, whose tree job reaches spanning stores far more
      // often, is its scenario, and its known config: since the vm_area_struct grew by
      // vm_file and vm_ops (the slab pages, and so the world's allocations, lie
      // differently), smoke's seed 2 still catches it but its repro shrinks to 52
      // choices beyond set-up, over the target (49 before), with 500 or 2,000 attempts.
      {Defect::DestroyFreesLiveNodes, "maple.toml"},
      // The CMA defects run in the cma job's seed-004 world (pinned pages, a fatal
      // signal at 1 s): the uninterruptible retry needs the forever policy to hang. The
      // default campaign's cma seeds run that world.
      {Defect::CmaRetryUninterruptible, "seed004-cma-uninterruptible.toml", true, 1000},
      {Defect::CmaBitmapLeakOnBusy, "seed004-cma-policies.toml", true},
      // Only lock-free readers can meet a node freed too early: the maple job's RCU
      // readers, interleaving inside the writer's stores (the default campaign's maple
      // seeds run them).
      {Defect::RcuFreeWithoutGracePeriod, "maple-rcu.toml", true},
      // Caught by checks of answers against a model, in shipped configs
      // with no knob for the defect.
      {Defect::EmptyAreaSkipsLastSlot, "maple.toml", true},
      {Defect::MprotectDropsLateEnomem, "smoke.toml", true},
      // Per-VMA locks are on in the smoke campaign (world.per_vma_locks).
      {Defect::MprotectSkipsVmaStartWrite, "smoke.toml", true},
      // The default campaign draws the stack op (workload.mix_stack).
      {Defect::ExpandStackWithoutVmaLock, "seed000-mprotect-nowait.toml", true},
      // The canaries of error unwinding, accounting, node reservation and gap
      // metadata: the default campaign is their scenario.
      {Defect::MmapLeaksVmaOnEnomem, "smoke.toml", true},
      {Defect::MunmapEnomemDropsTotalVm, "smoke.toml", true},
      {Defect::BrkEnomemMovesBrk, "smoke.toml", true},
      {Defect::MremapEnomemKeepsCharge, "smoke.toml", true},
      // Its first repro is a whole seed (the charge is found missing at the end of the
      // run): the shrinker needs more than smoke.toml's 500 replays to reach fork, mmap
      // and the failed copy (measured: 66 choices beyond set-up after 500, 7 after 2000;
      // since smoke maps files its catching seed is 2, whose repro is still 277 beyond
      // set-up after 2000 and 8 after 4000, 26 s).
      {Defect::ForkEnomemLeaksCharge, "smoke.toml", true, 4000},
      {Defect::MergeKeepsMapCount, "smoke.toml", true},
      {Defect::PreallocSplitOneShort, "smoke.toml", true},
      {Defect::NodeReplaceSkipsGapUpdate, "smoke.toml", true},
      {Defect::SplitSkipsAnonVmaClone, "smoke.toml", true},
      {Defect::MprotectEnomemKeepsCharge, "smoke.toml", true},
      {Defect::RebalanceLeavesNodeShort, "smoke.toml", true},
      {Defect::SpanningStoreMissesNextNode, "smoke.toml", true},
      {Defect::ForkSkipsVmaStartWrite, "smoke.toml", true},
      // RCU publication order: only the maple job's lock-free readers run inside a store.
      {Defect::RcuNodePublishedBeforePivots, "maple-rcu.toml", true},
      // Page isolation: ranges holding pinned pages end "PFNs busy".
      {Defect::ContigEarlyExitKeepsIsolation, "seed004-cma-policies.toml", true},
      // Per-CPU lists meet CMA pageblocks: smoke's and seed004-cma-policies' cma worlds
      // run with them (cma.pcp_batch); only the completeness check sees the failure.
      {Defect::ContigSkipsPcpDrain, "seed004-cma-policies.toml", true},
      // The default campaign draws the mmap_file op (workload.mix_mmap_file): its
      // shm-like files meet mprotect's merges.
      {Defect::MergeRemovesVmaWithClose, "smoke.toml", true},
      // The same op's shared mappings meet read faults and then write faults.
      {Defect::WpPageSharedSkipsDirty, "smoke.toml", true},
  };
  return table;
}

SelftestResult run_selftest(const SelftestOptions& options) {
  std::vector<const SelftestScenario*> chosen;
  for (const auto& name : options.defects) {
    const auto defect = defect_from_name(name);
    if (!defect)
      throw ConfigError("--defects", 0, "", fmt::format("unknown defect '{}' (mmtorture list --defects)", name));
  }
  for (const auto& scenario : selftest_scenarios()) {
    const std::string name = defect_name(scenario.defect);
    if (options.defects.empty() ||
        std::find(options.defects.begin(), options.defects.end(), name) != options.defects.end())
      chosen.push_back(&scenario);
  }
  const std::string seed_limit =
      options.max_seeds ? fmt::format(" and at most {} seeds", options.max_seeds) : std::string();
  fmt::print(
      "mmtorture selftest: {} defects, {}, budget {:.0f} s{} per config and {:.0f} s{} for the control (per "
      "config), seeds from {}, configs {}, repros under {}\n",
      chosen.size(),
      options.known_configs ? "each in its known catching config (--known-configs)"
                            : fmt::format("each in {} first, then in its scenario", kDefaultCampaign),
      options.budget_s, seed_limit, options.budget_s, seed_limit, options.first_seed, options.configs_dir,
      options.out_dir);
  std::fflush(stdout);
  SelftestResult result;
  std::vector<std::string> control_files;
  for (const SelftestScenario* scenario : chosen) {
    const DefectInfo& info = *std::find_if(defect_table().begin(), defect_table().end(),
                                           [&](const DefectInfo& d) { return d.defect == scenario->defect; });
    if (!*scenario->config) {
      SelftestRow row;
      row.defect = info.name;
      row.seed_thread = info.seed;
      row.implemented = false;
      row.note = "no job reaches it yet";
      result.rows.push_back(row);
      continue;
    }
    SelftestRow row = run_defect(options, info, *scenario, control_files);
    fmt::print("{}: {} by {} after {} seeds, {:.3f} s, {} ops{}{}\n", row.defect,
               row.detected ? "detected" : "NOT detected", row.config, row.seeds, row.wall_s, row.ops,
               row.detected ? ": " : "", row.signature);
    std::fflush(stdout);
    result.rows.push_back(std::move(row));
  }
  run_control(options, control_files, result);
  fmt::print("control: {} seeds, {} ops, {:.2f} s: {}\n", result.control_seeds, result.control_ops,
             result.control_wall_s, result.control_failure.empty() ? "clean" : result.control_failure);
  print_table(result);
  print_default_summary(result);
  unsigned missed = 0, shrunk = 0, on_target = 0, replays_short = 0;
  for (const auto& r : result.rows) {
    missed += r.implemented && !r.detected;
    if (!r.detected || !r.note.empty()) continue;
    ++shrunk;
    on_target += r.shrunk_choices - r.setup_choices <= kShrunkChoicesTarget;
    replays_short += r.replays_same < r.replays;
  }
  result.passed = missed == 0 && replays_short == 0 && result.control_failure.empty() &&
                  (!options.require_target || on_target == shrunk);
  fmt::print(
      "SUMMARY: {}: {} of {} implemented defects missed, {} of {} shrunk to <= {} choices beyond set-up, "
      "{} shrunk repros did not replay the same way every time, control {}\n",
      result.passed ? "passed" : "FAILED", missed,
      static_cast<size_t>(
          std::count_if(result.rows.begin(), result.rows.end(), [](const SelftestRow& r) { return r.implemented; })),
      on_target, shrunk, kShrunkChoicesTarget, replays_short, result.control_failure.empty() ? "clean" : "not clean");
  return result;
}

}  // namespace mmt::campaign
