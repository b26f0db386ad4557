// RCU under the scheduler (see rcu.h): grace-period numbering, reader bookkeeping,
// callbacks run between switches in softirq context, and the waits.
#include "mmtorture/sched/access.h"
#include "mmtorture/sched/rcu.h"

#include <fmt/format.h>

#include "mmtorture/sched/atomic_context.h"
#include "mmtorture/sched/event_log.h"
#include "mmtorture/sched/scheduler.h"
#include "mmtorture/sched/yield_point.h"
#include "report.h"

namespace mmt::sched {

namespace {
constexpr Site kSynchronizeSite{"synchronize_rcu"};
constexpr Site kBarrierSite{"rcu_barrier"};

// Marks the scheduler's stack as softirq while a callback runs (in_atomic() is true),
// and clears it again even when the callback fails.
class SoftirqScope {
 public:
  SoftirqScope() { detail::t_softirq = true; }
  ~SoftirqScope() { detail::t_softirq = false; }
  SoftirqScope(const SoftirqScope&) = delete;
  SoftirqScope& operator=(const SoftirqScope&) = delete;
};
}  // namespace

void SchedRcu::read_lock() {
  note_access(this);
  Thread& thread = current_or_host();
  if (thread.rcu_depth_++ != 0) return;
  thread.rcu_entry_seq_ = gp_seq_;
  ++readers_by_seq_[gp_seq_];
  ++active_readers_;
}

void SchedRcu::read_unlock() {
  note_access(this);
  Thread& thread = current_or_host();
  if (thread.rcu_depth_ == 0) {
    detail::report_check("rcu.unbalanced_unlock", Site{"rcu_read_unlock"}, "rcu_read_unlock without rcu_read_lock");
    return;
  }
  if (--thread.rcu_depth_ == 0) forget_reader(thread);
}

void SchedRcu::forget_reader(Thread& thread) {
  note_access(this);
  thread.rcu_depth_ = 0;
  auto it = readers_by_seq_.find(thread.rcu_entry_seq_);
  if (it == readers_by_seq_.end()) return;
  if (--it->second == 0) readers_by_seq_.erase(it);
  --active_readers_;
}

void SchedRcu::call_rcu(RcuHead* head, void (*func)(RcuHead*)) {
  note_access(this);
  head->func = func;
  head->next = nullptr;
  callbacks_.push_back(Callback{head, ++gp_seq_});
  ++pending_;
  ++callbacks_queued_;
}

void SchedRcu::synchronize_rcu() {
  note_access(this);
  might_sleep(kSynchronizeSite);  // inside a reader this is the self-deadlock
  const uint64_t target = ++gp_seq_;
  yield_point(kSynchronizeSite);
  note_access(this);  // the step after the switch touches it too
  if (oldest_reader() >= target) return;
  Waiter waiter(&current_or_host(), target);
  gp_waiters_.push_back(&waiter);
  detail::park(&waiter, WaitInfo{"rcu grace period", "synchronize_rcu", nullptr, kSynchronizeSite}, kNoDeadline,
               false);
  note_access(this);  // the step after the switch touches it too
}

void SchedRcu::rcu_barrier() {
  note_access(this);
  might_sleep(kBarrierSite);
  const uint64_t target = callbacks_queued_;
  yield_point(kBarrierSite);
  note_access(this);  // the step after the switch touches it too
  if (callbacks_run_ >= target) return;
  Waiter waiter(&current_or_host(), target);
  barrier_waiters_.push_back(&waiter);
  detail::park(&waiter, WaitInfo{"rcu callbacks", "rcu_barrier", nullptr, kBarrierSite}, kNoDeadline, false);
  note_access(this);  // the step after the switch touches it too
}

void SchedRcu::process() {
  if (!has_work()) return;
  note_access_everything();  // callbacks run here may touch anything
  const uint64_t oldest = oldest_reader();
  const uint64_t callbacks_before = callbacks_run_;
  size_t released = 0;
  // Waiters and callbacks were numbered in call order, so both lists are sorted.
  while (Waiter* waiter = gp_waiters_.front()) {
    if (waiter->tag > oldest) break;
    gp_waiters_.pop_front();
    detail::grant(waiter);
    ++released;
  }
  while (callbacks_head_ != callbacks_.size() && callbacks_[callbacks_head_].seq <= oldest_reader())
    run_oldest_callback();
  if (released || callbacks_run_ != callbacks_before)
    if (EventLog* log = event_log())
      log->note(EventKind::Rcu, "RCU grace period ended: {} callbacks run, {} synchronize_rcu waiters released",
                callbacks_run_ - callbacks_before, released);
  while (Waiter* waiter = barrier_waiters_.front()) {
    if (waiter->tag > callbacks_run_) break;
    barrier_waiters_.pop_front();
    detail::grant(waiter);
  }
}

void SchedRcu::run_oldest_callback() {
  RcuHead* head = callbacks_[callbacks_head_++].head;
  if (callbacks_head_ == callbacks_.size()) {
    callbacks_.clear();
    callbacks_head_ = 0;
  } else if (callbacks_head_ >= 64 && callbacks_head_ * 2 >= callbacks_.size()) {
    // Mostly run: drop the run ones, so a queue that never drains stays its own size.
    callbacks_.erase(callbacks_.begin(), callbacks_.begin() + static_cast<std::ptrdiff_t>(callbacks_head_));
    callbacks_head_ = 0;
  }
  --pending_;
  ++callbacks_run_;
  SoftirqScope softirq;
  head->func(head);
}

void SchedRcu::flush() {
  while (callbacks_head_ != callbacks_.size()) run_oldest_callback();
}

}  // namespace mmt::sched
