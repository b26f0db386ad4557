// Virtual-time sleeps (see clock.h). All of them park the thread with a deadline; the
// scheduler moves the clock to the earliest deadline when nothing else can run.
#include "mmtorture/sched/clock.h"

#include "mmtorture/sched/atomic_context.h"
#include "mmtorture/sched/scheduler.h"
#include "report.h"

namespace mmt::sched {

namespace {

uint64_t deadline_after(uint64_t now, uint64_t ms) { return ms >= kNoDeadline - now ? kNoDeadline : now + ms; }

// Sleeps until the deadline; with `woken_ends_it`, also until wake_up_process().
// Returns the ms left when it stopped early.
uint64_t sleep_until(uint64_t ms, Site site, const char* what, bool killable, bool woken_ends_it) {
  might_sleep(site);
  Scheduler* scheduler = detail::t_running;
  const uint64_t deadline = deadline_after(scheduler ? scheduler->now_ms() : 0, ms);
  for (;;) {
    const WakeReason reason = detail::park(nullptr, WaitInfo{what, "", nullptr, site}, deadline, killable);
    if (reason == WakeReason::Abandoned || !scheduler) return 0;
    const uint64_t now = scheduler->now_ms();
    if (now >= deadline) return 0;
    if (reason == WakeReason::Interrupted || (reason == WakeReason::Woken && woken_ends_it)) return deadline - now;
  }
}

}  // namespace

uint64_t now_ms() {
  Scheduler* scheduler = detail::t_active;
  return scheduler ? scheduler->now_ms() : 0;
}

void msleep(uint64_t ms, Site site) { sleep_until(ms, site, "msleep", false, false); }

uint64_t msleep_killable(uint64_t ms, Site site) { return sleep_until(ms, site, "msleep_killable", true, false); }

uint64_t schedule_timeout(uint64_t timeout_ms, Site site) {
  return sleep_until(timeout_ms, site, "schedule_timeout", false, true);
}

uint64_t schedule_timeout_killable(uint64_t timeout_ms, Site site) {
  return sleep_until(timeout_ms, site, "schedule_timeout_killable", true, true);
}

bool wake_up_process(Thread& thread) {
  Scheduler* scheduler = thread.scheduler();
  return scheduler && scheduler->wake_up_process(thread);
}

}  // namespace mmt::sched
