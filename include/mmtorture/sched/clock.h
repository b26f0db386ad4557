// The virtual clock. Time is milliseconds since the start of the run and moves only
// when every thread is blocked or sleeping, jumping to the earliest deadline (as Go's
// synctest does); no host clock is read anywhere. So a 10-second msleep costs nothing,
// and a timeout fires exactly when the rest of the world has gone quiet.
#pragma once

#include <cstdint>

#include "mmtorture/core/site.h"
#include "mmtorture/sched/thread.h"

namespace mmt::sched {

// Virtual ms since the run started (0 outside a run).
uint64_t now_ms();

// Sleeps ms of virtual time (may sleep: might_sleep-checked). msleep(0) is a
// scheduling point.
void msleep(uint64_t ms, Site site = Site{"msleep"});
// Like msleep but stops early on a fatal signal; returns the ms left (0 when it slept
// the whole time), as msleep_interruptible does for signals.
uint64_t msleep_killable(uint64_t ms, Site site = Site{"msleep_killable"});
// Sleeps until timeout_ms passed or wake_up_process() wakes the thread; returns the ms
// left (0 on timeout), as schedule_timeout().
uint64_t schedule_timeout(uint64_t timeout_ms, Site site = Site{"schedule_timeout"});
// Also stops on a fatal signal.
uint64_t schedule_timeout_killable(uint64_t timeout_ms, Site site = Site{"schedule_timeout_killable"});
// Wakes a thread parked in schedule_timeout(); false if it was not parked there.
bool wake_up_process(Thread& thread);

}  // namespace mmt::sched
