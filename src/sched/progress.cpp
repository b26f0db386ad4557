// Operation brackets for the hang and livelock detectors (see progress.h).
#include "mmtorture/sched/progress.h"

namespace mmt::sched {

void op_begin(const char* name) {
  if (Scheduler* scheduler = detail::t_running) scheduler->op_begin(name);
}

void op_end() {
  if (Scheduler* scheduler = detail::t_running) scheduler->op_end();
}

void mark_progress() {
  if (Scheduler* scheduler = detail::t_running) scheduler->mark_progress();
}

}  // namespace mmt::sched
