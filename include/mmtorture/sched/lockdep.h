// Lockdep: the kernel's lock validator, per run. Every lock primitive reports its
// acquisitions and releases here, which gives four checks that fire even when this
// run's interleaving did not deadlock:
//   lockdep.circular   a new "B taken while holding A" edge closes a cycle in the
//                      class-order graph ("possible circular locking dependency
//                      detected"), reported the first time both orders are seen
//                      (SchedulerOptions::lockdep_order switches this one off);
//   lockdep.recursive  a thread takes a lock it holds, or a second lock of a class
//                      (and subclass) it already holds ("possible recursive locking");
//   lockdep.bad_unlock a release of a lock the thread does not hold, or by a thread
//                      that is not the owner ("bad unlock balance detected");
//   lockdep.held_at_exit a thread returns with locks held.
// Plus the reclaim rule (lockdep.reclaim): a lock class taken by reclaim must not be
// held across an allocation that may enter direct reclaim.
//
// Held-lock lists are kept for the host pseudo-thread too, so might_sleep and the
// reclaim rule work without a scheduler; the order graph exists only while a
// scheduler runs (it is per run, so runs stay independent and deterministic).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "mmtorture/core/gfp.h"
#include "mmtorture/core/site.h"
#include "mmtorture/sched/lock_class.h"
#include "mmtorture/sched/thread.h"

namespace mmt::sched {

class Lockdep {
 public:
  Lockdep();

  // Before a thread waits for `lock`: recursion and order checks (raise on failure).
  static void check_acquire(Thread& thread, const void* lock, LockClass& lock_class,
                            unsigned subclass, LockMode mode, Site site);
  // After it got the lock.
  static void acquired(Thread& thread, const void* lock, LockClass& lock_class, unsigned subclass,
                       LockMode mode, Site site);
  // On release; raises lockdep.bad_unlock when the thread does not hold it.
  static void released(Thread& thread, const void* lock, const LockClass& lock_class, Site site);
  // Changes the mode of a held lock (downgrade_write).
  static void downgraded(Thread& thread, const void* lock);
  // True when `thread` holds `lock`.
  static bool holds(const Thread& thread, const void* lock);

  // Distinct lock classes and order edges seen in this run.
  size_t classes() const { return node_names_.size(); }
  size_t edges() const { return edge_sites_.size(); }

 private:
  uint32_t node_of(LockClass& lock_class, unsigned subclass);
  void add_edge(Thread& thread, const HeldLock& held, uint32_t to, LockClass& to_class,
                unsigned to_subclass, Site site);
  // The path from `from` to `to` in the graph (node ids), empty when none.
  std::vector<uint32_t> find_path(uint32_t from, uint32_t to) const;

  uint64_t epoch_;
  std::vector<std::string> node_names_;            // "class" or "class/subclass"
  std::vector<std::vector<uint32_t>> successors_;  // in the order edges were added
  struct EdgeOrigin {
    uint32_t thread_id;
    std::string thread_name;
    Site site;
  };
  std::unordered_map<uint64_t, EdgeOrigin> edge_sites_;  // looked up, never iterated
};

// Raises lockdep.reclaim when `flags` may enter direct reclaim and the current thread
// (or the host) holds a lock whose class is taken by reclaim. Allocators call it on
// entry (might_alloc does).
void check_reclaim_safe(gfp_t flags, Site site);

}  // namespace mmt::sched
