// Ctrl-C and `kill` of a campaign: SIGINT and SIGTERM set a flag instead of killing
// the process, so the campaign stops its workers, keeps every journaled seed and says
// how to resume. Worker processes reset the handlers to the default at fork: a worker
// is stopped by its parent, never left running on its own.
#pragma once

namespace mmt::campaign {

// Installs the handlers for the life of the returned guard (restores the previous
// ones when it goes out of scope).
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
};

// The signal that asked the campaign to stop (SIGINT or SIGTERM), or 0.
int interrupt_signal();
// In a freshly forked worker: the default action for SIGINT and SIGTERM again.
void reset_interrupt_handlers_in_child();

}  // namespace mmt::campaign
