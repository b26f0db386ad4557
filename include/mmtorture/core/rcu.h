// RCU hook: the seam between code that defers frees (the maple tree's dead nodes) and
// whatever decides when a grace period has ended. Before a scheduler exists the
// default backend queues callbacks and runs them at rcu_barrier()/synchronize_rcu()
// when no reader is inside a read-side section; the scheduler installs a backend
// whose grace periods end when every reader that started before them has left.
#pragma once

#include <cstdint>

namespace mmt {

struct RcuHead {
  RcuHead* next = nullptr;
  void (*func)(RcuHead*) = nullptr;
};

class RcuBackend {
 public:
  virtual ~RcuBackend() = default;
  virtual void read_lock() = 0;
  virtual void read_unlock() = 0;
  // Queues func(head) to run after a grace period.
  virtual void call_rcu(RcuHead* head, void (*func)(RcuHead*)) = 0;
  // Waits for a grace period (may sleep).
  virtual void synchronize_rcu() = 0;
  // Waits until every callback queued so far has run.
  virtual void rcu_barrier() = 0;
  // Callbacks queued and not yet run (feeds node accounting: slab live nodes =
  // tree nodes + preallocated + awaiting RCU).
  virtual uint64_t pending_callbacks() const = 0;
};

// The backend in force on the calling OS thread. Never null: each OS thread has a
// default one.
RcuBackend& rcu_backend();
// Installs a backend for the calling OS thread (nullptr restores the default). The caller keeps ownership; the
// previous backend's pending callbacks must have been flushed by the caller.
void set_rcu_backend(RcuBackend* backend);

}  // namespace mmt
