// The seed-004 experiment (experiment.h): one CMA world per seed, and the grid of
// retry policies x workloads over a seed range, summarised as a table.
#include "mmtorture/cma/experiment.h"

#include <fmt/format.h>
#ifdef MMT_SANITIZED
#include <sanitizer/lsan_interface.h>
#endif

#include <algorithm>
#include <cerrno>
#include <tuple>

#include "mmtorture/maple/kernel_api.h"
#include "mmtorture/maple/validate.h"
#include "mmtorture/mem/fault_plan.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/sched/sched.h"
#include "mmtorture/vma/ops.h"

namespace mmt::cma {

const char* cma_workload_name(CmaWorkload workload) {
  switch (workload) {
    case CmaWorkload::Transient: return "transient";
    case CmaWorkload::Longterm: return "longterm";
    case CmaWorkload::LongtermMigrateFirst: return "longterm+migrate";
    case CmaWorkload::FatalSignal: return "signal";
  }
  return "?";
}

std::vector<RetryPolicy> default_retry_policies() {
  constexpr uint64_t n = kDefaultBoundedRetries, ms = kDefaultSleepMs;
  return {RetryPolicy::none(),          RetryPolicy::bounded(n, ms),        RetryPolicy::forever(ms),
          RetryPolicy::nofail_only(ms), RetryPolicy::bounded(n, ms, false), RetryPolicy::forever(ms, false)};
}

namespace {

class CmaWorld {
 public:
  CmaWorld(ChoiceSource& choices, const CmaWorldOptions& options)
      : choices_(choices),
        options_(options),
        memory_(memory_config(options), choices, &plan_),
        vm_(memory_),
        cma_(memory_, vm_, options.cma),
        ctx_{choices, cma_, vm_, [this](const char* after) { check(after); }} {
    memory_.set_trace(&trace_);
    for (auto [site, probability] : {std::pair{kSiteMigrationTarget, options.migration_fail_probability},
                                     std::pair{kSiteLongtermTarget, options.longterm_fail_probability}}) {
      if (probability <= 0) continue;
      mem::FaultRule rule;
      rule.probability = probability;
      plan_.set_rule(site.view(), mem::GfpClass::Any, rule);
    }
    area_ =
        &cma_.cma_declare_area(CmaAreaConfig{"cma", options.cma_base_pfn, options.cma_pages, options.order_per_bit});
    // The VM started first: its guest memory is spread over the CMA area the buddy
    // allocator lent it, which is where its FOLL_LONGTERM pins will sit.
    if (options.longterm_pins) populate(guest_, options.vm_pages);
    populate(app_, options.process_pages);
  }

  ~CmaWorld() {
    // A failed run's address spaces are abandoned, not torn down over the corruption
    //; a destructor never throws.
    if (result_.failure) vm_.abandon();
    app_.mm.reset();
    guest_.mm.reset();
    try {
      rcu_barrier();
    } catch (const FailureError&) {
    }
  }

  CmaWorldResult run() {
    sched::SchedulerOptions sched_options;
    sched_options.strategy = sched::StrategyConfig::preempt(options_.preempt_probability);
    sched_options.hang_ms = options_.hang_ms;
    sched_options.event_log = options_.event_log;
    sched_options.on_failure = [this](const Failure& failure) {
      if (options_.capture_trees_dot) capture_trees(failure);
      vm_.abandon();
    };
    sched::Scheduler scheduler(choices_, sched_options, &trace_);
    client_calls_.resize(options_.clients);
    std::vector<sched::Thread*> clients;
    for (unsigned i = 0; i < options_.clients; ++i) {
      CmaClientOptions client = options_.client;
      client.area = area_;
      clients.push_back(&scheduler.spawn(fmt::format("{}{}", i % 2 ? "codec" : "camera", i),
                                         cma_client(ctx_, client, client_calls_[i])));
    }
    for (unsigned i = 0; i < options_.forkers; ++i)
      scheduler.spawn(fmt::format("forker{}", i), forker(ctx_, app_, options_.forker));
    for (unsigned i = 0; i < options_.short_pinners; ++i)
      scheduler.spawn(fmt::format("dio{}", i), short_pinner(ctx_, app_, options_.pinner));
    for (unsigned i = 0; i < options_.touchers; ++i)
      scheduler.spawn(fmt::format("toucher{}", i), page_toucher(ctx_, app_, options_.toucher));
    for (unsigned i = 0; i < options_.hogs; ++i)
      scheduler.spawn(fmt::format("hog{}", i), memory_hog(ctx_, vm_, options_.hog));
    if (options_.longterm_pins) {
      LongtermPinnerOptions longterm = options_.longterm;
      longterm.pins = options_.longterm_pins;
      scheduler.spawn("vfio", longterm_pinner(ctx_, guest_, longterm));
    }
    targets_ = clients;
    if (options_.fatal_signal_at_ms) {
      sent_ms_.assign(clients.size(), UINT64_MAX);
      for (size_t i = 0; i < clients.size(); ++i)
        scheduler.spawn(fmt::format("killer{}", i), killer(&targets_[i], options_.fatal_signal_at_ms, &sent_ms_[i]));
    }
    const sched::RunResult run = scheduler.run();
    result_.failure = run.failure;
    result_.virtual_ms = run.virtual_ms;
    if (!result_.failure) {
      try {
        teardown();
      } catch (const FailureError& e) {
        result_.failure = e.failure();
      }
    }
    result_.hang = result_.failure && result_.failure->check == "sched.hang";
    for (const auto& calls : client_calls_) result_.calls.insert(result_.calls.end(), calls.begin(), calls.end());
    // The cma job's operations are the clients' cma_alloc calls: a failure is placed
    // after the calls that had returned by then.
    if (result_.failure)
      result_.failure->op_index = static_cast<uint64_t>(std::count_if(
          result_.calls.begin(), result_.calls.end(), [](const CmaCall& call) { return call.end_ms != UINT64_MAX; }));
    summarise_signals();
    result_.area_stats = area_->stats;
    result_.cma_stats = cma_.stats();
    result_.trace_hash = trace_.value();
    result_.outcomes = cma_.outcome_counts();
    result_.sites = plan_.site_stats();
    return result_;
  }

 private:
  // Maps and writes every page before the run (the process has been up for a while).
  void populate(Process& process, unsigned long pages) {
    process.mm = std::make_unique<vma::Mm>(vm_);
    process.pages = pages;
    vma::vm_mmap(*process.mm, process.base, pages * vma::kPageSize, vma::PROT_READ | vma::PROT_WRITE,
                 vma::MAP_PRIVATE | vma::MAP_ANONYMOUS | vma::MAP_FIXED);
    for (unsigned long i = 0; i < pages; ++i)
      vma::handle_mm_fault(*process.mm, process.base + i * vma::kPageSize, true);
  }

  static mem::MemConfig memory_config(const CmaWorldOptions& options) {
    mem::MemConfig config;
    config.pages = options.memory_pages;
    config.pcp_batch = options.pcp_batch;
    return config;
  }

  // The VMA trees of the two long-lived processes, as Graphviz (replay --dump-tree):
  // the application (pinned, forked, touched) and the VM (its guest memory pinned
  // FOLL_LONGTERM). Read without their locks: nothing else runs while a failure is
  // recorded.
  void capture_trees(const Failure& failure) {
    std::string dot;
    for (auto [process, name, what] :
         {std::tuple{&app_, "app", "the application"}, std::tuple{&guest_, "vm", "the VM"}}) {
      if (!process->mm || process->mm->exited) continue;
      dot += vma::dump_mm_dot(*process->mm, name,
                              fmt::format("{} (mm {}): map_count {}, total_vm {} pages", what, process->mm->id(),
                                          process->mm->map_count, process->mm->total_vm),
                              failure.subject, options_.whole_trees);
    }
    result_.trees_dot = maple::dot_failure_digraph(
        fmt::format("mmtorture: the VMA trees of the cma job's processes when the failure was recorded: {} at {}: {}",
                    failure.check, failure.site, failure.message),
        failure, dot);
  }

  void check(const char* after) {
    if (auto failure = cma_.check_consistency()) {
      failure->detail += fmt::format("{}found after {}", failure->detail.empty() ? "" : "; ", after);
      throw FailureError(std::move(*failure));
    }
  }

  // A signal counts when it found the client inside a cma_alloc call; it is honoured
  // when that call returned.
  void summarise_signals() {
    for (size_t i = 0; i < sent_ms_.size(); ++i) {
      const uint64_t sent = sent_ms_[i];
      if (sent == UINT64_MAX) continue;
      result_.signal_sent_ms = std::min(result_.signal_sent_ms, sent);
      for (const CmaCall& call : client_calls_[i]) {
        if (call.start_ms > sent || (call.end_ms != UINT64_MAX && call.end_ms < sent)) continue;
        if (call.end_ms == sent && call.error != -EINTR) continue;  // returned just before it
        ++result_.signals_sent;
        if (call.end_ms != UINT64_MAX) {
          ++result_.signals_honoured;
          result_.signal_delay_ms_max = std::max(result_.signal_delay_ms_max, call.end_ms - sent);
        }
      }
    }
  }

  // With every thread finished: nothing handed out, reserved, isolated or pinned is
  // left, and the whole world is consistent after the application exits.
  void teardown() {
    check("end of run");
    if (!area_->allocations.empty() || area_->bitmap.weight() != 0)
      raise_failure("cma.leak", "teardown",
                    fmt::format("CMA area still has {} allocation(s), {} bit(s) set", area_->allocations.size(),
                                area_->bitmap.weight()),
                    cma_.dump());
    if (!cma_.longterm_pins().empty())
      raise_failure("cma.leak", "teardown",
                    fmt::format("{} page(s) still hold FOLL_LONGTERM pins", cma_.longterm_pins().size()));
    cma_.lru_cache().lru_add_drain_all();
    vma::exit_mmap(*app_.mm);
    if (guest_.mm) vma::exit_mmap(*guest_.mm);
    check("application exit");
    if (memory_.lru_size() != 0)
      raise_failure("cma.leak", "teardown", fmt::format("{} pages still on the LRU", memory_.lru_size()));
  }

  ChoiceSource& choices_;
  CmaWorldOptions options_;
  TraceHash trace_;
  mem::FaultPlan plan_;
  mem::Memory memory_;
  vma::VmContext vm_;
  Cma cma_;
  ActorContext ctx_;
  CmaArea* area_ = nullptr;
  Process app_;
  Process guest_;
  std::vector<std::vector<CmaCall>> client_calls_;
  std::vector<sched::Thread*> targets_;
  std::vector<uint64_t> sent_ms_;
  CmaWorldResult result_;
};

CmaWorldOptions workload_options(const CmaExperimentOptions& options, const RetryPolicy& policy,
                                 CmaWorkload workload) {
  CmaWorldOptions world = options.world;
  world.cma.retry = policy;
  world.longterm_pins = 0;
  world.fatal_signal_at_ms = 0;
  world.cma.longterm_pin = LongtermPinMode::PinInPlace;
  switch (workload) {
    case CmaWorkload::Transient: break;
    case CmaWorkload::Longterm: world.longterm_pins = options.longterm_pins; break;
    case CmaWorkload::LongtermMigrateFirst:
      world.longterm_pins = options.longterm_pins;
      world.cma.longterm_pin = LongtermPinMode::MigrateFirst;
      break;
    case CmaWorkload::FatalSignal:
      world.longterm_pins = options.longterm_pins;
      world.fatal_signal_at_ms = options.fatal_signal_at_ms;
      break;
  }
  return world;
}

}  // namespace

CmaWorldResult run_cma_world(ChoiceSource& choices, const CmaWorldOptions& options) {
  // A failed world abandons its address spaces on purpose (they are not torn down
  // through kernel-model code over the corruption a check found), as run_seed and the
  // page model do: what it leaves behind is not a leak for LeakSanitizer to report.
#ifdef MMT_SANITIZED
  __lsan::ScopedDisabler abandoned_worlds_are_not_leaks;
#endif
  CmaWorld world(choices, options);
  return world.run();
}

CmaExperimentResult run_cma_policy_experiment(const CmaExperimentOptions& options) {
  CmaExperimentResult result;
  for (const RetryPolicy& policy : options.policies) {
    for (CmaWorkload workload : options.workloads) {
      CmaPolicyRow row;
      row.policy = policy.name();
      row.workload = cma_workload_name(workload);
      const CmaWorldOptions world = workload_options(options, policy, workload);
      std::vector<uint64_t> latencies;
      for (uint64_t seed = options.first_seed; seed < options.first_seed + options.seeds; ++seed) {
        std::unique_ptr<ChoiceSource> choices =
            options.make_choices ? options.make_choices(seed) : std::make_unique<SeededChoices>(seed);
        const CmaWorldResult run = run_cma_world(*choices, world);
        ++row.runs;
        for (const CmaCall& call : run.calls) {
          ++row.calls;
          if (call.end_ms == UINT64_MAX) continue;
          if (call.error == 0) ++row.successes;
          if (call.error == -EBUSY) ++row.failed_busy;
          if (call.error == -ENOMEM) ++row.failed_nomem;
          if (call.error == -EINTR) ++row.failed_intr;
          latencies.push_back(call.end_ms - call.start_ms);
        }
        row.retries += run.area_stats.retries;
        row.busy += run.area_stats.busy;
        row.signals_sent += run.signals_sent;
        row.signals_honoured += run.signals_honoured;
        row.signal_delay_ms_max = std::max(row.signal_delay_ms_max, run.signal_delay_ms_max);
        if (run.hang) {
          ++row.hangs;
          if (row.first_hang.empty())
            row.first_hang = fmt::format("seed {}: {}", seed, run.failure->headline());
        } else if (run.failure) {
          ++row.other_failures;
          if (row.first_failure.empty())
            row.first_failure = fmt::format("seed {}: {}", seed, run.failure->headline());
        }
      }
      row.success_rate = row.calls ? static_cast<double>(row.successes) / static_cast<double>(row.calls) : 0.0;
      row.latency = summarize_latency(std::move(latencies));
      result.rows.push_back(std::move(row));
    }
  }
  return result;
}

std::string CmaExperimentResult::table() const {
  std::string out = fmt::format("{:<32} {:<16} {:>4} {:>5} {:>7} {:>14} {:>6} {:>6} {:>6} {:>7} {:>5} {:>7} {:>9}\n",
                                "policy", "workload", "runs", "calls", "success", "busy/nomem/intr", "p50_ms",
                                "p99_ms", "max_ms", "retries", "hangs", "signals", "sig_delay");
  for (const CmaPolicyRow& row : rows) {
    const std::string signals =
        row.signals_sent ? fmt::format("{}/{}", row.signals_honoured, row.signals_sent) : std::string("-");
    const std::string delay = row.signals_honoured ? fmt::format("{}ms", row.signal_delay_ms_max) : std::string("-");
    const std::string failed = fmt::format("{}/{}/{}", row.failed_busy, row.failed_nomem, row.failed_intr);
    out += fmt::format("{:<32} {:<16} {:>4} {:>5} {:>6.1f}% {:>14} {:>6} {:>6} {:>6} {:>7} {:>5} {:>7} {:>9}{}\n",
                       row.policy, row.workload, row.runs, row.calls, 100.0 * row.success_rate, failed,
                       row.latency.p50_ms, row.latency.p99_ms, row.latency.max_ms, row.retries, row.hangs, signals,
                       delay, row.other_failures ? fmt::format("  FAILURES: {}", row.other_failures) : std::string());
  }
  for (const CmaPolicyRow& row : rows) {
    if (!row.first_hang.empty()) {
      out += fmt::format("\nfirst hang ({} / {}): {}\n", row.policy, row.workload, row.first_hang);
      break;
    }
  }
  for (const CmaPolicyRow& row : rows)
    if (!row.first_failure.empty())
      out += fmt::format("\nfailure ({} / {}): {}\n", row.policy, row.workload, row.first_failure);
  return out;
}

}  // namespace mmt::cma
