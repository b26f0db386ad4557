// The deterministic scheduler of green threads (design.md §3).
//
// One OS thread runs every green thread, one at a time, on Boost.Context's raw fcontext
// (make_fcontext/jump_fcontext) with pooled stacks. Control passes only at scheduling
// points — yield points, blocking primitives, thread exit — and every decision there is
// a draw on the run's ChoiceSource (see strategy.h), so a run is a function of its
// options and its choice sequence, and every switch is folded into the trace hash.
//
// Time is virtual: it advances only when no thread is runnable, straight to the next
// deadline. When nothing is runnable and no deadline is pending, the run is deadlocked.
//
// Failures never cross a fiber boundary: an exception leaving a thread body (a
// FailureError from a check, or anything else) is caught at the thread's entry and
// ends the run; the detectors that run on the scheduler's own stack (deadlock, hang,
// RCU callbacks) record theirs the same way. run() returns the first failure in its
// RunResult and never throws it.
//
// Schedulers on different OS threads are independent: each OS thread has its own stack
// pool, lock-order graph caches, RCU backend and spare storage, so two campaigns can run
// side by side in one process. A scheduler itself belongs to the OS thread that built
// it: build, run and destroy it there (run() checks).
//
// Usage:
//   mmt::SeededChoices choices(seed);
//   mmt::sched::Scheduler sched(choices, {.strategy = StrategyConfig::preempt(0.1)});
//   sched.spawn("writer", [&] { ... });
//   mmt::sched::RunResult result = sched.run();
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mmtorture/core/choice.h"
#include "mmtorture/core/failure.h"
#include "mmtorture/core/site.h"
#include "mmtorture/core/trace_hash.h"
#include "mmtorture/sched/lockdep.h"
#include "mmtorture/sched/rcu.h"
#include "mmtorture/sched/strategy.h"
#include "mmtorture/sched/thread.h"
#include "mmtorture/sched/wait_list.h"

namespace mmt::sched {

class EventLog;
class StackPool;

inline constexpr uint64_t kNoDeadline = UINT64_MAX;

struct SchedulerOptions {
  StrategyConfig strategy;
  // A thread that made no progress (see progress.h) for this much virtual time is
  // hung. 0 turns the check off.
  uint64_t hang_ms = 60'000;
  // A thread that passed this many scheduling points without progress is livelocked
  // (a spin loop never lets virtual time advance). 0 turns the check off.
  uint64_t step_budget = 1'000'000;
  // Usable bytes per green-thread stack; 0 picks the default (64 KiB, 256 KiB in
  // sanitizer builds, whose frames are larger).
  size_t stack_size = 0;
  // Records each thread's last events (event_log.h) when set; must outlive the
  // scheduler. Null (the default, every campaign run) costs one pointer check at each
  // recording site and nothing on a yield point that does not switch.
  EventLog* event_log = nullptr;
  // Lockdep's lock-order check (lockdep.circular). Off, an ABBA world is not reported
  // when both orders have been seen, so a schedule that interleaves them runs into the
  // deadlock detector instead. The other lockdep checks stay on.
  bool lockdep_order = true;
  // Continue past failures to count the distinct problems a schedule shows: lockdep
  // reports and carries on (as the kernel's lockdep prints a splat and continues), a
  // thread whose check fails ends while the others run on, and every distinct failure
  // signature is kept in RunResult::problems. The first failure is still the run's
  // failure. A deadlock or hang still ends the run; a deadlock on locks a failed
  // thread left held is a consequence of that failure, not a new problem.
  bool keep_going = false;
  // Called once, with the run's first failure, where it is recorded: before any thread
  // is unwound and before the caller tears its world down (replay --dump-tree takes
  // its snapshot here). Runs on the failing thread's stack, or on the scheduler's for
  // the detectors; it must not block or yield.
  std::function<void(const Failure&)> on_failure;
};

struct RunResult {
  // Provided, not defaulted: the implicit constructor zeroes all 384 bytes with a string
  // store (GCC), the optionals' storage included, which cost a small world's schedule a
  // few percent; this one stores only what the initialisers below set.
  RunResult() noexcept {}

  std::optional<Failure> failure;  // the first failure, if any
  uint64_t trace_hash = 0;
  uint64_t switches = 0;      // resumptions of a thread other than the last one run
  uint64_t steps = 0;         // scheduling points, with one runnable thread or more (PCT's k)
  uint64_t yield_points = 0;  // yield points passed, switching or not
  uint64_t virtual_ms = 0;    // the virtual clock at the end
  uint32_t threads = 0;       // threads spawned
  double pct_guarantee = 0;   // PCT only: 1/(n·k^(d-1)) for this run's n and the configured k, d
  std::optional<Divergence> replay_divergence;  // a ReplayChoices that stopped matching
  // keep_going: each distinct failure signature the run showed, first seen first (the
  // first is `failure`). Empty without keep_going.
  std::vector<Failure> problems;

  bool ok() const { return !failure.has_value(); }
};

class Scheduler : private mmt::detail::FailureSink {
 public:
  // Throws std::invalid_argument when the strategy parameters are invalid. `choices`
  // and `trace` must outlive the scheduler; without a trace the scheduler keeps its own.
  explicit Scheduler(ChoiceSource& choices, SchedulerOptions options = {}, TraceHash* trace = nullptr);
  // Unwinds every thread that has not finished (destructors run on its stack).
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Creates a runnable thread. Allowed before run() and from inside a green thread.
  // Under PCT its priority is drawn here. The reference stays valid until ~Scheduler.
  Thread& spawn(std::string name, ThreadBody body, SpawnOptions options = {});

  // Runs until every non-daemon thread has finished or a failure ends the run, then
  // unwinds the rest and runs every pending RCU callback. Once per scheduler, on the OS
  // thread that built it (std::logic_error otherwise: its stacks are that thread's).
  // Throws std::invalid_argument when no thread was spawned.
  RunResult run();

  // The scheduler whose run() is active on this OS thread, or null.
  static Scheduler* running();

  uint64_t now_ms() const { return now_ms_; }
  const SchedulerOptions& options() const { return options_; }
  ChoiceSource& choices() { return choices_; }
  TraceHash& trace() { return *trace_; }
  // The green thread running now; null on the scheduler's own stack.
  Thread* current() const { return current_; }
  // Every thread spawned, in id order.
  const std::vector<std::unique_ptr<Thread>>& threads() const { return threads_; }
  // The runnable threads (the running one included), in the order they became
  // runnable: the order the uniform strategy's picks index (strategy.h).
  const std::vector<Thread*>& runnable() const { return runnable_; }
  // One line per thread (Thread::describe), for failure dumps.
  std::string describe_threads() const;
  // The same, appended to `text`.
  void append_thread_descriptions(std::string& text) const;

  // ---- For blocking primitives (mutex.h, wait_queue.h, ...; usable by any module) ----

  // A scheduling point: may switch to another thread (see strategy.h). Cheap when it
  // does not: a few loads and stores, plus one draw when the strategy asks.
  void yield_point(Site site);
  // The yield point after a lock release. Like yield_point, but never starts unwinding
  // a thread that teardown is killing (releases run in lock-guard destructors); the
  // thread unwinds at its next ordinary scheduling point instead.
  void release_point(Site site);

  // Parks the current green thread until `waiter` is granted (wake()), the absolute
  // virtual `deadline_ms` passes (kNoDeadline: never), or — if `killable` — a fatal
  // signal arrives. A null waiter parks until the deadline or wake_up_process(). The
  // caller removes an ungranted waiter from its list. Raises a Failure when called
  // outside a green thread (the host cannot sleep). Returns Abandoned at once during
  // teardown and while the thread unwinds from an exception.
  WakeReason block(Waiter* waiter, const WaitInfo& info, uint64_t deadline_ms, bool killable);
  // Grants `waiter` (sets waiter->woken) and makes its thread runnable.
  void wake(Waiter* waiter);
  // Wakes a thread parked without a waiter (schedule_timeout); false if it was not.
  bool wake_up_process(Thread& thread);
  // Sets the thread's fatal-signal flag and interrupts a killable wait.
  void send_fatal_signal(Thread& thread);
  // Waits for `thread` to finish (from a green thread).
  void join(Thread& thread, Site site = Site{"kthread_stop"});

  // Progress events reset the hang clock and the livelock step count (progress.h).
  void mark_progress();
  void op_begin(const char* name);
  void op_end();

  // True while the run is being torn down, once it failed (unless keep_going), or
  // while the current thread unwinds from an exception: primitives give up instead of
  // waiting, and checks stay quiet.
  bool doomed() const { return tearing_down_ || (failure_.has_value() && !options_.keep_going) || unwinding(); }
  // True once the run has recorded its first failure.
  bool failed() const { return failure_.has_value(); }
  // keep_going: records a failure the current thread carries on past (lockdep's
  // reports). Without keep_going the caller raises instead (report.h).
  void continue_past(Failure failure);

  Lockdep& lockdep() { return lockdep_; }
  SchedRcu& rcu() { return rcu_; }
  // The attached event log (SchedulerOptions::event_log), or null.
  EventLog* event_log() const { return options_.event_log; }

 private:
  friend class SchedRcu;

  // Fiber plumbing (scheduler.cpp).
  void create_context(Thread& thread);
  // Jumps from `from` (null: the scheduler's stack) to `to` (null: the scheduler) and
  // returns when something jumps back; the landing side files away the continuation of
  // whoever jumped to it.
  void jump(Thread* from, Thread* to);
  // The landing half of a jump: finishes ASan's fiber switch and files the context of
  // whoever jumped here.
  void land(void* fake_stack, boost::context::detail::fcontext_t back);
  // A new thread's first instructions (make_fcontext's entry): runs thread_main, then
  // leaves its stack for good.
  [[noreturn]] static void thread_entry(boost::context::detail::transfer_t from);
  // The last jump off a thread's stack, to the scheduler: the stack goes back to the pool
  // (nothing reuses it before the jump, which is the next thing that runs).
  [[noreturn]] void exit_thread(Thread& thread);
  void resume_thread(Thread& thread) { jump(nullptr, &thread); }
  // From the running thread: to `next` directly, or to the scheduler when null; unwinds
  // with ThreadKill when teardown resumed it.
  void switch_away(Thread* next);
  void thread_main(Thread& thread);
  // A thread's last steps on its stack, after its body returned, threw or was left:
  // destroys the body, records `failure` when not null (or lockdep's held-at-exit
  // problems), finishes.
  void end_thread(Thread& thread, Failure* failure);
  // thread_main's end of a body that threw a failure (kept in exit_failure_).
  [[gnu::cold, gnu::noinline]] void end_failed_thread(Thread& thread);
  // Lockdep's "lock held when returning to user space" and its RCU/preempt cousins.
  void check_held_at_exit(Thread& thread);
  // std::uncaught_exceptions() > 0, read from the C++ runtime's exception globals of the
  // OS thread running the scheduler (eh_globals_; the same counter, without the two
  // calls through the PLT and the TLS lookup it costs on every switch).
  bool unwinding() const { return eh_globals_->uncaught_exceptions != 0; }
  // Teardown reached a parked thread: unwinds it with ThreadKill, or drops its stack
  // (SpawnOptions::discard_stack; never returns).
  void kill_parked(Thread& thread);
  // The frames of a discard_stack thread may be left without running anything: not in a
  // catch handler, no exception in flight.
  bool can_discard(const Thread& thread) const;
  // FailureSink: a failure raised on a discard_stack thread ends it where it is raised.
  bool wants_failure() const override;
  [[noreturn]] void take_failure(Failure&& failure) override;
  void record_thread_failure(Thread& thread, Failure&& failure);
  void finish_thread(Thread& thread);
  void teardown();

  // Runnable set and decisions (strategy.cpp).
  void make_runnable(Thread& thread, WakeReason reason);
  void remove_runnable(Thread& thread);
  Thread* choose_at_yield(Site site);
  Thread* choose_next(Site site);
  void pct_setup();
  void pct_change_point();
  void pct_place(Thread& thread);

  // Time and detectors (detectors.cpp).
  bool advance_clock();
  void check_progress_budget(Thread& thread) {
    if (options_.step_budget && ++thread.steps_since_progress_ > options_.step_budget) report_livelock(thread);
  }
  void report_livelock(Thread& thread);
  void report_deadlock();
  // Keeps the run's first failure; `subject` is the thread it is about (null: the
  // scheduler), whose event log ring it ends.
  void record_failure(Failure&& failure, const Thread* subject = nullptr);
  // Event-log records of scheduling (event_log.h); called only with a log attached,
  // kept out of line and cold so the hot paths carry one predictable branch.
  // (At the yield point's own site, the current thread's last one: passing the site
  // would cost the non-switching path a saved register.)
  [[gnu::cold, gnu::noinline]] void note_preempted(const Thread& next);
  [[gnu::cold, gnu::noinline]] void note_block(const WaitInfo& info, uint64_t deadline_ms, bool killable);
  [[gnu::cold, gnu::noinline]] void note_woken(const Thread& thread);
  [[gnu::cold, gnu::noinline]] void note_wakes(const Thread& thread);
  [[gnu::cold, gnu::noinline]] void note_op(const char* what, const char* name);

  ChoiceSource& choices_;
  SchedulerOptions options_;
  TraceHash own_trace_;
  TraceHash* trace_;
  StackPool* stacks_;
  // Held in place, not on the heap: a small world's schedule costs no allocation for
  // them (neither allocates until a lock order or an RCU callback is recorded).
  Lockdep lockdep_;
  SchedRcu rcu_{*this};

  std::vector<std::unique_ptr<Thread>> threads_;  // id order; ids start at 1
  std::vector<Thread*> runnable_;                 // in the order they became runnable
  Thread* current_ = nullptr;
  Thread* next_ = nullptr;       // chosen by the thread that switched to the scheduler
  Thread* last_run_ = nullptr;
  Thread* switch_from_ = nullptr;            // who jumped last (null: the scheduler)
  boost::context::detail::fcontext_t scheduler_context_ = nullptr;  // the scheduler's, while a thread runs
  const void* scheduler_stack_bottom_ = nullptr;   // for sanitizer switch annotations
  size_t scheduler_stack_size_ = 0;

  uint64_t now_ms_ = 0;
  uint32_t live_non_daemon_ = 0;
  uint64_t switches_ = 0;
  uint64_t steps_ = 0;
  uint64_t yield_points_ = 0;
  bool ran_ = false;
  bool running_ = false;
  bool tearing_down_ = false;
  bool stopped_ = false;  // keep_going: a detector ended the run (hang)
  std::optional<Failure> failure_;
  // The failure a body threw, from thread_main's handler to its end_thread: a member,
  // so that a clean thread's frame builds no optional<Failure>.
  std::optional<Failure> exit_failure_;
  // The Itanium C++ ABI's per-OS-thread exception globals (__cxa_get_globals): the
  // count std::uncaught_exceptions() returns. Read at every switch (doomed()).
  struct EhGlobals {
    void* caught_exceptions;
    unsigned int uncaught_exceptions;
  };
  const EhGlobals* eh_globals_ = nullptr;
  std::vector<Failure> problems_;  // keep_going: distinct signatures, first seen first
  std::vector<std::string> problem_signatures_;

  // PCT state: threads that still hold an initial priority, highest first; the change
  // points sorted by step, how many have fired, and the step of the next one
  // (UINT64_MAX: none, so every other strategy pays one compare per step).
  struct PctChangePoint {
    uint64_t step;
    int64_t priority;
  };
  std::vector<Thread*> pct_order_;
  std::vector<PctChangePoint> pct_change_points_;
  size_t pct_next_change_ = 0;
  uint64_t pct_next_step_ = UINT64_MAX;
};

// True once the run in progress has failed: a FailureError is on its way up (core's
// failure_in_flight()) or the active scheduler has recorded a failure. From then on no
// kernel-model code may run over the world's half-done state: destructors that would
// tear an address space down abandon it instead. A clean run's teardown
// (threads unwound by the scheduler's kill after the last worker finished) is not a
// failure and still tears down through the model.
bool run_failed();

namespace detail {
// The scheduler of the green thread running now (null on the scheduler's stack and
// outside run()); read on every yield point, so it is a plain TLS pointer.
extern constinit thread_local Scheduler* t_running;
// The scheduler whose run() is active (set on the scheduler's stack too).
extern constinit thread_local Scheduler* t_active;
}  // namespace detail

}  // namespace mmt::sched
