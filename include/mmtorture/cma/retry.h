// Retry policies for cma_alloc: what to do after a full sweep of the bitmap ended in
// -EBUSY (some candidate range held a page that could not be migrated). The policies
// are the positions of the 2020 "retry in cma_alloc" thread (seed 004,
// notes/cma-and-pins.md §4):
//   none               mainline: one sweep, then fail.
//   bounded(n, ms)     v1 / Android: up to n more sweeps, sleeping ms before each.
//   forever(ms)        v2: sweep again after every sleep until it works.
//   nofail_only(ms)    v3: forever, but only for __GFP_NOFAIL callers; others as none.
// Each sleeps either killably (v4/v5: schedule_timeout_killable, a fatal signal ends
// the allocation with -EINTR) or uninterruptibly (v1/v2: msleep). Sleeps are virtual.
#pragma once

#include <cstdint>
#include <string>

#include "mmtorture/core/gfp.h"

namespace mmt::cma {

enum class RetryKind : uint8_t { None, Bounded, Forever, NofailOnly };

// The thread's numbers, declared once: v1's (Android's) bounded policy sweeps up to 5
// more times, and every retrying policy sleeps 100 ms before a sweep. The cma job's
// defaults ([cma] retries, sleep_ms, killable) and the experiment's policy list read them.
inline constexpr uint64_t kDefaultBoundedRetries = 5;
inline constexpr uint64_t kDefaultSleepMs = 100;

struct RetryPolicy {
  RetryKind kind = RetryKind::None;
  uint64_t max_retries = 0;  // Bounded: extra sweeps after the first
  uint64_t sleep_ms = kDefaultSleepMs;  // virtual ms slept before each extra sweep
  bool killable = true;      // schedule_timeout_killable (true) or msleep (false)

  static RetryPolicy none() { return RetryPolicy{}; }
  static RetryPolicy bounded(uint64_t retries, uint64_t sleep_ms, bool killable = true) {
    return RetryPolicy{RetryKind::Bounded, retries, sleep_ms, killable};
  }
  static RetryPolicy forever(uint64_t sleep_ms, bool killable = true) {
    return RetryPolicy{RetryKind::Forever, 0, sleep_ms, killable};
  }
  static RetryPolicy nofail_only(uint64_t sleep_ms, bool killable = true) {
    return RetryPolicy{RetryKind::NofailOnly, 0, sleep_ms, killable};
  }

  // Whether a caller with `gfp` that has already retried `retries` times may sweep again.
  bool may_retry(gfp_t gfp, uint64_t retries) const;
  // "none", "bounded(5,100ms)", "forever(100ms,uninterruptible)", ...
  std::string name() const;
};

}  // namespace mmt::cma
