// The cma job: cma_alloc against pins in the CMA world (cma/experiment.cpp), the
// seed-004 question, with the config's retry policy and actors; its config shrink
// passes drop the killer, the long-term pins and every actor the failure does not need.
#include "mmtorture/jobs/cma.h"

#include <fmt/format.h>

#include <map>

#include "knob_as.h"
#include "mmtorture/jobs/job.h"

namespace mmt::jobs {

namespace {

// The cma job's numbers for the report: its policy, counts and every call's latency.
CmaSeedMetrics cma_seed_metrics(const cma::CmaWorldOptions& options, const cma::CmaStats& stats) {
  CmaSeedMetrics m;
  m.policy = options.cma.retry.name();
  m.calls = stats.alloc_calls;
  m.failed = stats.alloc_calls_fail;
  m.retries = stats.retries;
  m.busy = stats.busy;
  m.interrupted = stats.interrupted;
  m.enomem = stats.enomem;
  std::map<uint64_t, uint64_t> calls_by_ms;
  for (uint64_t ms : stats.latency_ms) ++calls_by_ms[ms];
  m.latency_ms.assign(calls_by_ms.begin(), calls_by_ms.end());
  return m;
}

class CmaJob final : public Job {
 public:
  const char* name() const override { return "cma"; }
  const char* doc() const override { return "cma_alloc against pins, migration and a fatal signal (seed 004)"; }
  const char* knob_section() const override { return "cma"; }

  JobResult run(const Config& config, ChoiceSource& choices, const SeedHooks& hooks) const override {
    JobResult out;
    cma::CmaWorldOptions options = cma_options(config);
    options.event_log = hooks.event_log;
    options.capture_trees_dot = hooks.capture_trees_dot;
    options.whole_trees = hooks.whole_trees;
    const auto r = cma::run_cma_world(choices, options);
    out.trees_dot = r.trees_dot;
    out.ops = r.calls.size();
    out.virtual_ms = r.virtual_ms;
    out.trace_hash = r.trace_hash;
    out.failure = r.failure;
    const cma::LatencySummary latency = r.area_stats.latency();
    out.stats = fmt::format(
        "cma: {} calls ({} failed), alloc_pages_success {}, alloc_pages_fail {}, release_pages_success {}, "
        "retries {}, busy {}, interrupted {}, latency p50 {} ms p99 {} ms max {} ms, signals {}/{} honoured",
        r.area_stats.alloc_calls, r.area_stats.alloc_calls_fail, r.area_stats.alloc_pages_success,
        r.area_stats.alloc_pages_fail, r.area_stats.release_pages_success, r.area_stats.retries, r.area_stats.busy,
        r.area_stats.interrupted, latency.p50_ms, latency.p99_ms, latency.max_ms, r.signals_honoured, r.signals_sent);
    out.metrics.cma = cma_seed_metrics(options, r.area_stats);
    return out;
  }

  // Every actor, the vfio thread when it pins, and a killer per client when one is set.
  uint64_t threads(const Config& config) const override {
    const cma::CmaWorldOptions o = cma_options(config);
    return o.clients + o.forkers + o.short_pinners + o.touchers + o.hogs + (o.longterm_pins ? 1 : 0) +
           (o.fatal_signal_at_ms ? o.clients : 0);
  }

  // The calls, not run.ops_per_seed, bound a cma seed: no ops pass.
  bool shrink_config(ConfigShrinker& shrinker) const override {
    bool progress = false;
    const Config& best = shrinker.config();
    if (best.cma.fatal_signal_at_ms)
      progress |= shrinker.set_value("cma", "fatal_signal_at_ms", int64_t{0}, "-> 0 (no killer)");
    const uint64_t pins = shrinker.config().cma.longterm_pins;
    progress |= shrinker.lower_u64("cma", "longterm_pins", pins, {0, 1, pins / 2});
    // Actors the failure does not need go, each with every draw it made.
    const uint64_t clients = shrinker.config().cma.clients;
    progress |= shrinker.lower_u64("cma", "clients", clients, {1, clients - 1});
    progress |= shrinker.lower_u64("cma", "forkers", shrinker.config().cma.forkers, {0});
    progress |= shrinker.lower_u64("cma", "short_pinners", shrinker.config().cma.short_pinners, {0});
    progress |= shrinker.lower_u64("cma", "touchers", shrinker.config().cma.touchers, {0});
    progress |= shrinker.lower_u64("cma", "hogs", shrinker.config().cma.hogs, {0});
    progress |= drop_unused_preemption(shrinker);
    return progress;
  }

  bool records_events() const override { return true; }
};

}  // namespace

cma::CmaWorldOptions cma_options(const Config& config) {
  cma::CmaWorldOptions o;
  const std::string& policy = config.cma.policy;
  const bool killable = config.cma.killable;
  o.cma.retry = policy == "none"      ? cma::RetryPolicy::none()
                : policy == "forever" ? cma::RetryPolicy::forever(config.cma.sleep_ms, killable)
                : policy == "nofail_only"
                    ? cma::RetryPolicy::nofail_only(config.cma.sleep_ms, killable)
                    : cma::RetryPolicy::bounded(config.cma.retries, config.cma.sleep_ms, killable);
  o.longterm_pins = knob_as<unsigned>(config.cma.longterm_pins, "cma.longterm_pins");
  o.cma.longterm_pin = config.cma.longterm_mode == "pin_in_place" ? cma::LongtermPinMode::PinInPlace
                                                                  : cma::LongtermPinMode::MigrateFirst;
  o.fatal_signal_at_ms = config.cma.fatal_signal_at_ms;
  o.clients = knob_as<unsigned>(config.cma.clients, "cma.clients");
  o.forkers = knob_as<unsigned>(config.cma.forkers, "cma.forkers");
  o.short_pinners = knob_as<unsigned>(config.cma.short_pinners, "cma.short_pinners");
  o.touchers = knob_as<unsigned>(config.cma.touchers, "cma.touchers");
  o.hogs = knob_as<unsigned>(config.cma.hogs, "cma.hogs");
  o.hang_ms = config.schedule.hang_ms;
  o.preempt_probability = config.schedule.preempt_probability;
  return o;
}

const Job& cma_job() {
  static const CmaJob job;
  return job;
}

}  // namespace mmt::jobs
