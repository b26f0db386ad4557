// SpinLock: the kernel's spinlock_t. Taking it disables preemption, so the holder is in
// atomic context until it unlocks (might_sleep fails in between). Green threads stand
// for CPUs, so the holder may still be interleaved with others at yield points; a
// thread that finds the lock taken spins, which here means it parks until the holder
// releases it (the lock is handed over in FIFO order). A spinner is not sleeping, so
// spinning is legal in atomic context, and an ABBA between spin locks is a deadlock.
#pragma once

#include "mmtorture/core/site.h"
#include "mmtorture/sched/lock_class.h"
#include "mmtorture/sched/thread.h"
#include "mmtorture/sched/wait_list.h"

namespace mmt::sched {

class SpinLock {
 public:
  explicit SpinLock(const char* name = "spinlock", LockFlags flags = LockFlags::None);
  ~SpinLock();
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;

  void lock(Site site = Site{"spin_lock"});
  void lock_nested(unsigned subclass, Site site = Site{"spin_lock_nested"});
  bool trylock(Site site = Site{"spin_trylock"});
  void unlock(Site site = Site{"spin_unlock"});

  bool is_locked() const { return owner_ != nullptr; }
  const Thread* owner() const { return owner_; }
  LockClass& lock_class() const { return *class_; }

 private:
  void acquire(Site site, unsigned subclass);

  LockClass* class_;
  Thread* owner_ = nullptr;
  WaitList spinners_;
};

class SpinGuard {
 public:
  explicit SpinGuard(SpinLock& lock, Site site = Site{"spin_lock"}) : lock_(lock) { lock_.lock(site); }
  ~SpinGuard() { lock_.unlock(); }
  SpinGuard(const SpinGuard&) = delete;
  SpinGuard& operator=(const SpinGuard&) = delete;

 private:
  SpinLock& lock_;
};

}  // namespace mmt::sched
