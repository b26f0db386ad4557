// The default RCU backend: a single-threaded queue. With no concurrent readers a grace
// period is simply "no read-side section open now", so synchronize_rcu/rcu_barrier run
// every queued callback unless called from inside a reader (where a real kernel would
// deadlock; here it is reported).
#include "mmtorture/core/rcu.h"

#include "mmtorture/core/failure.h"

namespace mmt {
namespace {

class QueueRcuBackend final : public RcuBackend {
 public:
  void read_lock() override { ++readers_; }
  void read_unlock() override {
    if (readers_ == 0)
      raise_failure("rcu.unbalanced_unlock", "rcu_read_unlock", "rcu_read_unlock without rcu_read_lock");
    --readers_;
  }
  void call_rcu(RcuHead* head, void (*func)(RcuHead*)) override {
    head->func = func;
    head->next = nullptr;
    if (tail_) tail_->next = head; else head_ = head;
    tail_ = head;
    ++pending_;
  }
  void synchronize_rcu() override { run_callbacks("synchronize_rcu"); }
  void rcu_barrier() override { run_callbacks("rcu_barrier"); }
  uint64_t pending_callbacks() const override { return pending_; }

 private:
  void run_callbacks(const char* site) {
    if (readers_ != 0)
      raise_failure("rcu.sync_in_reader", site, "grace period waited for inside rcu_read_lock (self-deadlock)");
    // Callbacks may queue more callbacks; run until the queue is empty, in order.
    while (head_) {
      RcuHead* head = head_;
      head_ = head->next;
      if (!head_) tail_ = nullptr;
      --pending_;
      head->func(head);
    }
  }

  RcuHead* head_ = nullptr;
  RcuHead* tail_ = nullptr;
  uint64_t pending_ = 0;
  uint64_t readers_ = 0;
};

// Per OS thread: a scheduler installs its RCU for the length of its run, and schedulers
// on two OS threads must not see each other's.
thread_local QueueRcuBackend default_backend;
constinit thread_local RcuBackend* current_backend = nullptr;  // null: default_backend

}  // namespace

RcuBackend& rcu_backend() { return current_backend ? *current_backend : default_backend; }

void set_rcu_backend(RcuBackend* backend) { current_backend = backend; }

}  // namespace mmt
