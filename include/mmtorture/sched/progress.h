// Progress: how the hang and livelock detectors tell a slow thread from a stuck one.
// An operation (a workload op, a CMA allocation) is bracketed by op_begin/op_end; a
// thread that does not finish its operation within hang_ms of virtual time is hung
// (check "sched.hang"), and one that passes step_budget scheduling points without a progress
// event is livelocked (check "sched.livelock", the spin loop that never lets time move).
// A non-daemon thread's body counts as one operation between progress events; a
// daemon is only checked inside an explicit operation.
#pragma once

#include "mmtorture/sched/yield_point.h"

namespace mmt::sched {

// Start and end an operation (nests; the outermost name is reported). No-ops outside a
// green thread.
void op_begin(const char* name);
void op_end();
// A progress event without an operation boundary (a retry loop that did succeed).
void mark_progress();

class OpScope {
 public:
  explicit OpScope(const char* name) { op_begin(name); }
  ~OpScope() { op_end(); }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;
};

}  // namespace mmt::sched
