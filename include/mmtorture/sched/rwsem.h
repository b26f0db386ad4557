// RwSem: the kernel's rw_semaphore (mmap_lock, anon_vma->rwsem, i_mmap_rwsem).
// Many readers or one writer, with the kernel's writer-waiting rule: a new reader
// queues behind a waiting writer instead of joining the readers inside, so a stream
// of readers cannot starve a writer. Release grants in queue order: a writer at the
// head gets the lock alone; otherwise every queued reader is granted (skipping the
// writers behind, as rwsem_mark_wake does). Grants are hand-offs: a woken waiter
// already holds the lock.
#pragma once

#include <cstdint>

#include "mmtorture/core/site.h"
#include "mmtorture/sched/lock_class.h"
#include "mmtorture/sched/thread.h"
#include "mmtorture/sched/wait_list.h"

namespace mmt::sched {

class RwSem {
 public:
  explicit RwSem(const char* name = "rwsem", LockFlags flags = LockFlags::None);
  ~RwSem();
  RwSem(const RwSem&) = delete;
  RwSem& operator=(const RwSem&) = delete;

  void down_read(Site site = Site{"down_read"});
  int down_read_killable(Site site = Site{"down_read_killable"});  // 0 or -EINTR
  bool down_read_trylock(Site site = Site{"down_read_trylock"});
  void up_read(Site site = Site{"up_read"});

  void down_write(Site site = Site{"down_write"});
  void down_write_nested(unsigned subclass, Site site = Site{"down_write_nested"});
  int down_write_killable(Site site = Site{"down_write_killable"});  // 0 or -EINTR
  bool down_write_trylock(Site site = Site{"down_write_trylock"});
  void up_write(Site site = Site{"up_write"});
  // Turns the held write lock into a read lock and admits the queued readers.
  void downgrade_write(Site site = Site{"downgrade_write"});

  uint32_t readers() const { return readers_; }
  const Thread* writer() const { return writer_; }
  bool is_locked() const { return readers_ != 0 || writer_ != nullptr; }
  uint32_t waiters() const { return waiters_.size(); }
  LockClass& lock_class() const { return *class_; }

 private:
  static constexpr uint64_t kReader = 0;
  static constexpr uint64_t kWriter = 1;
  int acquire(Site site, uint64_t kind, unsigned subclass, bool killable);
  void grant_waiters();

  LockClass* class_;
  uint32_t readers_ = 0;
  Thread* writer_ = nullptr;
  WaitList waiters_;
};

// down_read / up_read and down_write / up_write for one scope, as SpinGuard and
// MutexGuard are for theirs: a thread unwound at the end of a run (a daemon killed
// while it walks an rmap) must not leave the lock held. A null lock is no lock (an
// anonymous VMA has no i_mmap_rwsem, a VMA without anon_vma no anon_vma lock). Each
// side's site is what lockdep and the event log name.
template <void (RwSem::*kLock)(Site), void (RwSem::*kUnlock)(Site)>
class RwSemGuard {
 public:
  RwSemGuard(RwSem* sem, Site site, Site unlock_site) : sem_(sem), unlock_site_(unlock_site) {
    if (sem_) (sem_->*kLock)(site);
  }
  ~RwSemGuard() {
    if (sem_) (sem_->*kUnlock)(unlock_site_);
  }
  RwSemGuard(const RwSemGuard&) = delete;
  RwSemGuard& operator=(const RwSemGuard&) = delete;

 private:
  RwSem* sem_;
  Site unlock_site_;
};
using RwSemReadGuard = RwSemGuard<&RwSem::down_read, &RwSem::up_read>;
using RwSemWriteGuard = RwSemGuard<&RwSem::down_write, &RwSem::up_write>;

}  // namespace mmt::sched
