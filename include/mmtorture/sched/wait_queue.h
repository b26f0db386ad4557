// WaitQueue: the kernel's wait_queue_head_t with the wait_event family. A waiter
// re-checks its condition after every wake-up, exactly as the kernel macros do, so a
// wake_up() that races with the condition changing back is handled by the caller's
// loop, not hidden. Timed variants count virtual milliseconds.
#pragma once

#include <cerrno>
#include <cstdint>

#include "mmtorture/core/site.h"
#include "mmtorture/sched/thread.h"
#include "mmtorture/sched/wait_list.h"

namespace mmt::sched {

class WaitQueue {
 public:
  explicit WaitQueue(const char* name = "wait_queue") : name_(name) {}
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;

  // Sleeps until cond() is true.
  template <class Condition>
  void wait_event(Condition cond, Site site = Site{"wait_event"}) {
    prepare(site);
    while (!cond()) {
      if (wait_once(site, kForever, false) == WakeReason::Abandoned) return;
    }
  }

  // Sleeps until cond() is true or timeout_ms of virtual time passed. Returns 0 if the
  // timeout elapsed with cond() false, otherwise the remaining ms (at least 1), as the
  // kernel's wait_event_timeout().
  template <class Condition>
  uint64_t wait_event_timeout(Condition cond, uint64_t timeout_ms, Site site = Site{"wait_event_timeout"}) {
    prepare(site);
    const uint64_t deadline = deadline_after(timeout_ms);
    while (!cond()) {
      const WakeReason reason = wait_once(site, deadline, false);
      if (reason == WakeReason::TimedOut || reason == WakeReason::Abandoned) return cond() ? 1 : 0;
    }
    return remaining_until(deadline);
  }

  // Sleeps until cond() is true; returns 0, or -EINTR on a fatal signal.
  template <class Condition>
  int wait_event_killable(Condition cond, Site site = Site{"wait_event_killable"}) {
    prepare(site);
    while (!cond()) {
      const WakeReason reason = wait_once(site, kForever, true);
      if (reason == WakeReason::Interrupted || reason == WakeReason::Abandoned) return cond() ? 0 : -EINTR;
    }
    return 0;
  }

  // Wakes every waiter (they re-check their conditions).
  void wake_up();
  // Wakes the first waiter only.
  void wake_up_one();
  // waitqueue_active(): someone is waiting.
  bool active() const { return !waiters_.empty(); }
  const char* name() const { return name_; }

 private:
  static constexpr uint64_t kForever = UINT64_MAX;
  void prepare(Site site);
  WakeReason wait_once(Site site, uint64_t deadline_ms, bool killable);
  static uint64_t deadline_after(uint64_t timeout_ms);
  static uint64_t remaining_until(uint64_t deadline_ms);

  const char* name_;
  WaitList waiters_;
};

}  // namespace mmt::sched
