// Footprints of scheduling steps, for the partial-order reduction of bounded
// exploration (explore.h).
//
// A step is what runs between two scheduling decisions. Two steps are dependent when
// both touch one object: a lock, a wait queue, a completion, RCU, a thread (its signal
// flag, its exit), the lock-order graph, the thread table — or whatever else the
// program shares and names with note_access(). The scheduler's primitives note the
// objects they operate on; moving virtual time and running RCU callbacks on the
// scheduler's stack touch everything. Nothing is noted unless an explorer observes the
// run (one thread-local pointer test otherwise).
#pragma once

namespace mmt::sched {

// Receives the objects the running step touches.
class AccessObserver {
 public:
  virtual ~AccessObserver() = default;
  virtual void accessed(const void* object) = 0;
  // The step touched state every other step may read (time, RCU callbacks).
  virtual void accessed_everything() = 0;
};

namespace detail {
extern constinit thread_local AccessObserver* t_access_observer;
}  // namespace detail

// The running step touches `object` (read or write: both count).
inline void note_access(const void* object) {
  if (AccessObserver* observer = detail::t_access_observer) [[unlikely]]
    observer->accessed(object);
}

// The running step touches state shared with every step.
inline void note_access_everything() {
  if (AccessObserver* observer = detail::t_access_observer) [[unlikely]]
    observer->accessed_everything();
}

}  // namespace mmt::sched
