// Fatal signals (see signal.h).
#include "mmtorture/sched/signal.h"

#include "mmtorture/sched/scheduler.h"
#include "mmtorture/sched/yield_point.h"

namespace mmt::sched {

void send_fatal_signal(Thread& thread) {
  if (Scheduler* scheduler = thread.scheduler()) scheduler->send_fatal_signal(thread);
}

bool fatal_signal_pending() {
  const Thread* thread = current_thread();
  return thread && thread->fatal_signal_pending();
}

}  // namespace mmt::sched
