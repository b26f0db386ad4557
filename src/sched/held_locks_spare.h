// The held-lock lists' storage, kept per OS thread between the Threads of successive
// schedulers (thread_local_spare.h): a thread's first lock used to allocate its list
// and its second to grow it, two allocations per locking thread per schedule.
// ~Scheduler gives each thread's list back; a thread's first acquisition takes one.
#pragma once

#include <vector>

#include "mmtorture/core/thread_local_spare.h"
#include "mmtorture/sched/thread.h"

namespace mmt::sched::detail {

struct HeldLocksSpareTag;
// As many lists as a schedule has threads, up to 64; a list longer than 16 locks is
// not kept.
inline constexpr size_t kSpareHeldLocksMax = 64;
inline constexpr size_t kSpareHeldLockCapacityMax = 16;
inline constexpr size_t kHeldLocksReserved = 4;
using HeldLocksSpare = ThreadLocalSpare<std::vector<HeldLock>, kSpareHeldLocksMax, HeldLocksSpareTag>;

// Gives `held` (empty) a kept list's storage, or room for kHeldLocksReserved locks.
inline void take_held_locks_storage(std::vector<HeldLock>& held) {
  if (!HeldLocksSpare::take(held)) held.reserve(kHeldLocksReserved);
}

// Keeps `held`'s storage for the next take (emptied first); frees it when the pool is
// full or the list grew long.
inline void keep_held_locks_storage(std::vector<HeldLock>& held) {
  if (held.capacity() == 0 || held.capacity() > kSpareHeldLockCapacityMax) return;
  held.clear();
  HeldLocksSpare::keep(held);
}

}  // namespace mmt::sched::detail
