// Yield points: the places where the kernel could be preempted or another CPU could
// interleave — lock acquire and release, allocation entry and exit, cond_resched(),
// and named windows such as "between get_page and page_dup_rmap in fork". Each may
// switch to another green thread, as the strategy decides. Outside a green thread
// they do nothing, so code under test runs unchanged without a scheduler.
#pragma once

#include "mmtorture/core/site.h"
#include "mmtorture/sched/scheduler.h"

namespace mmt::sched {

// May switch threads. The non-switching path is an inline null check, an out-of-line
// call and a handful of loads and stores (bench/sched: ≤ 10 ns target).
inline void yield_point(Site site) {
  if (Scheduler* scheduler = detail::t_running) scheduler->yield_point(site);
}

// The yield point of a lock release (see Scheduler::release_point): safe in destructors.
inline void release_point(Site site) {
  if (Scheduler* scheduler = detail::t_running) scheduler->release_point(site);
}

// The kernel's cond_resched(): a voluntary scheduling point that is only legal where
// sleeping is (it checks might_sleep first).
void cond_resched(Site site = Site{"cond_resched"});

// The green thread running now, or null outside one.
inline Thread* current_thread() {
  Scheduler* scheduler = detail::t_running;
  return scheduler ? scheduler->current() : nullptr;
}

// The running green thread, or host_thread() outside one.
inline Thread& current_or_host() {
  Thread* thread = current_thread();
  return thread ? *thread : host_thread();
}

}  // namespace mmt::sched
