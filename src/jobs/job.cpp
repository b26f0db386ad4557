// The table of jobs (jobs.def) and the config passes jobs share (job.h).
#include "mmtorture/jobs/job.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <stdexcept>

#include "mmtorture/sched/strategy.h"

namespace mmt::jobs {

#define MMT_JOB(name) const Job& name##_job();
#include "mmtorture/jobs/jobs.def"
#undef MMT_JOB

bool Job::coverage_registry(const Config&, CoverageRegistry*) const { return false; }
bool Job::records_events() const { return false; }
bool Job::explores_schedules() const { return false; }
bool Job::shrinks_in_workers(const Config&) const { return false; }

std::span<const Job* const> job_table() {
  // Built on first use: every job is a function-local static of its own file.
  static const std::array jobs = {
#define MMT_JOB(name) &name##_job(),
#include "mmtorture/jobs/jobs.def"
#undef MMT_JOB
  };
  return jobs;
}

const Job* find_job(std::string_view name) {
  for (const Job* job : job_table())
    if (job->name() == name) return job;
  return nullptr;
}

const Job& job_of(const Config& config) {
  if (const Job* job = find_job(config.workload.job)) return *job;
  throw std::logic_error(
      fmt::format("workload.job = \"{}\" is not in the table of jobs (the config parser lets no "
                  "such config through)",
                  config.workload.job));
}

std::string job_names_quoted() {
  const std::span<const Job* const> jobs = job_table();
  std::string out;
  for (size_t i = 0; i < jobs.size(); ++i)
    out += fmt::format("{}\"{}\"", i == 0 ? "" : i + 1 == jobs.size() ? " or " : ", ", jobs[i]->name());
  return out;
}

bool ConfigShrinker::has_nonzero(ChoiceKind kind) const {
  const std::vector<Choice>& drawn = choices();
  return std::any_of(drawn.begin(), drawn.end(), [&](const Choice& c) { return c.kind == kind && c.value != 0; });
}

bool shrink_ops_per_seed(ConfigShrinker& shrinker, uint64_t per_round) {
  const uint64_t ops = shrinker.config().run.ops_per_seed;
  const uint64_t needed = shrinker.ops();
  return shrinker.lower_u64("run", "ops_per_seed", ops,
                            {needed + 1, needed + per_round, ops / 2, ops - ops / 4, ops - 1});
}

bool drop_unused_preemption(ConfigShrinker& shrinker) {
  const Config& config = shrinker.config();
  if (sched::strategy_from_name(config.schedule.strategy) != sched::StrategyKind::Preempt ||
      config.schedule.preempt_probability <= 0 || shrinker.has_nonzero(ChoiceKind::Preempt))
    return false;
  return shrinker.set_value("schedule", "preempt_probability", 0.0, "-> 0 (no preemption)");
}

bool drop_unused_nowait_failures(ConfigShrinker& shrinker) {
  if (shrinker.config().faults.nowait_fail_probability <= 0 || shrinker.has_nonzero(ChoiceKind::AllocFail))
    return false;
  return shrinker.set_value("faults", "nowait_fail_probability", 0.0, "-> 0 (no injected failures)");
}

}  // namespace mmt::jobs
