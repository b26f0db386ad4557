// Mutex (see mutex.h).
#include "mmtorture/sched/access.h"
#include "mmtorture/sched/mutex.h"

#include <fmt/format.h>

#include <cerrno>

#include "mmtorture/sched/atomic_context.h"
#include "mmtorture/sched/event_log.h"
#include "mmtorture/sched/lockdep.h"
#include "mmtorture/sched/scheduler.h"
#include "mmtorture/sched/yield_point.h"
#include "report.h"

namespace mmt::sched {

Mutex::Mutex(const char* name, LockFlags flags) : class_(&sched::lock_class(name)) {
  if (flags == LockFlags::TakenByReclaim) class_->set_taken_by_reclaim(true);
}

// A lock built later at this address is another lock to the event log.
Mutex::~Mutex() {
  if (EventLog* log = event_log()) log->forget_lock(this);
}

int Mutex::acquire(Site site, unsigned subclass, bool killable) {
  note_access(this);
  Thread& thread = current_or_host();
  might_sleep(site);
  yield_point(site);  // another CPU may take it first
  note_access(this);  // the step after the switch touches it too
  Lockdep::check_acquire(thread, this, *class_, subclass, LockMode::Exclusive, site);
  if (owner_ == &thread) return -EDEADLK;  // recursion, reported above unless the run is doomed
  if (owner_) {
    // Contended: queue, and as in the kernel check for a fatal signal only here.
    Waiter waiter(&thread);
    waiters_.push_back(&waiter);
    detail::park(&waiter, WaitInfo{"mutex", class_->name().c_str(), owner_, site, this}, kNoDeadline, killable);
    note_access(this);  // the step after the switch touches it too
    if (!waiter.woken) return -EINTR;  // interrupted (or abandoned); ~Waiter dequeues
    // Granted: unlock handed ownership to us.
  } else {
    owner_ = &thread;
  }
  Lockdep::acquired(thread, this, *class_, subclass, LockMode::Exclusive, site);
  return 0;
}

void Mutex::lock(Site site) { acquire(site, 0, false); }

void Mutex::lock_nested(unsigned subclass, Site site) { acquire(site, subclass, false); }

int Mutex::lock_killable(Site site) { return acquire(site, 0, true); }

bool Mutex::trylock(Site site) {
  note_access(this);
  yield_point(site);
  note_access(this);  // the step after the switch touches it too
  Thread& thread = current_or_host();
  if (owner_) return false;
  owner_ = &thread;
  Lockdep::acquired(thread, this, *class_, 0, LockMode::Exclusive, site);
  return true;
}

void Mutex::unlock(Site site) {
  note_access(this);
  Thread& thread = current_or_host();
  if (owner_ != &thread) {
    detail::report_check("lockdep.bad_unlock", site,
                         fmt::format("mutex '{}' unlocked by a thread that does not own it", class_->name()),
                         fmt::format("owner: {}", owner_ ? owner_->label() : "none"));
    return;
  }
  Lockdep::released(thread, this, *class_, site);
  if (Waiter* next = waiters_.pop_front()) {
    owner_ = next->thread;  // hand-off: no window for a third thread to steal it
    detail::grant(next);
  } else {
    owner_ = nullptr;
  }
  release_point(site);
}

}  // namespace mmt::sched
