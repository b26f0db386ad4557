// The jobs layer: what `mmtorture run` can run for one seed. Each job (the VM world,
// the maple tree stress, the page model, the CMA world, the nommu boot) is one type
// behind the Job interface below, and the one table of jobs (jobs.def) is what
// everything above reads: the config parser (workload.job), run_seed, the shrinker,
// coverage, the replay and report timelines, `mmtorture list` and the selftest.
//
// Design notes:
// - A new job is one file and one table row: src/jobs/<name>.cpp defines its type and
//   `const Job& <name>_job()`, and jobs.def gets `MMT_JOB(<name>)`. Nothing outside
//   that file compares a job's name: ask the table (find_job, job_of) for the Job and
//   ask the Job.
// - The interface holds exactly what the layers above need: the name, a line of doc and
//   the knob section (list, the config parser), how to run a seed from a ChoiceSource
//   with the replay's hooks (run_seed), its workload threads (repro sizes, the
//   selftest), its config shrink passes (the shrinker), its coverage registry, and
//   whether it fills the event log (timelines), explores schedules (bounded) or must
//   shrink in worker processes.
// - A job reads the knob struct (config.h) and nothing else of the campaign: options
//   are resolved in the job's own file (world_options, maple_options, ...), and what
//   the run returns is a JobResult, which the campaign's SeedResult extends.
// - The engines a job drives sit beside it (vm_world.cpp for the world job,
//   maple_stress.cpp and maple_kernel_stress.cpp for the maple job) or in the
//   subsystem they exercise; an experiment (`cma-experiment`, `nommu-experiment`)
//   sits beside the job that drives the same engine.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mmtorture/core/choice.h"
#include "mmtorture/core/failure.h"
#include "mmtorture/jobs/config.h"
#include "mmtorture/jobs/coverage.h"
#include "mmtorture/jobs/metrics.h"

namespace mmt::sched {
class EventLog;
}  // namespace mmt::sched

namespace mmt::jobs {

// What a replay asks of a run beyond its result; a job that cannot honour one ignores it.
struct SeedHooks {
  // One line per operation (replay --trace); world job only.
  std::function<void(std::string_view)> trace_ops;
  // Each green thread's last events (replay --last); the jobs whose records_events()
  // is true (the world and cma jobs). Must outlive the run.
  sched::EventLog* event_log = nullptr;
  // Draw the maple trees at the failure into JobResult::trees_dot (replay
  // --dump-tree); the world job (every live mm), the maple job (its tree) and the cma
  // job (the application's and the VM's).
  bool capture_trees_dot = false;
  // replay --dump-tree-whole: draw every node of a large tree (by default a tree of
  // more than maple::kDotCollapseAboveNodes nodes is drawn as the path to the node
  // the failure names).
  bool whole_trees = false;
};

// One seed's run of a job.
struct JobResult {
  uint64_t ops = 0;
  uint64_t virtual_ms = 0;
  uint64_t trace_hash = 0;
  std::string stats;         // one human-readable line of job statistics
  SeedMetrics metrics;       // the cma and nommu jobs' numbers for the report's charts
  std::string swarm;         // what the swarm draws switched off or set ("" when nothing)
  double pct_guarantee = 0;  // world job under PCT: 1/(n·k^(d-1)) for this seed's n
  std::optional<Failure> failure;
  // With SeedHooks::capture_trees_dot and a failure: the maple trees at the failure as
  // one Graphviz digraph (a cluster per tree).
  std::string trees_dot;
  // The world and maple (model) jobs: sites reached and failed, each operation's
  // outcomes (coverage.h). Empty for the other jobs.
  Coverage coverage;
};

// What the shrinker offers a job's config passes. Every change is tried against the
// repro's failure and kept only when the same failure still happens with no more
// choices than before: the config itself became simpler.
class ConfigShrinker {
 public:
  virtual ~ConfigShrinker() = default;
  // The smallest failing repro so far: its config, its choices and the ops it ran.
  virtual const Config& config() const = 0;
  virtual const std::vector<Choice>& choices() const = 0;
  virtual uint64_t ops() const = 0;
  // True once a round of the shrinker's passes deleted no operation: a change that
  // takes away what marks where an operation starts (the world's Op draws of a lone
  // op kind) waits for it.
  virtual bool settled() const = 0;
  // False once the attempt budget is spent (or the shrink was cancelled).
  virtual bool budget_left() const = 0;
  // Tries `config` with `choices`; `change` says what changed ("workload.workers 3 -> 1").
  virtual bool attempt(const Config& config, const std::vector<Choice>& choices, const std::string& change) = 0;
  // Tries each target below `current` in order (targets outside the knob's range are
  // skipped); keeps the first that fails the same way.
  virtual bool lower_u64(const char* section, const char* name, uint64_t current, std::vector<uint64_t> targets) = 0;
  // Tries the knob at `value`.
  virtual bool set_value(const char* section, const char* name, const KnobValue& value, const std::string& change) = 0;
  // Sets a knob of `config` as the config parser would (throws ConfigError for an
  // unknown knob or a value out of its range).
  virtual void set_knob(Config& config, std::string_view section, std::string_view name,
                        const KnobValue& value) const = 0;
  // Whether `config` passes the config parser's cross-knob rules.
  virtual bool valid(const Config& config) const = 0;

  // Whether the repro draws a non-zero choice of `kind` (a knob whose draws are all 0
  // decides nothing).
  bool has_nonzero(ChoiceKind kind) const;
};

class Job {
 public:
  virtual ~Job() = default;
  // The workload.job value that selects the job.
  virtual const char* name() const = 0;
  // One line for `mmtorture list`: what a seed of the job runs.
  virtual const char* doc() const = 0;
  // The config section of the job's own knobs ("world", "cma", "nommu"), or "" for a
  // job whose knobs are workload.* and faults.* ones.
  virtual const char* knob_section() const = 0;
  // Runs one seed with every decision drawn from `choices`. Never throws for a failed
  // check: the failure is in the result.
  virtual JobResult run(const Config& config, ChoiceSource& choices, const SeedHooks& hooks) const = 0;
  // The workload threads the config runs (a repro's size; the selftest's table).
  virtual uint64_t threads(const Config& config) const = 0;
  // The job's config passes, in the order they are tried; true when one was kept.
  virtual bool shrink_config(ConfigShrinker& shrinker) const = 0;
  // The registry of what the job's code can do as `config` runs it (coverage.h);
  // false for a job that records no coverage.
  virtual bool coverage_registry(const Config& config, CoverageRegistry* registry) const;
  // Whether the job's seeds record green threads into SeedHooks::event_log (replay
  // --last, the timelines); false for a job that runs no green threads.
  virtual bool records_events() const;
  // Whether schedule.strategy = "bounded" can explore the job's schedules.
  virtual bool explores_schedules() const;
  // Whether shrink candidates must run in worker processes (code that may crash the
  // process, such as the kernel's own tree) rather than in the shrinker's process.
  virtual bool shrinks_in_workers(const Config& config) const;
};

// Every job, in the table's order (jobs.def).
std::span<const Job* const> job_table();
// The job named `name`, or nullptr.
const Job* find_job(std::string_view name);
// The config's job (workload.job). A config that went through the parser names one;
// throws std::logic_error for a name that is not in the table.
const Job& job_of(const Config& config);
// The names for a message: "\"world\", \"maple\", ... or \"nommu\"".
std::string job_names_quoted();

// Config passes more than one job shares.
// run.ops_per_seed lowered toward the operations the failure needed; `per_round` is how
// many operations one round of the workload runs (the world's workers, else 1).
bool shrink_ops_per_seed(ConfigShrinker& shrinker, uint64_t per_round);
// schedule.preempt_probability to 0 when every Preempt draw of the repro is 0.
bool drop_unused_preemption(ConfigShrinker& shrinker);
// faults.nowait_fail_probability to 0 when every AllocFail draw of the repro is 0.
bool drop_unused_nowait_failures(ConfigShrinker& shrinker);

}  // namespace mmt::jobs
