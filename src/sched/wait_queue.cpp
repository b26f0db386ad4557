// WaitQueue (see wait_queue.h): the non-template half of the wait_event family.
#include "mmtorture/sched/access.h"
#include "mmtorture/sched/wait_queue.h"

#include "mmtorture/sched/atomic_context.h"
#include "mmtorture/sched/clock.h"
#include "mmtorture/sched/scheduler.h"
#include "mmtorture/sched/yield_point.h"
#include "report.h"

namespace mmt::sched {

void WaitQueue::prepare(Site site) {
  note_access(this);
  might_sleep(site);
  yield_point(site);
  note_access(this);  // the step after the switch touches it too
}

WakeReason WaitQueue::wait_once(Site site, uint64_t deadline_ms, bool killable) {
  note_access(this);
  Waiter waiter(&current_or_host());
  waiters_.push_back(&waiter);
  const WakeReason reason = detail::park(&waiter, WaitInfo{"wait_event", name_, nullptr, site}, deadline_ms, killable);
  note_access(this);  // the step after the switch touches it too
  return waiter.woken ? WakeReason::Woken : reason;
}

void WaitQueue::wake_up() {
  note_access(this);
  // Waiters re-queue themselves only when they run again, so this terminates.
  while (Waiter* waiter = waiters_.pop_front()) detail::grant(waiter);
}

void WaitQueue::wake_up_one() {
  note_access(this);
  if (Waiter* waiter = waiters_.pop_front()) detail::grant(waiter);
}

uint64_t WaitQueue::deadline_after(uint64_t timeout_ms) {
  const uint64_t now = now_ms();
  return timeout_ms >= kForever - now ? kForever : now + timeout_ms;
}

uint64_t WaitQueue::remaining_until(uint64_t deadline_ms) {
  const uint64_t now = now_ms();
  return deadline_ms > now ? deadline_ms - now : 1;
}

}  // namespace mmt::sched
