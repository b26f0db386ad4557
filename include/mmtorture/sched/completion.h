// Completion: the kernel's struct completion. complete() releases one waiter (or
// credits the next wait); complete_all() releases every present and future waiter
// until reinit().
#pragma once

#include <cstdint>

#include "mmtorture/core/site.h"
#include "mmtorture/sched/wait_list.h"

namespace mmt::sched {

class Completion {
 public:
  explicit Completion(const char* name = "completion") : name_(name) {}
  Completion(const Completion&) = delete;
  Completion& operator=(const Completion&) = delete;

  void complete();
  void complete_all();
  void reinit() { done_ = 0; }

  void wait_for_completion(Site site = Site{"wait_for_completion"});
  // 0 when the timeout elapsed, else the remaining ms (at least 1).
  uint64_t wait_for_completion_timeout(uint64_t timeout_ms, Site site = Site{"wait_for_completion_timeout"});
  // 0, or -EINTR on a fatal signal.
  int wait_for_completion_killable(Site site = Site{"wait_for_completion_killable"});
  // Consumes a completion if one is available; never sleeps.
  bool try_wait_for_completion();
  bool completion_done() const { return done_ != 0; }

 private:
  static constexpr uint32_t kCompleteAll = UINT32_MAX;
  // Returns true when the completion was consumed, false on timeout or signal.
  bool wait(Site site, uint64_t deadline_ms, bool killable);

  const char* name_;
  uint32_t done_ = 0;
  WaitList waiters_;
};

}  // namespace mmt::sched
