// Private helpers shared by the scheduler's sources: the one way a sched check fails,
// and parking from a primitive.
#pragma once

#include <string>

#include "mmtorture/core/site.h"
#include "mmtorture/sched/scheduler.h"
#include "mmtorture/sched/thread.h"

namespace mmt::sched::detail {

// True while the scheduler runs RCU callbacks (softirq context: atomic).
extern constinit thread_local bool t_softirq;

// Raises a FailureError for `check` at `site` with `message` (what broke: the rule and
// the lock class or operation, never the thread), and as its detail `detail` followed
// by the current thread and its held locks; every thread's state goes to the dump.
// Returns without raising while the run is doomed (teardown, unwinding), so the caller
// then carries on as best it can.
void report_check(const char* check, Site site, const std::string& message, const std::string& detail = {});

// Parks the current green thread (Scheduler::block). On the host, where nothing can
// park, reports "sched.block_outside_thread" and returns Abandoned.
WakeReason park(Waiter* waiter, const WaitInfo& info, uint64_t deadline_ms, bool killable);

// Grants a waiter through its thread's scheduler.
inline void grant(Waiter* waiter) { waiter->thread->scheduler()->wake(waiter); }

}  // namespace mmt::sched::detail
