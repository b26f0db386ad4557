// The sched module in one include: the deterministic green-thread scheduler
// (scheduler.h, strategy.h, thread.h), scheduling points (yield_point.h, progress.h),
// virtual time (clock.h), the kernel-style primitives (mutex.h, rwsem.h, spinlock.h,
// wait_queue.h, completion.h, signal.h, rcu.h) and the checks other modules call
// (atomic_context.h: might_sleep, in_atomic, might_alloc; lockdep.h:
// check_reclaim_safe), and the per-thread flight recorder replay prints (event_log.h).
// Each header documents one concept; include the ones you use.
#pragma once

#include "mmtorture/sched/atomic_context.h"
#include "mmtorture/sched/clock.h"
#include "mmtorture/sched/completion.h"
#include "mmtorture/sched/event_log.h"
#include "mmtorture/sched/lock_class.h"
#include "mmtorture/sched/lockdep.h"
#include "mmtorture/sched/mutex.h"
#include "mmtorture/sched/progress.h"
#include "mmtorture/sched/rcu.h"
#include "mmtorture/sched/rwsem.h"
#include "mmtorture/sched/scheduler.h"
#include "mmtorture/sched/signal.h"
#include "mmtorture/sched/spinlock.h"
#include "mmtorture/sched/stack_pool.h"
#include "mmtorture/sched/strategy.h"
#include "mmtorture/sched/thread.h"
#include "mmtorture/sched/wait_queue.h"
#include "mmtorture/sched/yield_point.h"
