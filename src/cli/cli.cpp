// mmtorture's command line (CLI11): run | replay | shrink | merge | list. Every run
// prints its seed range, config hash and every knob first, so a log alone is enough
// to reproduce; a failure prints the one failure grammar (FAIL line, context, repro
// path, SUMMARY line) and exits 1; misuse and malformed input exit 2 with one line
// `file:line: key: reason`.
#include "mmtorture/cli/cli.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include "mmtorture/campaign/campaign.h"
#include "mmtorture/campaign/config.h"
#include "mmtorture/campaign/fuzz_jobs.h"
#include "mmtorture/campaign/isolated.h"
#include "mmtorture/campaign/merge.h"
#include "mmtorture/campaign/report.h"
#include "mmtorture/campaign/repro.h"
#include "mmtorture/campaign/seed_run.h"
#include "mmtorture/campaign/selftest.h"
#include "mmtorture/campaign/shard.h"
#include "mmtorture/campaign/shared_event_log.h"
#include "mmtorture/campaign/shrink.h"
#include "mmtorture/campaign/timeline.h"
#include "mmtorture/check/registry.h"
#include "mmtorture/cli/experiments.h"
#include "mmtorture/cli/graphviz.h"
#include "mmtorture/cma/experiment.h"
#include "mmtorture/core/choice.h"
#include "mmtorture/core/defects.h"
#include "mmtorture/core/log.h"
#include "mmtorture/jobs/job.h"
#include "mmtorture/jobs/vm_world.h"
#include "mmtorture/maple/reference.h"
#include "mmtorture/nommu/experiment.h"
#include "mmtorture/sched/event_log.h"

namespace mmt::cli {

namespace {

using namespace mmt::campaign;

// `mmtorture list`: what is knowable without running.
// Checks no registry runs, raised where their condition is seen (the tree's walks, the
// scheduler, the campaign runner). The VM world's registry lists its own (list_checks).
constexpr const char* kRaisedChecks[][2] = {
    {"maple.mt_validate.*", "maple tree structure: pivots, gaps, metadata, parents, dead nodes (kernel mt_validate)"},
    {"maple.model_diff", "maple job: the tree differs from its std::map model"},
    {"mem.*", "page frames: refcount, mapcount, free lists, LRU, bad frees (every full_check_every ops)"},
    {"slab.*", "slab caches: consistency, double free, poison"},
    {"maple.node_accounting", "slab live maple nodes = tree nodes + preallocated + RCU-pending"},
    {"sched.deadlock", "every thread blocked (names each thread and what it waits for)"},
    {"sched.hang", "a thread without progress for schedule.hang_ms of virtual time"},
    {"sched.livelock", "a thread passing 10^6 scheduling points (the step budget) without progress"},
    {"sched.might_sleep", "sleeping in atomic context (spinlock held, preemption off, rcu_read_lock)"},
    {"sched.*", "scheduler rules: unbalanced preempt_enable, a thread that threw, blocking outside a thread"},
    {"lockdep.*", "lock order, recursive locking, bad unlocks, locks held at exit, reclaim under a lock"},
    {"rcu.*",
     "RCU rules: unbalanced rcu_read_unlock, a grace period waited for inside a reader, callbacks "
     "that throw"},
    {"maple.bug", "the tree's BUG_ON: mas_store_prealloc short of nodes, no valid split"},
    {"maple.lock", "the tree's spinlock: taken twice, released unheld, taken from the host"},
    {"maple.*", "maple job: lock-free readers' answers, dead nodes linked, kernel-vs-model divergence"},
    {"world.unexpected_result", "a syscall returned an error the kernel would not"},
    {"nommu.unexplained_enomem",
     "nommu job: a region or kernel stack allocation failed while the frames held a free aligned block of its order "
     "above the min watermark"},
    {"nommu.*", "nommu job: regions and VMAs (validate_mm, regions), munmap's result, the boot running out of memory"},
    {"crash", "the worker process died by a signal (sanitizer abort, SIGSEGV)"},
    {"timeout", "the worker exceeded run.seed_timeout_s of wall time"},
    {"determinism", "--check-determinism: two runs of a seed gave different trace hashes"},
    {"selftest.planted", "self-test knob checks.selftest_plant_fork_after_op"},
};

// The checks: the VM world's registry (check/registry.cpp) with when each runs, then
// the checks raised where they are seen.
void list_checks() {
  fmt::print("\nchecks of the VM world's registry (check/registry.cpp), with when each runs:\n");
  for (const check::Check& c : check::vm_world_checks().checks())
    fmt::print("  {:<28} {:<9} {}\n", c.name, check::check_level_name(c.level), c.description);
  fmt::print("checks raised where they are seen:\n");
  for (const auto& c : kRaisedChecks) fmt::print("  {:<28} {}\n", c[0], c[1]);
}

// The allocation sites the fault plan decides, from each job's coverage registry (as
// site/GFP class), each declared beside the code that makes the requests.
void list_allocation_sites() {
  fmt::print("allocation sites (fault plan; site/GFP class, from the jobs' coverage registries):\n");
  for (const jobs::Job* job : jobs::job_table()) {
    Config config;
    config.workload.job = job->name();
    jobs::CoverageRegistry registry;
    if (!job->coverage_registry(config, &registry) || registry.sites.empty()) continue;
    fmt::print("  {}:", job->name());
    for (const auto& site : registry.sites) fmt::print(" {}", site.key);
    fmt::print("\n");
  }
}

constexpr const char* kYieldSites[] = {
    "spin_lock", "spin_unlock", "mutex_lock", "mutex_unlock", "down_read", "down_write", "up_read", "up_write",
    "mtree_lock: spinning", "rcu_read_unlock", "synchronize_rcu", "cond_resched", "preempt_enable", "msleep",
    "schedule", "wait_event", "wait_for_completion", "zap_pte_range: before tlb_flush",
    "copy_present_pte: between get_page and page_dup_rmap", "reclaim_throttle"};

// `mmtorture list --defects`: each canary defect, its thread and what should catch it.
int list_defects() {
  for (const DefectInfo& info : defect_table()) {
    const char* scenario = "";
    for (const auto& s : selftest_scenarios())
      if (s.defect == info.defect) scenario = s.config;
    fmt::print("{}  (seed {}; selftest scenario: {})\n  {}\n\n", info.name, info.seed,
               *scenario ? scenario : "none yet", info.description);
  }
  return 0;
}

int list(bool config_doc) {
  if (config_doc) {
    fmt::print("{}", config_markdown());
    return 0;
  }
  fmt::print("configs (./configs):\n");
  if (std::filesystem::is_directory("configs")) {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator("configs"))
      if (e.path().extension() == ".toml") names.push_back(e.path().string());
    std::sort(names.begin(), names.end());
    for (const auto& n : names) fmt::print("  {}\n", n);
  }
  fmt::print("\nknobs (section.key = default: meaning):\n");
  Config defaults;
  for (const Knob& knob : knob_table())
    fmt::print("  {} = {}: {}\n", knob.qualified(), knob_value_text(knob, defaults), knob.doc);
  list_checks();
  list_allocation_sites();
  fmt::print("yield sites (preemption points):");
  for (const char* s : kYieldSites) fmt::print(" {};", s);
  fmt::print(
      "\nstrategies: preempt(preempt_probability), uniform, pct(pct_depth, pct_steps), bounded(bounded_preemptions, "
      "bounded_slices, bounded_sleep_sets, bounded_data_seed), replay\n");
  fmt::print("choice kinds:");
  for (int k = 0; k < kChoiceKindCount; ++k) fmt::print(" {}", choice_kind_name(static_cast<ChoiceKind>(k)));
  fmt::print("\nworld op kinds:");
  for (const char* op : jobs::kVmOpNames) fmt::print(" {}", op);
  fmt::print("\njobs (workload.job; [section] of its own knobs):\n");
  for (const jobs::Job* job : jobs::job_table()) {
    const std::string section = *job->knob_section() ? fmt::format("[{}]", job->knob_section()) : "";
    fmt::print("  {:<11} {:<8} {}\n", job->name(), section, job->doc());
  }
  fmt::print("defects (mmtorture list --defects):");
  for (const DefectInfo& info : defect_table()) fmt::print(" {}", info.name);
  fmt::print("\n");
  return 0;
}

// What `mmtorture replay` was asked for besides the replay itself.
struct ReplayOptions {
  bool trace = false;                  // --trace: every operation as it runs
  std::vector<std::string> overrides;  // --set (fuzz inputs only)
  std::string write_repro;             // --write-repro (fuzz inputs only)
  size_t last_events = 16;             // --last N: each thread's last events (0: off)
  std::string dump_tree;               // --dump-tree FORMAT: "" (off), "dot" or "svg"
  std::string dump_tree_out;           // --dump-tree-out FILE (default: beside the input)
  std::string graphviz_dot;            // --dump-tree=svg: the dot executable, found before the replay
  bool dump_tree_whole = false;        // --dump-tree-whole: no collapsing of large trees
  bool fuzz_input = false;             // --fuzz-input: FILE is raw fuzz_world bytes
  std::string perfetto;                // --perfetto FILE: the run as Chrome Trace Event JSON
  std::string html;                    // --html FILE: the run as a self-contained HTML timeline
  bool timelines() const { return !perfetto.empty() || !html.empty(); }
};

constexpr const char* kDumpTreeFormats[] = {"dot", "svg"};

// Where --dump-tree writes when --dump-tree-out is not given: the input's path with
// ".json" replaced (1.repro.json -> 1.repro.trees.dot, or .trees.svg), or that appended.
std::string default_trees_path(const std::string& input, const std::string& format) {
  std::string out = input;
  if (out.ends_with(".json")) out.resize(out.size() - 5);
  return out + ".trees." + format;
}

// Where shrink writes when --out is not given: 1.repro.json -> 1.min.repro.json.
std::string default_min_path(const std::string& input) {
  if (input.ends_with(".min.repro.json")) return input;
  const std::string suffix = ".repro.json";
  if (input.ends_with(suffix)) return input.substr(0, input.size() - suffix.size()) + ".min.repro.json";
  return input + ".min.repro.json";
}

// An output file must be creatable before the work that produces it starts: a shrink
// or replay that ends by failing to write its result wastes the run. Returns the
// problem ("" when the path is fine).
std::string output_path_problem(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code error;
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  if (!fs::is_directory(dir, error)) return fmt::format("{}: the directory {} does not exist", path, dir.string());
  if (fs::is_directory(path, error)) return fmt::format("{}: is a directory", path);
  if (::access(dir.c_str(), W_OK) != 0) return fmt::format("{}: the directory {} is not writable", path, dir.string());
  return "";
}

// Hooks that record for --last and --dump-tree; the log lives in `log_storage`.
SeedHooks replay_hooks(const ReplayOptions& options, std::unique_ptr<sched::EventLog>& log_storage) {
  SeedHooks hooks;
  if (options.trace) hooks.trace_ops = [](std::string_view line) { fmt::print("  {}\n", line); };
  if (options.last_events || options.timelines()) {
    log_storage = std::make_unique<sched::EventLog>(std::max<size_t>(options.last_events, 1));
    if (options.timelines()) log_storage->keep_history();
    hooks.event_log = log_storage.get();
  }
  hooks.capture_trees_dot = !options.dump_tree.empty();
  hooks.whole_trees = options.dump_tree_whole;
  return hooks;
}

// After a failed replay's dump: each thread's last events, then the trees file.
void print_failure_context(const ReplayOptions& options, const std::string& input, const std::string& job,
                           const SeedResult& result, const sched::EventLog* log) {
  if (log && options.last_events) {
    const std::string events = log->format();
    if (events.empty()) fmt::print("last events: the {} job runs no green threads; nothing recorded\n", job);
    else
      fmt::print(
          "last {} events of each thread before the failure (oldest first; #n orders events across "
          "threads, ms is virtual time):\n{}",
          log->per_thread(), events);
  }
  if (options.dump_tree.empty()) return;
  if (result.trees_dot.empty()) {
    fmt::print("trees: the {} job keeps no maple trees to dump; nothing written\n", job);
    return;
  }
  const std::string out =
      options.dump_tree_out.empty() ? default_trees_path(input, options.dump_tree) : options.dump_tree_out;
  if (options.dump_tree == "svg") render_dot_svg(options.graphviz_dot, result.trees_dot, out);
  else write_file_atomic(out, result.trees_dot);
  size_t trees = 0;
  for (size_t at = result.trees_dot.find("subgraph cluster_"); at != std::string::npos;
       at = result.trees_dot.find("subgraph cluster_", at + 1))
    ++trees;
  size_t collapsed = 0;
  for (size_t at = result.trees_dot.find("// drawn: the "); at != std::string::npos;
       at = result.trees_dot.find("// drawn: the ", at + 1))
    ++collapsed;
  fmt::print("trees at the failure ({}, {}{}): {}\n", trees, options.dump_tree == "svg" ? "SVG" : "Graphviz",
             collapsed ? fmt::format("; {} drawn as the path to the failing node", collapsed).c_str() : "", out);
}

void write_timeline_files(const ReplayOptions& options, const TimelineSource& source, const Timeline& timeline);

// replay --perfetto / --html: the run's timeline, from the event log's history.
void write_timelines(const ReplayOptions& options, const TimelineSource& source, const std::string& job,
                     const sched::EventLog* log, const ChoiceSource& choices, const SeedResult& result) {
  if (!options.timelines()) return;
  if (!log || log->history().empty()) {
    fmt::print("timeline: the {} job runs no green threads; nothing recorded, nothing written\n", job);
    return;
  }
  write_timeline_files(options, source, build_timeline(*log, choices.recorded(), result.failure));
}

// The --perfetto and --html files of a timeline.
void write_timeline_files(const ReplayOptions& options, const TimelineSource& source, const Timeline& timeline) {
  if (!options.perfetto.empty()) {
    write_file_atomic(options.perfetto, timeline_perfetto_json(timeline, source));
    fmt::print("timeline (Chrome Trace Event JSON, {} events; open in ui.perfetto.dev or chrome://tracing): {}\n",
               timeline.events.size(), options.perfetto);
  }
  if (!options.html.empty()) {
    write_file_atomic(options.html, timeline_html(timeline, source));
    fmt::print("timeline (HTML, {} events, {} threads): {}\n", timeline.events.size(), timeline.tracks.size(),
               options.html);
  }
}

// A libFuzzer input of fuzz_world (raw bytes, not a repro): run under the fuzzers'
// config (plus --set overrides) with the bytes as the choice sequence; on a failure the
// recorded, labelled choices can be written as a repro that replay and shrink take.
int replay_fuzz_input(const std::string& path, const std::string& bytes, const ReplayOptions& options) {
  Config config = fuzz_world_config();
  for (const auto& o : options.overrides) apply_override(config, o);
  validate_config(config, "--set");
  fmt::print("mmtorture replay: {} is a fuzz_world input ({} bytes): the fuzzers' world config, config hash {}\n", path,
             bytes.size(), config_hash(config));
  std::fflush(stdout);
  FuzzChoices choices(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  std::unique_ptr<sched::EventLog> log;
  const SeedResult result = run_seed(config, choices, replay_hooks(options, log));
  if (!result.failure) {
    fmt::print("SUMMARY: ran clean: {} ops, {} choices read, trace {:016x}\n", result.ops, choices.draws(),
               result.trace_hash);
    return 0;
  }
  const Failure& f = *result.failure;
  fmt::print("{}\n  op {}, {} choices read\n{}", f.headline(), f.op_index, choices.draws(), f.dump);
  print_failure_context(options, path, config.workload.job, result, log.get());
  write_timelines(options, TimelineSource{path, 0, config_hash(config)}, config.workload.job, log.get(), choices,
                  result);
  const std::string& write_repro = options.write_repro;
  if (!write_repro.empty()) {
    const Repro repro =
        make_repro(config, /*seed: a fuzz input has none*/ 0, trim_choices(choices.recorded()), f, result.trace_hash,
                   result.ops);
    write_file_atomic(write_repro, repro_to_json(repro));
    fmt::print("repro written to {} (replay it, shrink it)\n", write_repro);
  }
  fmt::print("SUMMARY: failed: signature {}, trace {:016x}\n", f.signature_id(), result.trace_hash);
  return 1;
}

// A repro's choices as fuzz bytes: the input fuzz_world decodes to the same run when
// the repro was made under the fuzzers' world config.
int export_fuzz(const std::string& path, const std::string& out) {
  const Repro repro = load_repro(path);
  const auto bytes = choices_to_fuzz_bytes(repro.choices);
  write_file_atomic(out, std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  const bool same_config = config_hash(repro.config) == config_hash(fuzz_world_config());
  fmt::print("wrote {} bytes ({} choices) to {}{}\n", bytes.size(), repro.choices.size(), out,
             same_config ? ""
                         : "; note: the repro's config is not the fuzzers' world config, so fuzz_world runs it "
                           "under different options (replay the bytes with the repro's --set values instead)");
  return 0;
}

// What FILE is: a repro, or raw fuzz_world bytes — decided by --fuzz-input or by a
// libFuzzer artifact's name, never guessed from the content (an empty file, random
// bytes or a config are not inputs that "ran clean"). Throws ConfigError for anything
// that is neither.
bool is_fuzz_world_input(const std::string& path, const ReplayOptions& options) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error))
    throw ConfigError(path, 0, "", "is a directory, not a repro file");
  if (options.fuzz_input) return true;
  const std::string target = fuzz_artifact_target(path);
  if (target == "fuzz_world") return true;
  if (!target.empty())
    throw ConfigError(path, 0, "",
                      fmt::format("a {} artifact: replay only runs fuzz_world inputs; reproduce it with "
                                  "build/fuzz/bin/{} {}",
                                  target, target, path));
  if (!options.overrides.empty() || !options.write_repro.empty())
    throw ConfigError(path, 0, "", "--set and --write-repro apply to fuzz inputs only (add --fuzz-input)");
  return false;
}

// replay --perfetto / --html of a repro replayed in a worker: the history the worker
// mirrored into shared memory (a crash leaves no Fail event: the failure is marked
// after the threads' last events, as for a failure found after the run).
void write_worker_timelines(const ReplayOptions& options, const std::string& path, const Repro& repro,
                            const SharedEventLog& shared, const std::vector<Choice>& recorded,
                            const SeedResult& result) {
  std::vector<sched::EventLog::HistoryEvent> history = shared.history();
  if (history.empty()) {
    fmt::print("timeline: the {} job runs no green threads; nothing recorded, nothing written\n",
               repro.config.workload.job);
    return;
  }
  if (shared.lost())
    fmt::print("timeline: the worker recorded {} events; the shared log kept the newest {}\n", shared.recorded(),
               history.size());
  const std::unique_ptr<sched::EventLog> threads = shared.rebuild();
  write_timeline_files(options, TimelineSource{path, repro.seed, config_hash(repro.config)},
                       build_timeline(std::move(history), threads->threads(), recorded, result.failure));
}

// A repro of a crash or a timeout would take `replay` down with it: it runs in a worker
// process, as the campaign ran it, and is reported like any failure. The worker's event
// log is mirrored into shared memory, so each thread's last events up to the crash
// survive the worker; its trace lines are flushed one by one for the same reason.
int replay_in_worker(const std::string& path, const Repro& repro, const ReplayOptions& options) {
  fmt::print("the recorded failure ended its worker process: replaying in a worker process\n");
  std::fflush(stdout);
  std::unique_ptr<sched::EventLog> log;
  SeedHooks hooks = replay_hooks(options, log);
  if (hooks.trace_ops)
    hooks.trace_ops = [](std::string_view line) {
      fmt::print("  {}\n", line);
      std::fflush(stdout);
    };
  std::unique_ptr<SharedEventLog> shared;
  if (log && (options.last_events || options.timelines())) {
    // The timelines' history comes from the same shared records (the newest kRecords).
    shared = std::make_unique<SharedEventLog>(std::max<size_t>(options.last_events, 1));
    log->set_mirror(shared.get());
  }
  const IsolatedReplay run =
      replay_isolated(repro.config, repro.choices, repro.config.run.seed_timeout_s, ReplayAlignment::Exact, hooks);
  const std::optional<size_t> differs = first_difference(run.recorded, repro.choices);
  const SeedResult& result = run.report.result;
  if (!result.failure) {
    fmt::print(
        "SUMMARY: replay ran clean in its worker: {} ops, trace {:016x}; the recorded failure did not "
        "reproduce\n",
        result.ops, result.trace_hash);
    return 0;
  }
  const Failure& f = *result.failure;
  const bool died = run.report.outcome == Outcome::Crash || run.report.outcome == Outcome::Timeout;
  fmt::print("{}\n  seed {}, outcome {}, {} of the repro's {} choices drawn{}\n{}", f.headline(), repro.seed,
             outcome_name(run.report.outcome), run.recorded.size(), repro.choices.size(),
             died ? " before the worker ended" : "", f.dump);
  if (differs)
    fmt::print("replay diverged at choice #{} (drew {})\n", *differs,
               *differs < run.recorded.size() ? choice_label(run.recorded[*differs]).c_str() : "nothing");
  const std::unique_ptr<sched::EventLog> events = shared ? shared->rebuild() : nullptr;
  if (died && !options.dump_tree.empty()) {
    // The snapshot travels in the worker's report, which a dead worker never sent: say
    // so, rather than that the job keeps no trees.
    ReplayOptions without_trees = options;
    without_trees.dump_tree.clear();
    print_failure_context(without_trees, path, repro.config.workload.job, result, events.get());
    fmt::print("trees: not captured: the worker died before it could send them; nothing written\n");
  } else {
    print_failure_context(options, path, repro.config.workload.job, result, events.get());
  }
  if (options.timelines()) write_worker_timelines(options, path, repro, *shared, run.recorded, result);
  const bool same_signature = f.signature() == repro.failure.signature();
  const bool exact = same_signature && !differs;
  fmt::print("SUMMARY: {}: {} {} (signature {}{})\n",
             exact            ? "reproduced exactly"
             : same_signature ? "reproduced the failure"
                              : "failed differently",
             f.check, f.site, f.signature_id(),
             same_signature ? "" : fmt::format(", recorded {}", repro.failure.signature_id()));
  return 1;
}

int replay(const std::string& path, const ReplayOptions& options) {
  if (is_fuzz_world_input(path, options)) return replay_fuzz_input(path, read_file(path), options);
  const std::string text = read_file(path);
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    throw ConfigError(path, 0, "", "empty file, not a repro (a raw fuzz_world input? replay it with --fuzz-input)");
  const Repro repro = parse_repro(text, path);
  fmt::print("mmtorture replay: {}, seed {}, {} choices, config hash {}, recorded by {}\n", path, repro.seed,
             repro.choices.size(), config_hash(repro.config), repro.tool_version);
  fmt::print("{}", config_banner(repro.config));
  fmt::print("expecting: {} ({}), trace {:016x}\n", repro.failure.signature(), repro.failure.signature_id(),
             repro.trace_hash);
  std::fflush(stdout);
  if (repro.failure.check == "crash" || repro.failure.check == "timeout") return replay_in_worker(path, repro, options);
  ReplayChoices choices(repro.choices);
  std::unique_ptr<sched::EventLog> log;
  const SeedResult result = run_seed(repro.config, choices, replay_hooks(options, log));
  if (const auto& d = choices.divergence())
    fmt::print("replay diverged at choice #{}: expected {}, got {} (continued best-effort)\n", d->index,
               choice_label(d->expected), choice_label(d->got));
  if (!result.swarm.empty()) fmt::print("swarm switched off: {}\n", result.swarm);
  if (!result.failure) {
    write_timelines(options, TimelineSource{path, repro.seed, config_hash(repro.config)}, repro.config.workload.job,
                    log.get(), choices, result);
    fmt::print("SUMMARY: replay ran clean: {} ops, trace {:016x}; the recorded failure did not reproduce\n", result.ops,
               result.trace_hash);
    return 0;
  }
  const Failure& f = *result.failure;
  fmt::print("{}\n  seed {}, op {}, virtual {} ms\n{}", f.headline(), repro.seed, f.op_index, f.virtual_ms, f.dump);
  print_failure_context(options, path, repro.config.workload.job, result, log.get());
  write_timelines(options, TimelineSource{path, repro.seed, config_hash(repro.config)}, repro.config.workload.job,
                  log.get(), choices, result);
  const bool same_signature = f.signature() == repro.failure.signature();
  const bool same_trace = result.trace_hash == repro.trace_hash;
  fmt::print("SUMMARY: {}: signature {}{}, trace {:016x}{}\n",
             same_signature && same_trace ? "reproduced exactly"
             : same_signature             ? "reproduced the failure"
                                          : "failed differently",
             f.signature_id(), same_signature ? "" : fmt::format(" (recorded {})", repro.failure.signature_id()),
             result.trace_hash, same_trace ? "" : " (recorded trace differs)");
  return 1;
}

// mmtorture report OUT_DIR (and run --report): report.html and a timeline per signature.
int report(const std::string& out_dir) {
  const ReportResult r = write_report(out_dir);
  fmt::print("report: {} ({} signatures, {} timelines, {} seeds)\n", r.path, r.signatures, r.timelines, r.seeds);
  return 0;
}

int shrink(const std::string& path, std::optional<uint64_t> attempts, std::string out) {
  const Repro repro = load_repro(path);
  ShrinkOptions options;
  options.max_attempts = attempts ? *attempts : repro.config.run.shrink_attempts;
  options.progress = [](const std::string& line) {
    fmt::print("  {}\n", line);
    std::fflush(stdout);
  };
  const bool isolated = shrink_in_workers(repro);
  fmt::print("mmtorture shrink: {}, seed {}, {} ({}), {} choices, {} ops, at most {} replays{}\n", path, repro.seed,
             repro.failure.signature(), repro.failure.signature_id(), repro.choices.size(), repro.ops,
             options.max_attempts, isolated ? " (each in a worker process)" : "");
  std::fflush(stdout);
  const Config& config = repro.config;
  const uint64_t timeout = config.run.seed_timeout_s;
  const ShrinkResult result = shrink_repro(repro, options, [&](const Config& candidate, const std::vector<Choice>& c) {
    return isolated ? run_candidate_isolated(candidate, c, timeout) : run_candidate_in_process(candidate, c);
  });
  if (!result.reproduced) {
    fmt::print("SUMMARY: {} does not reproduce: {}; nothing shrunk, nothing written\n", path, result.original_outcome);
    return 1;
  }
  if (out.empty()) out = default_min_path(path);
  write_file_atomic(out, repro_to_json(result.repro));
  fmt::print("before: {}\nafter:  {}\n", describe_size(result.before), describe_size(result.after));
  for (const auto& change : result.config_changes) fmt::print("config: {}\n", change);
  fmt::print(
      "SUMMARY: choices {} -> {}, ops {} -> {}, threads {} -> {}, {} replays ({} kept), signature {} "
      "kept: {}\n",
      result.before.choices, result.after.choices, result.before.operations, result.after.operations,
      result.before.threads, result.after.threads, result.attempts, result.kept, result.repro.failure.signature_id(),
      out);
  return 0;
}

// One subcommand: its options, registered on the app when it is made, and what it does
// when the command line named it.
class Subcommand {
 public:
  virtual ~Subcommand() = default;
  virtual int execute() = 0;
  bool parsed() const { return cmd_->parsed(); }

 protected:
  CLI::App* cmd_ = nullptr;
};

// A first seed plus a count of seeds never wraps past 2^64.
const CLI::Range kFirstSeedRange(uint64_t{0}, uint64_t{1} << 62);

// Prints one line for an output path that cannot be written and says whether there was one.
bool refuse_output(const std::string& what, const std::string& path) {
  const std::string problem = output_path_problem(path);
  if (problem.empty()) return false;
  fmt::print(stderr, "mmtorture: {}: {}\n", what, problem);
  return true;
}

class RunCommand final : public Subcommand {
 public:
  explicit RunCommand(CLI::App& app) {
    std::string knob_help = "Override a knob, section.key=value (repeatable). Knobs:";
    Config defaults;  // knob_value_text reads it through a non-const reference
    for (const Knob& knob : knob_table())
      knob_help += fmt::format("\n    {} = {}", knob.qualified(), knob_value_text(knob, defaults));
    cmd_ = app.add_subcommand("run", "Run a seeded stress campaign from a TOML config");
    cmd_->add_option("config", config_path_, "TOML config (configs/*.toml); knob defaults when omitted");
    cmd_->add_option("--seeds", seeds_text_, "Seed or range A..B (inclusive); overrides run.seeds");
    cmd_->add_option("--ops", ops_, "Operations per seed; overrides run.ops_per_seed")
        ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
    cmd_->add_option("--jobs,-j", jobs_, "Worker processes at once")
        ->capture_default_str()
        ->check(CLI::Range(1u, 256u));
    cmd_->add_option("--shard", shard_text_,
                     "K/N: run only the K-th of N interleaved slices of the seeds; auto: K/N from a Slurm array task "
                     "(SLURM_ARRAY_TASK_ID, _MIN, _COUNT) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX and "
                     "MMT_SHARD_COUNT)");
    cmd_->add_flag("--check-determinism", check_determinism_, "Run each seed twice; a trace-hash mismatch fails it");
    cmd_->add_flag("--resume", resume_, "Continue the campaign recorded in the journal");
    cmd_->add_flag("--force", force_, "Start over in a used --out: replace this shard's journal and summary");
    cmd_->add_option("--out", out_dir_, "Output directory for journal.jsonl and failures/ (default out/<config name>)");
    cmd_->add_flag("--quiet", quiet_, "No progress lines");
    cmd_->add_flag("--report", report_,
                   "At the end, write OUT/report.html and a timeline per signature (as `mmtorture report OUT`)");
    cmd_->add_option("--budget-s", budget_s_,
                     "Start no seed after this many wall seconds; the running ones finish and are journaled "
                     "(--resume continues)")
        ->check(CLI::Range(0.001, 1e9));
    cmd_->add_flag("--coverage", coverage_,
                   "End the summary with the coverage report: each injection site's requests and failures, each "
                   "operation's outcomes, the error returns never taken (world and maple jobs)");
    cmd_->add_option("--set", overrides_, knob_help);
    cmd_->add_option("--defect", defects_, "Switch a canary defect on (repeatable; adds to run.defects)");
    cmd_->add_flag("--log", log_,
                   "Also write the diagnostics to OUT/mmtorture.log (a shard: mmtorture.shard-K-of-N.log; --resume "
                   "appends), at least at info (the campaign's events: "
                   "workers started, finished, killed, crashes, re-runs, resume decisions, shrink passes)");
  }

  int execute() override {
    CampaignOptions options;
    options.config = configured();
    options.config_name = config_path_.empty() ? "(defaults)" : config_path_;
    options.seeds = *parse_seed_range(options.config.run.seeds, nullptr);
    options.jobs = jobs_;
    options.check_determinism = check_determinism_;
    options.resume = resume_;
    options.force = force_;
    options.quiet_progress = quiet_;
    options.budget_s = budget_s_;
    options.coverage = coverage_;
    if (!shard_text_.empty()) {
      const Shard shard = parse_shard(shard_text_, [](const char* name) { return std::getenv(name); });
      options.shard_index = shard.index;
      options.shard_count = shard.count;
    }
    options.out_dir = !out_dir_.empty()      ? out_dir_
                      : config_path_.empty() ? std::string("out/defaults")
                                             : "out/" + std::filesystem::path(config_path_).stem().string();
    std::error_code error;
    std::filesystem::create_directories(options.out_dir, error);
    if (error || !std::filesystem::is_directory(options.out_dir)) {
      fmt::print(stderr, "mmtorture: --out: {}: cannot create the directory: {}\n", options.out_dir,
                 error ? error.message().c_str() : "a file is in the way");
      return kExitBadInput;
    }
    if (log_) {
      const std::string log_path =
          options.out_dir + "/" + shard_log_name(Shard{options.shard_index, options.shard_count});
      if (const auto problem = log_to_file(log_path, /*append=*/resume_)) {
        fmt::print(stderr, "mmtorture: --log: {}: {}\n", log_path, *problem);
        return kExitBadInput;
      }
    }
    if (report_ && options.shard_count > 1) {
      fmt::print(stderr,
                 "mmtorture: --report: a shard writes no summary.json; merge the shards and run "
                 "`mmtorture report` on the merged directory\n");
      return kExitBadInput;
    }
    const int rc = run_campaign(options);
    if (report_ && (rc == 0 || rc == 1)) report(options.out_dir);
    return rc;
  }

 private:
  // The config file, then --set, --defect, --seeds and --ops over it, validated.
  Config configured() const {
    Config config = config_path_.empty() ? Config{} : load_config_file(config_path_);
    for (const auto& o : overrides_) apply_override(config, o);
    if (!defects_.empty()) {
      std::vector<std::string> defects = config.run.defects;
      defects.insert(defects.end(), defects_.begin(), defects_.end());
      set_knob(config, "run", "defects", defects, "--defect", 0);
    }
    if (!seeds_text_.empty()) set_knob(config, "run", "seeds", seeds_text_, "--seeds", 0);
    if (ops_) config.run.ops_per_seed = ops_;
    validate_config(config, config_path_);
    return config;
  }

  std::string config_path_, seeds_text_, shard_text_, out_dir_;
  std::vector<std::string> overrides_, defects_;
  uint64_t ops_ = 0;
  unsigned jobs_ = 1;
  double budget_s_ = 0;
  bool check_determinism_ = false, resume_ = false, force_ = false, quiet_ = false, report_ = false, coverage_ = false;
  bool log_ = false;
};

class ReplayCommand final : public Subcommand {
 public:
  explicit ReplayCommand(CLI::App& app) {
    cmd_ = app.add_subcommand("replay", "Replay a repro file exactly (exit 1 when it fails)");
    cmd_->footer(
        "When the replay fails it prints the failure, each green thread's last --last events before it (in\n"
        "spawn order: operation starts and results, locks taken, released and waited for, sleeps and wake-ups,\n"
        "preemptions, failed allocations, the failure; world and cma jobs), and with --dump-tree=dot writes the\n"
        "maple trees as they were when the failure was recorded (world job: every live mm's VMA tree, one\n"
        "cluster each; maple job: its tree; cma job: the application's and the VM's) to FILE minus .json plus\n"
        ".trees.dot (1.repro.json ->\n"
        "1.repro.trees.dot), or to --dump-tree-out. The failure is the graph's label; the mm it names is drawn\n"
        "in red, and the node or VMA it names filled red; a tree of more than 24 nodes is drawn as the path\n"
        "from its root to that node, the other subtrees collapsed into counted boxes. --dump-tree=svg renders\n"
        "it with Graphviz's dot (1.repro.trees.svg; scripts/setup installs graphviz).");
    cmd_->add_option("file", path_,
                     "*.repro.json; or a fuzz_world input (with --fuzz-input, or a fuzz_world-crash-* artifact)")
        ->required();
    cmd_->add_flag("--fuzz-input", options_.fuzz_input,
                   "FILE is raw fuzz_world bytes (a corpus entry), run under the fuzzers' config");
    cmd_->add_flag("--trace", options_.trace, "Print every operation as it runs");
    cmd_->add_option("--last", options_.last_events, "Events of each thread to print after a failure (0: none)")
        ->capture_default_str()
        ->check(CLI::Range(size_t{0}, size_t{1} << 20));
    cmd_->add_option("--dump-tree", options_.dump_tree,
                     "Write the maple trees at the failure in this format (dot: Graphviz text; svg: drawn by dot)");
    cmd_->add_option("--dump-tree-out", options_.dump_tree_out,
                     "Where --dump-tree writes (implies --dump-tree=dot; default FILE minus .json plus .trees.dot "
                     "or .trees.svg)");
    cmd_->add_flag("--dump-tree-whole", options_.dump_tree_whole,
                   "With --dump-tree: draw every node of a large tree (default: the path to the node the "
                   "failure names, the other subtrees collapsed)");
    cmd_->add_option("--set", options_.overrides,
                     "fuzz inputs only: section.key=value (a TOML value) over the fuzzers' config");
    cmd_->add_option("--perfetto", options_.perfetto,
                     "Write the run as Chrome Trace Event JSON (Perfetto UI, chrome://tracing): a track per "
                     "thread, operations, lock holds and waits, wake-ups, the failure");
    cmd_->add_option("--html", options_.html,
                     "Write the run as one self-contained HTML timeline (lanes per thread, the failing operation "
                     "highlighted, the choices each operation drew)");
    cmd_->add_option("--write-repro", options_.write_repro, "fuzz inputs only: write the failing run as a repro file");
  }

  int execute() override {
    if ((!options_.dump_tree_out.empty() || options_.dump_tree_whole) && options_.dump_tree.empty())
      options_.dump_tree = "dot";
    if (!options_.dump_tree.empty() && std::find(std::begin(kDumpTreeFormats), std::end(kDumpTreeFormats),
                                                 options_.dump_tree) == std::end(kDumpTreeFormats)) {
      fmt::print(stderr, "mmtorture: --dump-tree: unknown format '{}' (known: dot, svg)\n", options_.dump_tree);
      return kExitBadInput;
    }
    if (options_.dump_tree == "svg") {
      options_.graphviz_dot = find_graphviz_dot();
      if (options_.graphviz_dot.empty()) {
        fmt::print(stderr,
                   "mmtorture: --dump-tree=svg: Graphviz's dot is not on PATH (scripts/setup installs "
                   "Debian's graphviz; --dump-tree=dot writes the text without it)\n");
        return kExitBadInput;
      }
    }
    // Outputs are checked before the replay runs (bad input: exit 2, nothing written).
    std::vector<std::pair<const char*, std::string>> outputs;
    if (!options_.dump_tree.empty())
      outputs.emplace_back("--dump-tree-out", options_.dump_tree_out.empty()
                                                  ? default_trees_path(path_, options_.dump_tree)
                                                  : options_.dump_tree_out);
    if (!options_.write_repro.empty()) outputs.emplace_back("--write-repro", options_.write_repro);
    if (!options_.perfetto.empty()) outputs.emplace_back("--perfetto", options_.perfetto);
    if (!options_.html.empty()) outputs.emplace_back("--html", options_.html);
    for (const auto& [flag, path] : outputs)
      if (refuse_output(flag, path)) return kExitBadInput;
    return replay(path_, options_);
  }

 private:
  std::string path_;
  ReplayOptions options_;
};

class ExportFuzzCommand final : public Subcommand {
 public:
  explicit ExportFuzzCommand(CLI::App& app) {
    cmd_ = app.add_subcommand("export-fuzz", "Write a repro's choices as a fuzz_world input");
    cmd_->add_option("repro", in_, "*.repro.json")->required();
    cmd_->add_option("out", out_, "the fuzz input to write")->required();
  }
  int execute() override { return refuse_output("export-fuzz", out_) ? kExitBadInput : export_fuzz(in_, out_); }

 private:
  std::string in_, out_;
};

class ShrinkCommand final : public Subcommand {
 public:
  explicit ShrinkCommand(CLI::App& app) {
    cmd_ = app.add_subcommand("shrink",
                              "Minimise a repro (its config and its choice list), keeping its failure signature");
    cmd_->add_option("file", path_, "*.repro.json")->required();
    cmd_->add_option("--attempts", attempts_, "Replays to try at most (default: run.shrink_attempts of the repro)")
        ->check(CLI::Range(uint64_t{1}, uint64_t{1000000}));
    cmd_->add_option("--out,-o", out_, "Where to write (default FILE with .min.repro.json)");
  }
  int execute() override {
    if (refuse_output("shrink --out", out_.empty() ? default_min_path(path_) : out_)) return kExitBadInput;
    return shrink(path_, attempts_, out_);
  }

 private:
  std::string path_, out_;
  std::optional<uint64_t> attempts_;
};

class MergeCommand final : public Subcommand {
 public:
  explicit MergeCommand(CLI::App& app) {
    cmd_ = app.add_subcommand(
        "merge",
        "Join the shards of a campaign into one journal and summary.json; exit 1 when a shard or seed is "
        "missing");
    cmd_->add_option("inputs", options_.inputs, "The campaign's output root, or its journal*.jsonl files")->required();
    cmd_->add_option("--out", options_.out_dir,
                     "Where journal.jsonl and summary.json go (default: the root, or the journals' folder)");
    cmd_->add_flag("--shrink", options_.shrink, "Shrink one repro per signature (unless one is shrunk already)");
  }
  int execute() override { return merge_campaign(options_); }

 private:
  MergeOptions options_;
};

class CmaExperimentCommand final : public Subcommand {
 public:
  explicit CmaExperimentCommand(CLI::App& app) {
    cmd_ = app.add_subcommand("cma-experiment",
                              "The seed-004 experiment: each cma_alloc retry policy against the same workloads");
    cmd_->add_option("--seeds", seeds_, "Seeds per policy and workload")
        ->capture_default_str()
        ->check(CLI::Range(1ull, 100000ull));
    cmd_->add_option("--first", first_, "First seed")->capture_default_str()->check(kFirstSeedRange);
    cmd_->add_option("--html", html_,
                     "Also write the table as a self-contained page of charts (success rate, p99 latency, retries, "
                     "-EBUSY sweeps, hangs per policy and workload)");
  }
  int execute() override {
    if (!html_.empty() && refuse_output("cma-experiment: --html", html_)) return kExitBadInput;
    return cma_experiment(first_, seeds_, html_);
  }

 private:
  uint64_t seeds_ = 8, first_ = 1;
  std::string html_;
};

class NommuExperimentCommand final : public Subcommand {
 public:
  explicit NommuExperimentCommand(CLI::App& app) {
    cmd_ = app.add_subcommand("nommu-experiment",
                              "The seed-001 experiment: OOM rate of a nommu boot per memory size, node preallocation "
                              "order and alloc_pages_exact tail placement");
    cmd_->add_option("--seeds", seeds_, "Boots per combination")
        ->capture_default_str()
        ->check(CLI::Range(1ull, 100000ull));
    cmd_->add_option("--first", first_, "First seed")->capture_default_str()->check(kFirstSeedRange);
    cmd_->add_option("--steps", steps_, "Steps of each boot script")
        ->capture_default_str()
        ->check(CLI::Range(1u, 100000u));
    cmd_->add_flag("--pcp", pcp_,
                   "What if: batch frees on per-CPU page lists sized as an MMU kernel sizes them (a nommu kernel "
                   "batches none)");
    cmd_->add_option("--html", html_,
                     "Also write the table as a self-contained page of charts (OOM rate and median largest free "
                     "block per combination)");
  }
  int execute() override {
    if (!html_.empty() && refuse_output("nommu-experiment: --html", html_)) return kExitBadInput;
    return nommu_experiment(first_, seeds_, steps_, pcp_, html_);
  }

 private:
  uint64_t seeds_ = 50, first_ = 1;
  unsigned steps_ = nommu::NommuBootOptions{}.boot_steps;
  bool pcp_ = false;
  std::string html_;
};

class ReportCommand final : public Subcommand {
 public:
  explicit ReportCommand(CLI::App& app) {
    cmd_ = app.add_subcommand(
        "report",
        "Write OUT_DIR/report.html from a campaign's summary.json and journal: the banner, each signature "
        "with its replay command and timeline (OUT_DIR/timelines/), plots of the seeds");
    cmd_->add_option("out_dir", dir_, "A campaign's output directory (run --out, or a merge)")->required();
  }
  int execute() override { return report(dir_); }

 private:
  std::string dir_;
};

class ListCommand final : public Subcommand {
 public:
  explicit ListCommand(CLI::App& app) {
    cmd_ = app.add_subcommand("list", "List configs, knobs, checks, sites and strategies");
    cmd_->add_flag("--config-doc", config_doc_, "Print configs/README.md (generated from the knob table)");
    cmd_->add_flag("--defects", defects_, "Print each canary defect with its seed thread and description");
  }
  int execute() override { return defects_ ? list_defects() : list(config_doc_); }

 private:
  bool config_doc_ = false, defects_ = false;
};

class SelftestCommand final : public Subcommand {
 public:
  explicit SelftestCommand(CLI::App& app) {
    cmd_ = app.add_subcommand("selftest",
                              "Prove each canary defect is caught, shrunk and replayed, "
                              "and that the scenarios are clean without one");
    cmd_->add_option("--budget-s", options_.budget_s,
                     "Wall seconds per config tried for a defect (the default campaign, then its scenario), and "
                     "for the control")
        ->capture_default_str()
        ->check(CLI::Range(0.1, 86400.0));
    cmd_->add_option("--max-seeds", options_.max_seeds,
                     "Seeds per defect and control seeds per scenario (0: until --budget-s runs out)")
        ->capture_default_str();
    cmd_->add_option("--defects", defects_, "Comma-separated defect names (default: every defect)");
    cmd_->add_option("--configs", options_.configs_dir, "Directory of the scenario configs")->capture_default_str();
    cmd_->add_option("--out", options_.out_dir, "Where repros go")->capture_default_str();
    cmd_->add_option("--first-seed", options_.first_seed, "First seed of each search")
        ->capture_default_str()
        ->check(kFirstSeedRange);
    cmd_->add_option("--shrink-attempts", options_.shrink_attempts,
                     "Replays the shrinker may try (default: the scenario's run.shrink_attempts)");
    cmd_->add_flag("--require-target", options_.require_target,
                   "Also fail unless every shrunk repro is within 50 choices beyond set-up");
    cmd_->add_flag("--known-configs", options_.known_configs,
                   "Run each defect only in its known catching config (the default campaign for those listed as "
                   "caught by it, else its scenario) instead of the default campaign first (CI's time budget)");
  }
  int execute() override {
    for (size_t start = 0; start < defects_.size();) {
      const size_t comma = std::min(defects_.find(',', start), defects_.size());
      options_.defects.push_back(defects_.substr(start, comma - start));
      start = comma + 1;
    }
    return run_selftest(options_).passed ? 0 : 1;
  }

 private:
  SelftestOptions options_;
  std::string defects_;
};

// The diagnostics level: --log-level, else -v (info) or -vv (debug), else $MMT_LOG_LEVEL,
// else the default. It is exported in $MMT_LOG_LEVEL, so every process this one starts
// (workers, a shrink's isolated replays) logs at the same level. An unknown level
// names where it came from.
std::optional<std::string> set_log_level(const std::string& flag, int verbosity) {
  std::string level(kDefaultLogLevel);
  const char* env = std::getenv(kLogLevelEnv);
  if (!flag.empty()) {
    if (!is_log_level(flag)) return fmt::format("--log-level: unknown level '{}' (one of {})", flag, kLogLevels);
    level = flag;
  } else if (verbosity > 0) {
    level = verbosity == 1 ? "info" : "debug";
  } else if (env && *env) {
    if (!is_log_level(env)) return fmt::format("{}: unknown level '{}' (one of {})", kLogLevelEnv, env, kLogLevels);
    level = env;
  }
  setup_logging(level);
  ::setenv(kLogLevelEnv, level.c_str(), 1);
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mmtorture: deterministic memory-pressure fault-injection stress tester"};
  app.require_subcommand(1);
  app.set_version_flag("--version", fmt::format("{} (commit {}, reference kernel {} for the maple tree)",
                                                tool_version(), tool_commit(), maple::kReferenceKernel));
  app.footer(
      "Exit codes: 0 clean (replay: ran clean); 1 failures found (replay: the failure reproduced; shrink: the repro\n"
      "does not reproduce); 2 bad input (config, repro, journal or flag: one line names the file, line and key);\n"
      "3 mmtorture itself failed (an internal error or an I/O error) - not a verdict on the code under test.");
  // Diagnostics (core/log.h): options of the whole program, accepted after the
  // subcommand too (fallthrough is inherited by the subcommands added below).
  int verbosity = 0;
  std::string log_level;
  app.add_flag("-v,--verbose", verbosity,
               "More diagnostics on stderr: -v the campaign's events (info), -vv and more also each worker and "
               "shrink pass (debug)");
  app.add_option("--log-level", log_level,
                 fmt::format("Diagnostics level on stderr: one of {} (default {}, or ${} when it is set); "
                             "overrides -v",
                             kLogLevels, kDefaultLogLevel, kLogLevelEnv));
  app.fallthrough();
  // In the order `--help` lists them.
  std::vector<std::unique_ptr<Subcommand>> commands;
  commands.push_back(std::make_unique<RunCommand>(app));
  commands.push_back(std::make_unique<ReplayCommand>(app));
  commands.push_back(std::make_unique<ExportFuzzCommand>(app));
  commands.push_back(std::make_unique<ShrinkCommand>(app));
  commands.push_back(std::make_unique<MergeCommand>(app));
  commands.push_back(std::make_unique<CmaExperimentCommand>(app));
  commands.push_back(std::make_unique<NommuExperimentCommand>(app));
  commands.push_back(std::make_unique<ReportCommand>(app));
  commands.push_back(std::make_unique<ListCommand>(app));
  commands.push_back(std::make_unique<SelftestCommand>(app));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "mmtorture: {}\n", e.what());
    return kExitBadInput;
  }
  if (const auto problem = set_log_level(log_level, verbosity)) {
    fmt::print(stderr, "mmtorture: {}\n", *problem);
    return kExitBadInput;
  }
  return guarded([&]() -> int {
    for (const auto& command : commands)
      if (command->parsed()) return command->execute();
    fmt::print(stderr, "mmtorture: internal error: no subcommand ran\n");
    return kExitToolError;
  });
}

int guarded(const std::function<int()>& command) {
  try {
    return command();
  } catch (const ConfigError& e) {
    fmt::print(stderr, "mmtorture: {}\n", e.what());
    return kExitBadInput;
  } catch (const IoError& e) {
    fmt::print(stderr, "mmtorture: I/O error: {}\n", e.what());
    return kExitToolError;
  } catch (const std::exception& e) {
    fmt::print(stderr, "mmtorture: internal error: {}\n", e.what());
    return kExitToolError;
  } catch (...) {
    fmt::print(stderr, "mmtorture: internal error: an exception that is not a std::exception\n");
    return kExitToolError;
  }
}

}  // namespace mmt::cli
