// Green threads: what the scheduler knows about each one. A Thread is created by
// Scheduler::spawn, has a stable id (1, 2, ... in spawn order, identical in every run
// of the same config and choices) and a name, and stays inspectable until its
// Scheduler is destroyed. Everything failure reports print about a thread — state,
// what it waits for, the locks it holds, its last sites — lives here.
#pragma once

#include <boost/context/detail/fcontext.hpp>
#include <boost/context/stack_context.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "mmtorture/core/site.h"
#include "mmtorture/sched/lock_class.h"
#include "mmtorture/sched/wait_list.h"

namespace mmt::sched {

class EventLog;
class Scheduler;

enum class ThreadState : uint8_t {
  Runnable,  // ready to run (or running: the scheduler's current thread)
  Blocked,   // parked on a primitive, a sleep or a spin; see Thread::wait()
  Finished,
};
const char* thread_state_name(ThreadState state);

// Why a parked thread stopped waiting.
enum class WakeReason : uint8_t {
  Woken,        // the waker granted the condition (waiter->woken)
  TimedOut,     // its virtual deadline passed
  Interrupted,  // a fatal signal arrived during a killable wait
  Abandoned,    // the run is being torn down (or the thread is unwinding): give up
};

// What a blocked thread waits for, for deadlock and hang reports.
struct WaitInfo {
  const char* what = "";          // "mutex", "rwsem read", "spin", "msleep", ...
  const char* object = "";        // the lock class or object name
  const Thread* owner = nullptr;  // current holder, when there is exactly one
  Site site;
  const void* lock = nullptr;     // the lock waited for (replay --last numbers it), if a lock
};

enum class LockMode : uint8_t { Exclusive, Shared, Spin };
const char* lock_mode_name(LockMode mode);

// One lock a thread holds (lockdep's held_lock).
struct HeldLock {
  const void* lock;
  LockClass* lock_class;
  uint8_t subclass;
  LockMode mode;
  Site site;  // where it was taken
};

struct SpawnOptions {
  // A daemon (kswapd-like) may wait forever: the run ends when every non-daemon thread
  // has finished, and a daemon is only hang-checked inside an explicit operation.
  bool daemon = false;
  // The thread's frames own nothing that needs destroying, at every scheduling point and
  // wherever it raises a failure: its state lives outside its stack (in the world, in
  // its body's captures, which the scheduler destroys), and it raises failures through
  // raise_failure. Its stack is then never unwound: a failure it raises ends it where it
  // is raised, and the end of the run drops it where it is parked (the waiter it parked
  // with is dequeued first, as ~Waiter would). Unwinding such a stack would run no
  // destructor, so nothing observable changes, only the cost: a throw and the walk of
  // each stack it passes cost several times a whole small schedule. A frame that does
  // own something (a std::string or vector local, a guard) is leaked or left undone:
  // for small programs written against the scheduler (benchmarks, exact-probability
  // tests), not for the kernel model's threads.
  bool discard_stack = false;
};

// A thread's body: a move-only callable, held in place when it is small (a body that
// captures a few references or values, as most do) and on the heap otherwise, so that
// a spawn costs no allocation for it (std::function holds 16 bytes in place). Built
// implicitly from a lambda, a function pointer or a std::function; an empty
// std::function or null pointer gives an empty body.
class ThreadBody {
 public:
  static constexpr size_t kInPlace = 48;

  ThreadBody() = default;
  template <class F>
  requires(!std::is_same_v<std::decay_t<F>, ThreadBody> && std::is_invocable_r_v<void, std::decay_t<F>&>)
      ThreadBody(F&& f) {  // NOLINT(google-explicit-constructor): spawn takes lambdas as they are
    using D = std::decay_t<F>;
    if constexpr (std::is_constructible_v<bool, const D&>)
      if (!static_cast<bool>(f)) return;
    if constexpr (sizeof(D) <= kInPlace && alignof(D) <= alignof(std::max_align_t) &&
                  std::is_nothrow_move_constructible_v<D>) {
      ::new (static_cast<void*>(buffer_)) D(std::forward<F>(f));
      ops_ = &kInPlaceOps<D>;
    } else {
      *reinterpret_cast<D**>(buffer_) = new D(std::forward<F>(f));
      ops_ = &kHeapOps<D>;
    }
  }
  ThreadBody(ThreadBody&& other) noexcept { take(other); }
  ThreadBody& operator=(ThreadBody&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  ThreadBody(const ThreadBody&) = delete;
  ThreadBody& operator=(const ThreadBody&) = delete;
  ~ThreadBody() { reset(); }

  explicit operator bool() const { return ops_ != nullptr; }
  void operator()() { ops_->invoke(buffer_); }
  // Destroys the callable (and what it captured); the body is empty after.
  void reset() noexcept {
    if (const Ops* ops = std::exchange(ops_, nullptr)) ops->destroy(buffer_);
  }

 private:
  struct Ops {
    void (*invoke)(void* storage);
    void (*destroy)(void* storage) noexcept;
    void (*move)(void* from, void* to) noexcept;  // leaves `from` destroyed
  };
  template <class D>
  static constexpr Ops kInPlaceOps{
      [](void* storage) { (*static_cast<D*>(storage))(); },
      [](void* storage) noexcept { static_cast<D*>(storage)->~D(); },
      [](void* from, void* to) noexcept {
        ::new (to) D(std::move(*static_cast<D*>(from)));
        static_cast<D*>(from)->~D();
      },
  };
  template <class D>
  static constexpr Ops kHeapOps{
      [](void* storage) { (**static_cast<D**>(storage))(); },
      [](void* storage) noexcept { delete *static_cast<D**>(storage); },
      [](void* from, void* to) noexcept { *static_cast<D**>(to) = *static_cast<D**>(from); },
  };

  void take(ThreadBody& other) noexcept {
    if (!other.ops_) return;
    other.ops_->move(other.buffer_, buffer_);
    ops_ = std::exchange(other.ops_, nullptr);
  }

  alignas(std::max_align_t) unsigned char buffer_[kInPlace];
  const Ops* ops_ = nullptr;
};

class Thread {
 public:
  Thread(const Thread&) = delete;
  Thread& operator=(const Thread&) = delete;

  // Threads come from a small per-OS-thread cache of freed ones' memory, so a campaign or
  // an exploration that builds a scheduler per schedule does not go to malloc per thread.
  static void* operator new(size_t size);
  static void operator delete(void* memory) noexcept;

  uint32_t id() const { return id_; }
  // The scheduler that owns it (null for host_thread()).
  Scheduler* scheduler() const { return scheduler_; }
  const std::string& name() const { return name_; }
  ThreadState state() const { return state_; }
  bool daemon() const { return daemon_; }
  bool fatal_signal_pending() const { return fatal_signal_; }
  // Allocations (page or slab requests, any reason) that failed on this thread so far:
  // a model of an operation asks whether any failed inside it (mem counts them).
  uint64_t alloc_failures() const { return alloc_failures_; }
  void count_alloc_failure() { ++alloc_failures_; }
  const std::vector<HeldLock>& held_locks() const { return held_; }
  const WaitInfo& wait() const { return wait_; }
  // Nesting depth of spin locks and preempt_disable() sections.
  uint32_t preempt_count() const { return preempt_count_; }
  uint32_t rcu_read_depth() const { return rcu_depth_; }
  // PCT priority (higher runs first); 0 under other strategies.
  int64_t priority() const { return priority_; }
  // The most recent yield-point and primitive sites, oldest first.
  std::vector<Site> last_sites() const;
  // The most recent one ("unknown" before the first).
  Site last_site() const { return sites_[(site_next_ + sites_.size() - 1) % sites_.size()]; }

  // "T2 'writer'".
  std::string label() const;
  // "'a' (mutex), 'b' (rwsem read)", or "none".
  std::string held_locks_text() const;
  // One line for failure reports: label, state, what it waits for, held locks.
  std::string describe() const;
  // The same without the label: "blocked: waits for ... at SITE; in op ...; holds ...".
  std::string describe_state() const;
  // The same two, appended to `text` (a failure's dump gathers every thread's line).
  void append_description(std::string& text) const;
  void append_state(std::string& text) const;

 private:
  friend class Scheduler;
  friend class Lockdep;
  friend class SchedRcu;
  friend Thread& host_thread();
  friend void preempt_disable();
  friend class HostPreemptScope;
  friend void preempt_enable();

  Thread(Scheduler* scheduler, uint32_t id, std::string&& name, bool daemon)
      : scheduler_(scheduler), id_(id), name_(std::move(name)), daemon_(daemon) {}

  void note_site(Site site) {
    sites_[site_next_ % sites_.size()] = site;
    ++site_next_;
  }

  Scheduler* scheduler_;
  EventLog* event_log_ = nullptr;  // its scheduler's log (set at spawn): one load for lockdep's records
  uint32_t id_;
  std::string name_;
  bool daemon_;
  ThreadState state_ = ThreadState::Runnable;
  ThreadBody body_;
  // Where this thread resumes while it is suspended (a raw fcontext on its pooled stack:
  // no fiber record, so a spawn costs no extra switches); null once it finished.
  boost::context::detail::fcontext_t context_ = nullptr;
  boost::context::stack_context stack_{};
  bool started_ = false;
  bool discard_stack_ = false;  // SpawnOptions::discard_stack
  bool kill_ = false;  // teardown: unwind at the next switch
  // Inside a release (unlock) yield point: the unwind waits for the next switch, since
  // releases run in destructors (lock guards), where throwing would terminate.
  uint32_t no_kill_ = 0;

  // Blocking.
  WaitInfo wait_;
  Waiter* waiter_ = nullptr;  // the waiter it parked with, if any
  uint64_t deadline_ms_ = 0;  // kNoDeadline when untimed
  bool killable_ = false;
  WakeReason wake_reason_ = WakeReason::Woken;
  bool fatal_signal_ = false;
  uint64_t alloc_failures_ = 0;
  WaitList joiners_;

  // Atomic context and locks.
  uint32_t preempt_count_ = 0;
  uint32_t rcu_depth_ = 0;
  uint64_t rcu_entry_seq_ = 0;  // grace-period sequence when its outermost reader began
  std::vector<HeldLock> held_;

  // Progress, for hang and livelock detection.
  uint64_t progress_ms_ = 0;  // virtual time of the last progress event
  uint64_t steps_since_progress_ = 0;
  const char* op_name_ = nullptr;  // open operation, if any
  uint32_t op_depth_ = 0;
  std::array<Site, 8> sites_{};
  uint64_t site_next_ = 0;

  // PCT.
  int64_t priority_ = 0;
};

// The pseudo-thread standing for code that runs outside any green thread on the calling
// OS thread (test bodies, set-up before Scheduler::run, single-threaded use of the
// primitives); one per OS thread. It may take and release locks; it may never block.
Thread& host_thread();

// A run on the host (a job without green threads) that fails inside a critical section
// (a BUG under mtree_lock) unwinds past its preempt_enable, and the host stays in atomic
// context for the next run in the process. This scope gives the host back the preempt
// count it had when the scope began, whatever ended the run.
class HostPreemptScope {
 public:
  HostPreemptScope() : count_(host_thread().preempt_count_) {}
  ~HostPreemptScope() { host_thread().preempt_count_ = count_; }
  HostPreemptScope(const HostPreemptScope&) = delete;
  HostPreemptScope& operator=(const HostPreemptScope&) = delete;

 private:
  uint32_t count_;
};

}  // namespace mmt::sched
