// Fatal signals: the only signals that matter to mm code, because every "retry until
// it works" loop (CMA allocation, page-fault retry, mmap_lock_killable) must stop on
// one. A killable wait returns -EINTR when the signal is pending or arrives.
#pragma once

#include "mmtorture/sched/thread.h"

namespace mmt::sched {

// Marks `thread` as killed and interrupts a killable wait it is parked in.
void send_fatal_signal(Thread& thread);
// True when the current green thread has a fatal signal pending (false on the host).
bool fatal_signal_pending();

}  // namespace mmt::sched
