// Atomic context and the kernel's might_sleep() rule. A thread is in atomic context
// while it holds a SpinLock, inside preempt_disable()/preempt_enable(), inside an RCU
// read-side section, and while the scheduler runs RCU callbacks (softirq). Calling
// anything that may sleep there — a blocking allocation, msleep, taking a Mutex or
// RwSem — is the Failure "sleeping function called from invalid context".
#pragma once

#include "mmtorture/core/gfp.h"
#include "mmtorture/core/site.h"

namespace mmt::sched {

// Marks a section atomic (nests). Legal outside a green thread too.
void preempt_disable();
void preempt_enable();

// True in atomic context (see above) on the current green thread or the host.
bool in_atomic();

// Raises Failure check "sched.might_sleep" ("sleeping function called from invalid
// context", naming the thread, the atomic reason and the held locks) when in_atomic().
// Only a check: it does not yield.
void might_sleep(Site site);

// What an allocator calls on entry, like the kernel's might_alloc(): might_sleep() if
// the flags allow blocking, and check_reclaim_safe() (lockdep.h).
void might_alloc(gfp_t flags, Site site);

// RAII preempt_disable()/preempt_enable().
class AtomicSection {
 public:
  AtomicSection() { preempt_disable(); }
  ~AtomicSection() { preempt_enable(); }
  AtomicSection(const AtomicSection&) = delete;
  AtomicSection& operator=(const AtomicSection&) = delete;
};

}  // namespace mmt::sched
