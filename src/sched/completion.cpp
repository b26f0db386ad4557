// Completion (see completion.h). A woken waiter re-checks `done`, as the kernel's
// swait loop does: a try_wait_for_completion() in between may have taken it.
#include "mmtorture/sched/access.h"
#include "mmtorture/sched/completion.h"

#include "mmtorture/sched/atomic_context.h"
#include "mmtorture/sched/clock.h"
#include "mmtorture/sched/scheduler.h"
#include "mmtorture/sched/yield_point.h"
#include "report.h"

#include <cerrno>

namespace mmt::sched {

void Completion::complete() {
  note_access(this);
  if (done_ != kCompleteAll) ++done_;
  if (Waiter* waiter = waiters_.pop_front()) detail::grant(waiter);
}

void Completion::complete_all() {
  note_access(this);
  done_ = kCompleteAll;
  while (Waiter* waiter = waiters_.pop_front()) detail::grant(waiter);
}

bool Completion::wait(Site site, uint64_t deadline_ms, bool killable) {
  note_access(this);
  might_sleep(site);
  yield_point(site);
  note_access(this);  // the step after the switch touches it too
  while (done_ == 0) {
    Waiter waiter(&current_or_host());
    waiters_.push_back(&waiter);
    const WakeReason reason =
        detail::park(&waiter, WaitInfo{"completion", name_, nullptr, site}, deadline_ms, killable);
    note_access(this);  // the step after the switch touches it too
    if (!waiter.woken && reason != WakeReason::Woken) return false;
  }
  if (done_ != kCompleteAll) --done_;
  return true;
}

void Completion::wait_for_completion(Site site) { wait(site, kNoDeadline, false); }

uint64_t Completion::wait_for_completion_timeout(uint64_t timeout_ms, Site site) {
  const uint64_t now = now_ms();
  const uint64_t deadline = timeout_ms >= kNoDeadline - now ? kNoDeadline : now + timeout_ms;
  if (!wait(site, deadline, false)) return 0;
  const uint64_t after = now_ms();
  return deadline > after ? deadline - after : 1;
}

int Completion::wait_for_completion_killable(Site site) { return wait(site, kNoDeadline, true) ? 0 : -EINTR; }

bool Completion::try_wait_for_completion() {
  note_access(this);
  if (done_ == 0) return false;
  if (done_ != kCompleteAll) --done_;
  return true;
}

}  // namespace mmt::sched
