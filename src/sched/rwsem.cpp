// RwSem (see rwsem.h).
#include "mmtorture/sched/access.h"
#include "mmtorture/sched/rwsem.h"

#include <fmt/format.h>

#include <cerrno>

#include "mmtorture/sched/atomic_context.h"
#include "mmtorture/sched/event_log.h"
#include "mmtorture/sched/lockdep.h"
#include "mmtorture/sched/scheduler.h"
#include "mmtorture/sched/yield_point.h"
#include "report.h"

namespace mmt::sched {

RwSem::RwSem(const char* name, LockFlags flags) : class_(&sched::lock_class(name)) {
  if (flags == LockFlags::TakenByReclaim) class_->set_taken_by_reclaim(true);
}

// A lock built later at this address is another lock to the event log.
RwSem::~RwSem() {
  if (EventLog* log = event_log()) log->forget_lock(this);
}

int RwSem::acquire(Site site, uint64_t kind, unsigned subclass, bool killable) {
  note_access(this);
  Thread& thread = current_or_host();
  const LockMode mode = kind == kReader ? LockMode::Shared : LockMode::Exclusive;
  might_sleep(site);
  yield_point(site);
  note_access(this);  // the step after the switch touches it too
  Lockdep::check_acquire(thread, this, *class_, subclass, mode, site);
  if (Lockdep::holds(thread, this)) return -EDEADLK;  // recursion, reported unless doomed
  // The writer-waiting rule: anyone queued (there is a writer among them) makes a new
  // reader queue too.
  const bool available =
      kind == kReader ? (!writer_ && waiters_.empty()) : (!writer_ && readers_ == 0 && waiters_.empty());
  if (available) {
    if (kind == kReader) ++readers_;
    else writer_ = &thread;
  } else {
    Waiter waiter(&thread, kind);
    waiters_.push_back(&waiter);
    detail::park(&waiter,
                 WaitInfo{kind == kReader ? "rwsem read" : "rwsem write", class_->name().c_str(), writer_, site, this},
                 kNoDeadline, killable);
    note_access(this);  // the step after the switch touches it too
    if (!waiter.woken) return -EINTR;
  }
  Lockdep::acquired(thread, this, *class_, subclass, mode, site);
  return 0;
}

void RwSem::grant_waiters() {
  if (writer_) return;
  Waiter* head = waiters_.front();
  if (!head) return;
  if (head->tag == kWriter) {
    if (readers_ != 0) return;
    waiters_.pop_front();
    writer_ = head->thread;
    detail::grant(head);
    return;
  }
  // A reader at the head: grant every queued reader, skipping the writers between
  // them (rwsem_mark_wake); the writers keep their places.
  for (Waiter* waiter = waiters_.front(); waiter;) {
    Waiter* next = waiter->next;
    if (waiter->tag == kReader) {
      waiters_.remove(waiter);
      ++readers_;
      detail::grant(waiter);
    }
    waiter = next;
  }
}

void RwSem::down_read(Site site) { acquire(site, kReader, 0, false); }
int RwSem::down_read_killable(Site site) { return acquire(site, kReader, 0, true); }
void RwSem::down_write(Site site) { acquire(site, kWriter, 0, false); }
void RwSem::down_write_nested(unsigned subclass, Site site) { acquire(site, kWriter, subclass, false); }
int RwSem::down_write_killable(Site site) { return acquire(site, kWriter, 0, true); }

bool RwSem::down_read_trylock(Site site) {
  note_access(this);
  yield_point(site);
  note_access(this);  // the step after the switch touches it too
  Thread& thread = current_or_host();
  if (writer_ || !waiters_.empty()) return false;
  ++readers_;
  Lockdep::acquired(thread, this, *class_, 0, LockMode::Shared, site);
  return true;
}

bool RwSem::down_write_trylock(Site site) {
  note_access(this);
  yield_point(site);
  note_access(this);  // the step after the switch touches it too
  Thread& thread = current_or_host();
  if (writer_ || readers_ != 0) return false;
  writer_ = &thread;
  Lockdep::acquired(thread, this, *class_, 0, LockMode::Exclusive, site);
  return true;
}

void RwSem::up_read(Site site) {
  note_access(this);
  Thread& thread = current_or_host();
  if (readers_ == 0 || !Lockdep::holds(thread, this) || writer_ == &thread) {
    detail::report_check("lockdep.bad_unlock", site,
                         fmt::format("up_read of rwsem '{}' by a thread that does not hold it for read",
                                     class_->name()));
    return;
  }
  Lockdep::released(thread, this, *class_, site);
  if (--readers_ == 0) grant_waiters();
  release_point(site);
}

void RwSem::up_write(Site site) {
  note_access(this);
  Thread& thread = current_or_host();
  if (writer_ != &thread) {
    detail::report_check("lockdep.bad_unlock", site,
                         fmt::format("up_write of rwsem '{}' by a thread that is not the writer", class_->name()),
                         fmt::format("writer: {}", writer_ ? writer_->label() : "none"));
    return;
  }
  Lockdep::released(thread, this, *class_, site);
  writer_ = nullptr;
  grant_waiters();
  release_point(site);
}

void RwSem::downgrade_write(Site site) {
  note_access(this);
  Thread& thread = current_or_host();
  if (writer_ != &thread) {
    detail::report_check("lockdep.bad_unlock", site,
                         fmt::format("downgrade_write of rwsem '{}' by a thread that is not the writer",
                                     class_->name()));
    return;
  }
  writer_ = nullptr;
  readers_ = 1;
  Lockdep::downgraded(thread, this);
  grant_waiters();
  release_point(site);
}

}  // namespace mmt::sched
