// RCU under the scheduler: the RcuBackend (core/rcu.h) that Scheduler::run installs.
//
// A grace period ends when every reader that was inside rcu_read_lock() when it began
// has left. Each call_rcu() and synchronize_rcu() starts one: the scheduler numbers
// grace periods, every outermost reader remembers the number current when it entered,
// and a callback or waiter numbered s is released once no active reader entered
// before s. Callbacks run on the scheduler's own stack between switches (softirq
// context: atomic, must not sleep), as early as the rule allows, so a reader that
// keeps using an object after rcu_read_unlock() meets a freed (poisoned) one soon.
// At the end of a run every pending callback runs.
//
// A reader is atomic context (might_sleep fails), but it may be interleaved at yield
// points: green threads stand for CPUs, and another CPU keeps running while a reader
// is inside its section.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "mmtorture/core/rcu.h"
#include "mmtorture/core/site.h"
#include "mmtorture/sched/wait_list.h"

namespace mmt::sched {

class Scheduler;
class Thread;

class SchedRcu final : public RcuBackend {
 public:
  explicit SchedRcu(Scheduler& scheduler) : scheduler_(scheduler) {}

  void read_lock() override;
  void read_unlock() override;
  void call_rcu(RcuHead* head, void (*func)(RcuHead*)) override;
  void synchronize_rcu() override;
  void rcu_barrier() override;
  uint64_t pending_callbacks() const override { return pending_; }

  // Runs the callbacks whose grace period has ended and releases waiters; called by
  // the scheduler between switches. A callback's FailureError propagates.
  void process();
  // Something for process() to look at: a switch then goes through the scheduler's
  // stack, so callbacks run as early as the grace-period rule allows.
  bool has_work() const {
    return callbacks_head_ != callbacks_.size() || !gp_waiters_.empty() || !barrier_waiters_.empty();
  }
  // Runs every pending callback regardless of readers (end of run).
  void flush();
  // Drops a finished or unwound thread's reader state, so a reader that exited inside
  // its section (itself a failure) does not also stall every later grace period.
  void forget_reader(Thread& thread);
  // Readers inside a read-side section now (green threads and the host).
  uint32_t active_readers() const { return active_readers_; }
  uint64_t grace_periods_started() const { return gp_seq_; }
  uint64_t callbacks_run() const { return callbacks_run_; }

 private:
  // The smallest grace-period number an active reader entered under (UINT64_MAX: none).
  uint64_t oldest_reader() const { return readers_by_seq_.empty() ? UINT64_MAX : readers_by_seq_.begin()->first; }
  // Pops the oldest queued callback and runs it in softirq context.
  void run_oldest_callback();

  Scheduler& scheduler_;
  uint64_t gp_seq_ = 0;                       // grace periods started
  std::map<uint64_t, uint32_t> readers_by_seq_;  // entry number → active readers
  uint32_t active_readers_ = 0;

  struct Callback {
    RcuHead* head;
    uint64_t seq;  // the grace period it waits for
  };
  // In call order, and so in grace-period order: a queue whose front is callbacks_head_
  // (a vector, so a scheduler that never queues one allocates nothing for it).
  std::vector<Callback> callbacks_;
  size_t callbacks_head_ = 0;
  uint64_t pending_ = 0;
  uint64_t callbacks_queued_ = 0;
  uint64_t callbacks_run_ = 0;
  WaitList gp_waiters_;       // synchronize_rcu: tag = grace-period number
  WaitList barrier_waiters_;  // rcu_barrier: tag = callbacks_queued_ when it was called
};

// Kernel-named wrappers over mmt::rcu_backend(), for code that runs under the
// scheduler or without one.
inline void rcu_read_lock() { rcu_backend().read_lock(); }
inline void rcu_read_unlock() { rcu_backend().read_unlock(); }
inline void call_rcu(RcuHead* head, void (*func)(RcuHead*)) { rcu_backend().call_rcu(head, func); }
inline void synchronize_rcu() { rcu_backend().synchronize_rcu(); }
inline void rcu_barrier() { rcu_backend().rcu_barrier(); }

class RcuReadGuard {
 public:
  RcuReadGuard() { rcu_read_lock(); }
  ~RcuReadGuard() { rcu_read_unlock(); }
  RcuReadGuard(const RcuReadGuard&) = delete;
  RcuReadGuard& operator=(const RcuReadGuard&) = delete;
};

}  // namespace mmt::sched
