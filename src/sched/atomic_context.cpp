// Atomic-context tracking, might_sleep, and the shared failure/parking helpers.
#include "mmtorture/sched/atomic_context.h"

#include <fmt/format.h>

#include <string_view>

#include "mmtorture/core/failure.h"
#include "mmtorture/sched/lockdep.h"
#include "mmtorture/sched/yield_point.h"
#include "report.h"

namespace mmt::sched {

namespace detail {

constinit thread_local bool t_softirq = false;

void report_check(const char* check, Site site, const std::string& message, const std::string& detail) {
  Scheduler* scheduler = t_active;
  if (scheduler && scheduler->doomed()) return;
  const Thread& thread = current_or_host();
  std::string who = fmt::format("{}{}{}, holding {}", detail, detail.empty() ? "" : "; ",
                                (t_softirq ? "RCU callback on " : "") + thread.label(), thread.held_locks_text());
  // Lockdep reports and carries on when the run keeps going past failures.
  if (scheduler && scheduler->options().keep_going && scheduler->current() && std::string_view(check).starts_with("lockdep.")) {
    Failure failure{check, site.name, message, "", 0, 0, std::move(who)};
    scheduler->continue_past(std::move(failure));
    return;
  }
  // A green thread's failure gets every thread's state where the scheduler records it
  // (record_thread_failure); elsewhere (the scheduler's stack) it is attached here.
  raise_failure(check, site.name, message,
                scheduler && !scheduler->current() ? scheduler->describe_threads() : std::string(), std::move(who));
}

WakeReason park(Waiter* waiter, const WaitInfo& info, uint64_t deadline_ms, bool killable) {
  Scheduler* scheduler = t_running;
  if (!scheduler) {
    report_check("sched.block_outside_thread", info.site,
                 fmt::format("would block on {} '{}' outside a green thread (the host cannot sleep)", info.what,
                             info.object));
    return WakeReason::Abandoned;
  }
  return scheduler->block(waiter, info, deadline_ms, killable);
}

}  // namespace detail

void preempt_disable() { ++current_or_host().preempt_count_; }

void preempt_enable() {
  Thread& thread = current_or_host();
  if (thread.preempt_count_ == 0) {
    detail::report_check("sched.preempt_count", Site{"preempt_enable"}, "preempt_enable without preempt_disable");
    return;
  }
  --thread.preempt_count_;
}

bool in_atomic() {
  if (detail::t_softirq) return true;
  const Thread& thread = current_or_host();
  return thread.preempt_count() != 0 || thread.rcu_read_depth() != 0;
}

void might_sleep(Site site) {
  if (!in_atomic()) return;
  const Thread& thread = current_or_host();
  detail::report_check("sched.might_sleep", site,
                       fmt::format("sleeping function called from invalid context: in_atomic(): 1, "
                                   "preempt_count: {}, rcu_read_lock depth: {}{}",
                                   thread.preempt_count(), thread.rcu_read_depth(),
                                   detail::t_softirq ? ", in RCU callback (softirq)" : ""));
}

void might_alloc(gfp_t flags, Site site) {
  if (gfp::allows_blocking(flags)) might_sleep(site);
  check_reclaim_safe(flags, site);
}

void cond_resched(Site site) {
  might_sleep(site);
  yield_point(site);
}

}  // namespace mmt::sched
