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

constexpr Site kSwarmLongtermMode{"swarm.cma_longterm_mode"};

// longterm_mode = "swarm": each seed draws how FOLL_LONGTERM treats a CMA page, a Swarm
// choice. 0, the simple one, pins in place (the older kernels' GUP, under which a retry
// loop that ignores a fatal signal hangs: a migrate-first pin moves the page out of the
// area, so nothing would stay pinned there); 1 migrates first (5.13+), so the migration
// and its failure paths run.
std::string draw_cma_swarm(const Config& config, ChoiceSource& choices, cma::CmaWorldOptions& options) {
  if (config.cma.longterm_mode != "swarm") return {};
  const bool migrate_first = choices.draw(ChoiceKind::Swarm, kSwarmLongtermMode, 2) != 0;
  options.cma.longterm_pin = migrate_first ? cma::LongtermPinMode::MigrateFirst : cma::LongtermPinMode::PinInPlace;
  return fmt::format("longterm_mode={}", migrate_first ? "migrate_first" : "pin_in_place");
}

// Bakes the draw into the config (cma.longterm_mode = what the seed drew) and drops it.
bool bake_cma_swarm(ConfigShrinker& shrinker) {
  if (shrinker.config().cma.longterm_mode != "swarm") return false;
  Config config = shrinker.config();
  std::vector<Choice> rest;
  bool migrate_first = false;
  for (const Choice& c : shrinker.choices()) {
    if (c.kind == ChoiceKind::Swarm && c.site == kSwarmLongtermMode) {
      migrate_first = c.value != 0;
      continue;
    }
    rest.push_back(c);
  }
  shrinker.set_knob(config, "cma", "longterm_mode", std::string(migrate_first ? "migrate_first" : "pin_in_place"));
  return shrinker.attempt(config, rest, "swarm baked into the config: cma.longterm_mode");
}

// The seed's coverage: the migration targets' fault-plan counts and every outcome.
Coverage cma_coverage(const cma::CmaWorldResult& r) {
  Coverage coverage;
  for (const mem::FaultPlan::SiteStats& s : r.sites) {
    if (!(s.site == cma::kSiteMigrationTarget) && !(s.site == cma::kSiteLongtermTarget)) continue;
    Coverage::SiteCount& count = coverage.sites[fmt::format("{}/{}", s.site.view(), mem::gfp_class_name(s.gfp_class))];
    count.requests += s.requests;
    count.injected += s.injected;
  }
  for (const cma::CmaOutcomeInfo& info : cma::kCmaOutcomes)
    if (const uint64_t times = r.outcomes[static_cast<size_t>(info.id)])
      coverage.count_outcome(info.op, info.outcome, times);
  return coverage;
}

class CmaJob final : public Job {
 public:
  const char* name() const override { return "cma"; }
  const char* doc() const override { return "cma_alloc against pins, migration and a fatal signal (seed 004)"; }
  const char* knob_section() const override { return "cma"; }

  JobResult run(const Config& config, ChoiceSource& choices, const SeedHooks& hooks) const override {
    JobResult out;
    cma::CmaWorldOptions options = cma_options(config);
    out.swarm = draw_cma_swarm(config, choices, options);
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
    out.coverage = cma_coverage(r);
    return out;
  }

  bool coverage_registry(const Config& config, CoverageRegistry* registry) const override {
    *registry = cma_coverage_registry(cma_options(config), config.cma.longterm_mode == "swarm");
    return true;
  }

  // Every actor, the vfio thread when it pins, and a killer per client when one is set.
  uint64_t threads(const Config& config) const override {
    const cma::CmaWorldOptions o = cma_options(config);
    return o.clients + o.forkers + o.short_pinners + o.touchers + o.hogs + (o.longterm_pins ? 1 : 0) +
           (o.fatal_signal_at_ms ? o.clients : 0);
  }

  // The calls, not run.ops_per_seed, bound a cma seed: no ops pass.
  bool shrink_config(ConfigShrinker& shrinker) const override {
    bool progress = bake_cma_swarm(shrinker);
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
  o.migration_fail_probability = config.cma.migration_fail_probability;
  o.longterm_fail_probability = config.cma.longterm_fail_probability;
  o.pcp_batch = knob_as<unsigned>(config.cma.pcp_batch, "cma.pcp_batch");
  o.cma.locking = config.cma.locking == "none"       ? cma::CmaLocking::None
                  : config.cma.locking == "per_area" ? cma::CmaLocking::PerAreaMutex
                                                     : cma::CmaLocking::GlobalMutex;
  o.hang_ms = config.schedule.hang_ms;
  o.preempt_probability = config.schedule.preempt_probability;
  return o;
}

// What the CMA world can do as `o` runs it: an outcome is enabled when some actor or
// knob of the config can produce it (an outcome no config of the world produces — a pin
// of unmapped memory (-EFAULT), a fatal signal to a pinner (-EINTR) — stays registered
// and off: the report lists it as off, and its table still shows one a run met).
CoverageRegistry cma_coverage_registry(const cma::CmaWorldOptions& o, bool longterm_swarm) {
  using cma::CmaOutcome;
  const bool injecting = o.migration_fail_probability > 0;
  const bool longterm_injecting = o.longterm_fail_probability > 0;
  const bool signal = o.fatal_signal_at_ms > 0;
  const bool longterm = o.longterm_pins > 0;
  const bool in_place = longterm && (longterm_swarm || o.cma.longterm_pin != cma::LongtermPinMode::MigrateFirst);
  const bool migrate_first = longterm && (longterm_swarm || o.cma.longterm_pin != cma::LongtermPinMode::PinInPlace);
  // Actors that take references a migration does not expect, and that fault or free.
  const bool transient_refs = o.forkers + o.short_pinners + o.touchers > 0;
  const bool faulting = o.forkers + o.hogs > 0;
  const cma::RetryKind retry = o.cma.retry.kind;
  CoverageRegistry registry;
  registry.sites.push_back({fmt::format("{}/kernel", cma::kSiteMigrationTarget.view()), injecting});
  registry.sites.push_back(
      {fmt::format("{}/kernel", cma::kSiteLongtermTarget.view()), longterm_injecting && migrate_first});
  for (const cma::CmaOutcomeInfo& info : cma::kCmaOutcomes) {
    bool enabled = true;
    switch (info.id) {
      case CmaOutcome::AllocOkAfterRetry: enabled = retry != cma::RetryKind::None; break;
      case CmaOutcome::AllocBusy: enabled = retry != cma::RetryKind::Forever; break;
      case CmaOutcome::AllocIntr: enabled = signal; break;
      // The killer runs when virtual time reaches its moment, so only when every other
      // thread sleeps or waits: a client inside alloc_contig_range then is one waiting
      // on a lock an actor holds (an anon_vma a fork or a hog's mmap has).
      case CmaOutcome::ContigIntr: enabled = signal && faulting; break;
      case CmaOutcome::ContigIsolationBusy: enabled = o.cma.locking == cma::CmaLocking::None; break;
      case CmaOutcome::ContigNomem: enabled = injecting; break;
      case CmaOutcome::MigrateNomem: enabled = injecting || (migrate_first && longterm_injecting); break;
      case CmaOutcome::ContigPcpDrained: enabled = o.pcp_batch > 0; break;
      case CmaOutcome::ScanSkippedPinned: enabled = in_place || transient_refs; break;
      case CmaOutcome::ScanSkippedOffLru:
      case CmaOutcome::MigrateFreed: enabled = faulting; break;
      case CmaOutcome::MigrateAgain: enabled = transient_refs; break;
      case CmaOutcome::PinOk: enabled = longterm || o.short_pinners > 0; break;
      case CmaOutcome::PinNomem: enabled = migrate_first && longterm_injecting; break;
      case CmaOutcome::PinIntr:
      case CmaOutcome::PinFault: enabled = false; break;
      case CmaOutcome::LongtermOutsideCma: enabled = longterm; break;
      case CmaOutcome::LongtermInPlace: enabled = in_place; break;
      case CmaOutcome::LongtermMigrated: enabled = migrate_first; break;
      case CmaOutcome::LongtermMigrationFailedInPlace:
        enabled = longterm && o.cma.longterm_pin == cma::LongtermPinMode::MigrateOrPinInPlace;
        break;
      case CmaOutcome::LongtermMigrationFailed: enabled = migrate_first && longterm_injecting; break;
      default: break;
    }
    registry.outcomes.push_back({info.op, info.outcome, info.error, enabled});
  }
  return registry;
}

const Job& cma_job() {
  static const CmaJob job;
  return job;
}

}  // namespace mmt::jobs
