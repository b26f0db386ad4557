// WaitList: the intrusive FIFO of parked threads behind every blocking primitive.
// A Waiter lives on the blocked thread's own stack for the duration of one wait, so
// parking allocates nothing; the waker hands the waiter its result (`woken`) before
// making the thread runnable, which is how mutexes and rw-semaphores hand the lock
// over without a window for a third thread to steal it.
#pragma once

#include <cstdint>

namespace mmt::sched {

class Thread;

class WaitList;

struct Waiter {
  explicit Waiter(Thread* waiting, uint64_t waiter_tag = 0) : thread(waiting), tag(waiter_tag) {}
  // A waiter still queued when its wait ends early (timeout, signal, or its thread
  // being unwound at teardown) takes itself off the list, so no list ever points into
  // a dead stack frame.
  inline ~Waiter();
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  Thread* thread;
  uint64_t tag;          // primitive-specific: reader/writer, grace-period target, ...
  bool woken = false;    // set by the waker: the wait is over and its condition granted
  Waiter* prev = nullptr;
  Waiter* next = nullptr;
  WaitList* list = nullptr;
  bool queued = false;
};

class WaitList {
 public:
  bool empty() const { return head_ == nullptr; }
  Waiter* front() const { return head_; }
  uint32_t size() const { return size_; }

  void push_back(Waiter* waiter) {
    waiter->prev = tail_;
    waiter->next = nullptr;
    if (tail_) tail_->next = waiter; else head_ = waiter;
    tail_ = waiter;
    waiter->list = this;
    waiter->queued = true;
    ++size_;
  }

  // Removes a queued waiter (a timed-out or interrupted one); no-op if not queued.
  void remove(Waiter* waiter) {
    if (!waiter->queued) return;
    if (waiter->prev) waiter->prev->next = waiter->next; else head_ = waiter->next;
    if (waiter->next) waiter->next->prev = waiter->prev; else tail_ = waiter->prev;
    waiter->prev = waiter->next = nullptr;
    waiter->queued = false;
    --size_;
  }

  Waiter* pop_front() {
    Waiter* waiter = head_;
    if (waiter) remove(waiter);
    return waiter;
  }

 private:
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
  uint32_t size_ = 0;
};

Waiter::~Waiter() {
  if (queued) list->remove(this);
}

}  // namespace mmt::sched
