// SpinLock (see spinlock.h).
#include "mmtorture/sched/access.h"
#include "mmtorture/sched/spinlock.h"

#include <fmt/format.h>

#include "mmtorture/sched/atomic_context.h"
#include "mmtorture/sched/event_log.h"
#include "mmtorture/sched/lockdep.h"
#include "mmtorture/sched/scheduler.h"
#include "mmtorture/sched/yield_point.h"
#include "report.h"

namespace mmt::sched {

SpinLock::SpinLock(const char* name, LockFlags flags) : class_(&sched::lock_class(name)) {
  if (flags == LockFlags::TakenByReclaim) class_->set_taken_by_reclaim(true);
}

// A lock built later at this address is another lock to the event log.
SpinLock::~SpinLock() {
  if (EventLog* log = event_log()) log->forget_lock(this);
}

void SpinLock::acquire(Site site, unsigned subclass) {
  note_access(this);
  Thread& thread = current_or_host();
  preempt_disable();  // atomic from here on, as spin_lock() is
  yield_point(site);
  note_access(this);  // the step after the switch touches it too
  Lockdep::check_acquire(thread, this, *class_, subclass, LockMode::Spin, site);
  if (owner_ == &thread) return;  // recursion, reported above unless doomed
  if (owner_) {
    Waiter waiter(&thread);
    spinners_.push_back(&waiter);
    detail::park(&waiter, WaitInfo{"spin", class_->name().c_str(), owner_, site, this}, kNoDeadline, false);
    note_access(this);  // the step after the switch touches it too
    if (!waiter.woken) return;
  } else {
    owner_ = &thread;
  }
  Lockdep::acquired(thread, this, *class_, subclass, LockMode::Spin, site);
}

void SpinLock::lock(Site site) { acquire(site, 0); }

void SpinLock::lock_nested(unsigned subclass, Site site) { acquire(site, subclass); }

bool SpinLock::trylock(Site site) {
  note_access(this);
  yield_point(site);
  note_access(this);  // the step after the switch touches it too
  Thread& thread = current_or_host();
  if (owner_) return false;
  preempt_disable();
  owner_ = &thread;
  Lockdep::acquired(thread, this, *class_, 0, LockMode::Spin, site);
  return true;
}

void SpinLock::unlock(Site site) {
  note_access(this);
  Thread& thread = current_or_host();
  if (owner_ != &thread) {
    detail::report_check("lockdep.bad_unlock", site,
                         fmt::format("spin lock '{}' unlocked by a thread that does not own it", class_->name()),
                         fmt::format("owner: {}", owner_ ? owner_->label() : "none"));
    return;
  }
  Lockdep::released(thread, this, *class_, site);
  if (Waiter* next = spinners_.pop_front()) {
    owner_ = next->thread;
    detail::grant(next);
  } else {
    owner_ = nullptr;
  }
  preempt_enable();
  release_point(site);
}

}  // namespace mmt::sched
