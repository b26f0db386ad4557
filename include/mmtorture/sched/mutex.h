// Mutex: the kernel's struct mutex. Sleeping lock with a single owner and a FIFO of
// waiters; unlock hands the lock straight to the first waiter, so a woken waiter owns
// it without racing. Every acquire is might_sleep-checked, a yield point (another CPU
// may get there first) and reported to lockdep; unlock checks the owner.
#pragma once

#include "mmtorture/core/site.h"
#include "mmtorture/sched/lock_class.h"
#include "mmtorture/sched/thread.h"
#include "mmtorture/sched/wait_list.h"

namespace mmt::sched {

class Mutex {
 public:
  // `name` names the lock class (all mutexes of one name share a class).
  explicit Mutex(const char* name = "mutex", LockFlags flags = LockFlags::None);
  ~Mutex();
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock(Site site = Site{"mutex_lock"});
  // mutex_lock_nested: a second lock of the same class, distinguished by subclass.
  void lock_nested(unsigned subclass, Site site = Site{"mutex_lock_nested"});
  // 0, or -EINTR when a fatal signal is pending or arrives while waiting.
  int lock_killable(Site site = Site{"mutex_lock_killable"});
  // Takes the lock if it is free; never sleeps (legal in atomic context).
  bool trylock(Site site = Site{"mutex_trylock"});
  void unlock(Site site = Site{"mutex_unlock"});

  bool is_locked() const { return owner_ != nullptr; }
  const Thread* owner() const { return owner_; }
  LockClass& lock_class() const { return *class_; }
  uint32_t waiters() const { return waiters_.size(); }

 private:
  int acquire(Site site, unsigned subclass, bool killable);

  LockClass* class_;
  Thread* owner_ = nullptr;
  WaitList waiters_;
};

// RAII mutex_lock()/mutex_unlock() (guard(mutex) in the kernel).
class MutexGuard {
 public:
  explicit MutexGuard(Mutex& mutex, Site site = Site{"mutex_lock"}) : mutex_(mutex) { mutex_.lock(site); }
  ~MutexGuard() { mutex_.unlock(); }
  MutexGuard(const MutexGuard&) = delete;
  MutexGuard& operator=(const MutexGuard&) = delete;

 private:
  Mutex& mutex_;
};

}  // namespace mmt::sched
