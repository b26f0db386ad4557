// The scheduler's engine: thread creation, the run loop, the fiber switches (with
// their sanitizer annotations) and teardown. Decisions live in strategy.cpp, time and
// the detectors in detectors.cpp.
//
// A switch is one fcontext jump straight from the running thread to the next one. The
// scheduler's own stack runs the loop in run(): a thread goes there when nothing else
// is runnable (time advances, deadlock is decided), when it exits, and when RCU work
// is pending (callbacks run there, in softirq context). Every jump goes through
// jump(), which is where the sanitizer annotations live.
#include "mmtorture/sched/scheduler.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cxxabi.h>

#include <algorithm>
#include <exception>
#include <stdexcept>

#include "held_locks_spare.h"
#include "mmtorture/core/rcu.h"
#include "mmtorture/core/thread_local_spare.h"
#include "mmtorture/sched/access.h"
#include "mmtorture/sched/event_log.h"
#include "mmtorture/sched/lockdep.h"
#include "mmtorture/sched/rcu.h"
#include "mmtorture/sched/stack_pool.h"
#include "report.h"

#if MMT_SANITIZED
#include <sanitizer/common_interface_defs.h>
#endif

namespace mmt::sched {

namespace detail {
constinit thread_local Scheduler* t_running = nullptr;
constinit thread_local Scheduler* t_active = nullptr;
}  // namespace detail

namespace {

// Thrown into a thread at its next switch when the run is torn down. Not derived from
// std::exception, so a body's catch (const std::exception&) lets it pass.
struct ThreadKill {};

constexpr uint64_t kSpawnEvent = 0x5350;  // TraceEvent::Custom tag for a spawn
constexpr size_t kThreadsReserved = 16;

// The thread lists' storage is kept per OS thread for the next scheduler
// (thread_local_spare.h): a campaign, an exploration or a benchmark builds one scheduler
// per schedule, and these two vectors were two allocations of each.
struct ThreadListSpare;
struct RunnableListSpare;
// PCT's lists (the threads holding initial priorities, the change points), kept the
// same way: they grew 1, 2, 4, ... in every PCT schedule.
struct PctOrderSpare;
struct PctChangePointSpare;
constexpr size_t kSpareListMax = SIZE_MAX;  // as many threads as the last world had

// The exception globals of the calling OS thread. std::uncaught_exceptions() is
// __cxa_get_globals()->uncaughtExceptions in libstdc++ and libc++abi alike (the layout
// the Itanium C++ ABI specifies, §2.2.2); the address is fixed for the OS thread's life.
// Asked once per OS thread (every scheduler's construction and run() read it).
template <class Globals>
const Globals* exception_globals() {
  constinit thread_local const void* globals = nullptr;
  if (!globals) [[unlikely]]
    globals = abi::__cxa_get_globals();
  return static_cast<const Globals*>(globals);
}

}  // namespace

Scheduler::Scheduler(ChoiceSource& choices, SchedulerOptions options, TraceHash* trace)
    : choices_(choices), options_(std::move(options)), trace_(trace ? trace : &own_trace_) {
  options_.strategy.validate();
  const size_t stack_size = options_.stack_size ? options_.stack_size : StackPool::default_stack_size();
  stacks_ = &StackPool::shared(stack_size);
  eh_globals_ = exception_globals<EhGlobals>();
  // Room for a small world's threads at once, rather than growing one by one.
  take_spare_storage<ThreadListSpare>(threads_, kThreadsReserved);
  take_spare_storage<RunnableListSpare>(runnable_, kThreadsReserved);
  if (options_.strategy.effective() == StrategyKind::Pct) {
    take_spare_storage<PctOrderSpare>(pct_order_, kThreadsReserved);
    take_spare_storage<PctChangePointSpare>(pct_change_points_, options_.strategy.pct_depth);
  }
  if (options_.event_log) options_.event_log->attach(this);
}

Scheduler::~Scheduler() {
  if (!tearing_down_) teardown();
  if (options_.event_log) options_.event_log->detach();
  for (auto& thread : threads_) detail::keep_held_locks_storage(thread->held_);
  keep_spare_storage<ThreadListSpare>(threads_, kSpareListMax);  // destroys the threads
  keep_spare_storage<RunnableListSpare>(runnable_, kSpareListMax);
  keep_spare_storage<PctOrderSpare>(pct_order_, kSpareListMax);
  keep_spare_storage<PctChangePointSpare>(pct_change_points_, kSpareListMax);
}

Scheduler* Scheduler::running() { return detail::t_active; }

Thread& Scheduler::spawn(std::string name, ThreadBody body, SpawnOptions options) {
  if (tearing_down_ || (ran_ && !running_))
    throw std::logic_error("Scheduler::spawn: the run is over; spawn before or during run()");
  if (!body) throw std::invalid_argument("Scheduler::spawn: thread '" + name + "' has no body");
  note_access(&threads_);  // thread ids are spawn order
  const auto id = static_cast<uint32_t>(threads_.size() + 1);
  threads_.push_back(std::unique_ptr<Thread>(new Thread(this, id, std::move(name), options.daemon)));
  Thread& thread = *threads_.back();
  note_access(&thread);  // spawned before the run: numbered there, the same in every explored run
  thread.body_ = std::move(body);
  thread.discard_stack_ = options.discard_stack;
  thread.progress_ms_ = now_ms_;
  create_context(thread);
  if (!thread.daemon_) ++live_non_daemon_;
  runnable_.push_back(&thread);
  if (options_.strategy.effective() == StrategyKind::Pct) pct_place(thread);
  trace_->fold(TraceEvent::Custom, kSpawnEvent, id);
  if (options_.event_log) {
    thread.event_log_ = options_.event_log;
    options_.event_log->spawned(thread);
  }
  return thread;
}

void Scheduler::create_context(Thread& thread) {
  // We allocate the stack ourselves (pooled) so its bounds are known for the sanitizer
  // annotations; exit_thread returns it to the pool. A raw fcontext: the first jump to it
  // enters thread_entry with the scheduler as its argument, nothing runs before.
  thread.stack_ = stacks_->allocate();
  thread.context_ =
      boost::context::detail::make_fcontext(thread.stack_.sp, thread.stack_.size, &Scheduler::thread_entry);
}

void Scheduler::thread_entry(boost::context::detail::transfer_t from) {
  auto& scheduler = *static_cast<Scheduler*>(from.data);
  scheduler.land(nullptr, from.fctx);  // a new stack has no fake stack to restore
  Thread& thread = *scheduler.current_;
  scheduler.thread_main(thread);
  scheduler.exit_thread(thread);
}

void Scheduler::exit_thread(Thread& thread) {
  switch_from_ = &thread;
  current_ = nullptr;
  detail::t_running = nullptr;
  thread.context_ = nullptr;
  stacks_->deallocate(thread.stack_);
#if MMT_SANITIZED
  // nullptr: this stack is done, ASan may drop its fake stack.
  __sanitizer_start_switch_fiber(nullptr, scheduler_stack_bottom_, scheduler_stack_size_);
#endif
  boost::context::detail::jump_fcontext(scheduler_context_, nullptr);
  __builtin_unreachable();  // a finished thread is never resumed
}

void Scheduler::jump(Thread* from, Thread* to) {
  boost::context::detail::fcontext_t target = scheduler_context_;
  if (to) {
    if (to != last_run_) {
      ++switches_;
      trace_->fold(TraceEvent::Switch, last_run_ ? last_run_->id_ : 0, to->id_, yield_points_);
      last_run_ = to;
    }
    target = to->context_;
    detail::t_running = this;
  } else {
    detail::t_running = nullptr;
  }
  current_ = to;
  switch_from_ = from;
  void* fake_stack = nullptr;  // ASan's fake stack of the thread leaving (stays null without ASan)
#if MMT_SANITIZED
  if (to)
    __sanitizer_start_switch_fiber(&fake_stack, static_cast<char*>(to->stack_.sp) - to->stack_.size,
                                   to->stack_.size);
  else
    __sanitizer_start_switch_fiber(&fake_stack, scheduler_stack_bottom_, scheduler_stack_size_);
#endif
  // Landed: someone jumped here and set current_ for us. (A new thread's first jump
  // hands it the scheduler; a resumed one ignores it.)
  land(fake_stack, boost::context::detail::jump_fcontext(target, this).fctx);
}

// Every arrival on a stack (a jump returning, or a new thread's first entry) ends here:
// tell ASan the switch finished and keep the context of whoever jumped.
void Scheduler::land(void* fake_stack, boost::context::detail::fcontext_t back) {
#if MMT_SANITIZED
  const void* from_bottom = nullptr;
  size_t from_size = 0;
  __sanitizer_finish_switch_fiber(fake_stack, &from_bottom, &from_size);
  if (!switch_from_) {
    scheduler_stack_bottom_ = from_bottom;
    scheduler_stack_size_ = from_size;
  }
#else
  (void)fake_stack;
#endif
  if (!switch_from_) scheduler_context_ = back;
  else if (switch_from_->state_ != ThreadState::Finished) switch_from_->context_ = back;
}

void Scheduler::switch_away(Thread* next) {
  Thread* self = current_;
  // RCU work pending: pass through the scheduler's stack so callbacks run now.
  if (next && rcu_.has_work()) {
    next_ = next;
    next = nullptr;
  }
  jump(self, next);
  if (self->kill_) [[unlikely]]
    kill_parked(*self);
}

void Scheduler::kill_parked(Thread& thread) {
  if (can_discard(thread)) {
    // Dropped where it is parked: the waiter it parked with is the one thing a
    // scheduling point's own frames hold (~Waiter dequeues it), so that goes first.
    if (Waiter* waiter = thread.waiter_; waiter && waiter->queued) waiter->list->remove(waiter);
    end_thread(thread, nullptr);
    exit_thread(thread);
  }
  if (thread.no_kill_ == 0 && !unwinding()) throw ThreadKill{};
}

bool Scheduler::can_discard(const Thread& thread) const {
  // In a catch handler the caught exception is alive until the handler ends; dropping
  // the stack there would leak it. The runtime's caught-exception stack is what
  // std::current_exception() reads (without building an exception_ptr here).
  return thread.discard_stack_ && !unwinding() && !eh_globals_->caught_exceptions && !failure_in_flight();
}

bool Scheduler::wants_failure() const { return current_ && !tearing_down_ && can_discard(*current_); }

void Scheduler::take_failure(Failure&& failure) {
  // What thread_main does with a FailureError caught from the body, minus the unwinding
  // (the frames own nothing, SpawnOptions::discard_stack).
  Thread& thread = *current_;
  end_thread(thread, &failure);
  exit_thread(thread);
}

void Scheduler::thread_main(Thread& thread) {
  thread.started_ = true;
  // Nothing thrown in the body may leave this frame: an exception crossing a fiber
  // boundary would unwind into Boost.Context's entry code and terminate the process.
  if (!thread.kill_) {
    try {
      thread.body_();
    } catch (const ThreadKill&) {
    } catch (FailureError& error) {
      exit_failure_.emplace(error.take());
    } catch (const std::exception& error) {
      exit_failure_.emplace(
          Failure{"sched.thread_exception", thread.last_site().name, fmt::format("a thread threw: {}", error.what())});
    } catch (...) {
      exit_failure_.emplace(
          Failure{"sched.thread_exception", thread.last_site().name, "a thread threw a non-standard exception"});
    }
  }
  if (exit_failure_) [[unlikely]] {
    end_failed_thread(thread);
    return;
  }
  end_thread(thread, nullptr);
}

void Scheduler::end_failed_thread(Thread& thread) {
  // Out of the member before anything runs: destroying the body may yield, and another
  // thread's failure would land there.
  Failure failure = std::move(*exit_failure_);
  exit_failure_.reset();
  end_thread(thread, &failure);
}

void Scheduler::end_thread(Thread& thread, Failure* failure) {
  bool body_threw = false;
  try {
    thread.body_.reset();  // captured state is destroyed on the thread's own stack
  } catch (...) {
    body_threw = true;
  }
  if (failure) {
    record_thread_failure(thread, std::move(*failure));
  } else if (body_threw) {
    record_thread_failure(thread, Failure{"sched.thread_exception", "thread_exit", "destroying a thread's body threw"});
  } else if (!thread.kill_ && !tearing_down_ && (!thread.held_.empty() || thread.rcu_depth_ || thread.preempt_count_))
      [[unlikely]] {
    check_held_at_exit(thread);
  }
  finish_thread(thread);
}

void Scheduler::check_held_at_exit(Thread& thread) {
  // Lockdep's "lock held when returning to user space", and its RCU/preempt cousins.
  std::string problem, where;
  if (!thread.held_.empty()) {
    // The lock classes are what broke; where each was taken is detail.
    problem = "with locks held:";
    for (const HeldLock& held : thread.held_) problem += fmt::format(" '{}'", held.lock_class->name());
    where = "locks held: " + thread.held_locks_text();
  } else if (thread.rcu_depth_) problem = fmt::format("inside rcu_read_lock (depth {})", thread.rcu_depth_);
  else if (thread.preempt_count_) problem = fmt::format("with preempt_count {}", thread.preempt_count_);
  if (!problem.empty()) {
    const Site last = thread.last_site();
    Failure failure{"lockdep.held_at_exit", last.name, fmt::format("a thread exited {}", problem)};
    failure.detail = where;
    record_thread_failure(thread, std::move(failure));
  }
}

void Scheduler::record_thread_failure(Thread& thread, Failure&& failure) {
  if (tearing_down_) return;
  const std::string label = thread.label();
  std::string dump;
  dump.reserve(16 + label.size() + 96 * threads_.size() + failure.dump.size());
  dump += "in thread ";
  dump += label;
  dump += '\n';
  append_thread_descriptions(dump);
  if (!failure.dump.empty()) {
    dump += '\n';
    dump += failure.dump;
  }
  failure.dump = std::move(dump);
  // Who failed: the detail, never the signature. (report_check named the thread already.)
  if (failure.detail.find(label) == std::string::npos) {
    if (!failure.detail.empty()) failure.detail += "; ";
    failure.detail += "in ";
    failure.detail += label;
  }
  record_failure(std::move(failure), &thread);
}

void Scheduler::finish_thread(Thread& thread) {
  note_access(&thread);  // its joiners
  if (EventLog* log = options_.event_log) log->note_for(&thread, "exits", EventKind::Exit);
  thread.state_ = ThreadState::Finished;
  remove_runnable(thread);
  if (thread.rcu_depth_) rcu_.forget_reader(thread);
  if (!thread.daemon_) --live_non_daemon_;
  thread.progress_ms_ = now_ms_;
  while (Waiter* joiner = thread.joiners_.pop_front()) wake(joiner);
  next_ = nullptr;  // the scheduler picks
}

RunResult Scheduler::run() {
  if (ran_) throw std::logic_error("Scheduler::run: a scheduler runs once");
  if (threads_.empty())
    throw std::invalid_argument("Scheduler::run: no threads (spawn at least one thread before run)");
  if (detail::t_active) throw std::logic_error("Scheduler::run: another scheduler is running");
  // The exception globals are per OS thread: the same address as the constructor's, or
  // the run is on another OS thread than the one whose stack pool the threads use.
  if (exception_globals<EhGlobals>() != eh_globals_)
    throw std::logic_error("Scheduler::run: run on another OS thread than the one that built the scheduler");
  ran_ = running_ = true;
  detail::t_active = this;
  mmt::detail::t_failure_sink = this;
  set_rcu_backend(&rcu_);
  if (options_.strategy.effective() == StrategyKind::Pct) pct_setup();

  while (!failure_ || (options_.keep_going && !stopped_)) {
    try {
      if (rcu_.has_work()) rcu_.process();  // (process() checks too; this saves the call)
    } catch (const FailureError& error) {
      Failure failure = error.failure();
      failure.dump = "in an RCU callback\n" + describe_threads();
      record_failure(std::move(failure));
      break;
    } catch (const std::exception& error) {
      record_failure(Failure{"rcu.callback_exception", "rcu_callback",
                             fmt::format("an RCU callback threw: {}", error.what()), describe_threads()});
      break;
    }
    if (live_non_daemon_ == 0) break;
    Thread* next = std::exchange(next_, nullptr);
    if (!next) {
      if (runnable_.empty()) {
        if (!advance_clock()) {
          report_deadlock();
          break;
        }
        continue;
      }
      next = choose_next(Site{"schedule"});
    }
    resume_thread(*next);
  }

  RunResult result;
  result.trace_hash = trace_->value();
  result.switches = switches_;
  result.steps = steps_;
  result.yield_points = yield_points_;
  result.virtual_ms = now_ms_;
  result.threads = static_cast<uint32_t>(threads_.size());
  if (options_.strategy.effective() == StrategyKind::Pct) {
    result.pct_guarantee = pct_guarantee(threads_.size(), options_.strategy.pct_steps, options_.strategy.pct_depth);
    spdlog::trace("pct: n={} threads, k={} steps (this run: {}), d={}: a depth-{} bug is found with p >= {:.3g}",
                  threads_.size(), options_.strategy.pct_steps, steps_, options_.strategy.pct_depth,
                  options_.strategy.pct_depth, result.pct_guarantee);
  }
  if (choices_.replays()) result.replay_divergence = static_cast<ReplayChoices&>(choices_).divergence();

  teardown();
  if (failure_) result.failure = std::move(failure_);
  result.problems = std::move(problems_);
  set_rcu_backend(nullptr);
  mmt::detail::t_failure_sink = nullptr;
  detail::t_active = nullptr;
  running_ = false;
  return result;
}

void Scheduler::teardown() {
  tearing_down_ = true;
  Scheduler* const previous_active = detail::t_active;
  detail::t_active = this;
  // Unwind every thread that has not finished, in id order: each throws ThreadKill at
  // the switch it is parked in (or, never started, returns at once), so destructors on
  // its stack run and its stack returns to the pool.
  for (auto& thread : threads_) {
    if (thread->state_ == ThreadState::Finished) continue;
    thread->kill_ = true;
    resume_thread(*thread);
  }
  try {
    rcu_.flush();
  } catch (const FailureError& error) {
    if (!failure_) failure_ = error.failure();
  } catch (const std::exception& error) {
    if (!failure_)
      failure_ = Failure{"rcu.callback_exception", "rcu_barrier",
                         fmt::format("an RCU callback threw at the end of the run: {}", error.what())};
  }
  detail::t_active = previous_active;
}

void Scheduler::record_failure(Failure&& failure, const Thread* subject) {
  failure.virtual_ms = now_ms_;
  if (options_.keep_going) {
    std::string signature = failure.signature();
    if (std::find(problem_signatures_.begin(), problem_signatures_.end(), signature) == problem_signatures_.end()) {
      problem_signatures_.push_back(std::move(signature));
      problems_.push_back(failure);
    }
  }
  if (failure_) return;  // the first failure is the run's
  failure_ = std::move(failure);
  if (EventLog* log = options_.event_log) {
    log->note_for(subject, fmt::format("FAIL {} at {}: {}", failure_->check, failure_->site, failure_->message),
                  EventKind::Fail);
    log->freeze();
  }
  if (options_.on_failure) {
    // A snapshot that cannot be taken must not take the report down with it (this may
    // run at a thread's entry, where an exception would end the process).
    try {
      options_.on_failure(*failure_);
    } catch (const std::exception& error) {
      spdlog::warn("the on_failure callback threw: {}", error.what());
    }
  }
}

bool run_failed() {
  if (failure_in_flight()) return true;
  const Scheduler* scheduler = detail::t_active;
  return scheduler && scheduler->failed();
}

void Scheduler::continue_past(Failure failure) {
  failure.dump = describe_threads();
  record_failure(std::move(failure), current_);
}

// ---- Parking and waking ----

WakeReason Scheduler::block(Waiter* waiter, const WaitInfo& info, uint64_t deadline_ms, bool killable) {
  Thread* thread = current_;
  if (!thread) {
    detail::report_check("sched.block_outside_thread", info.site,
                         fmt::format("would block on {} '{}' outside a green thread", info.what, info.object));
    return WakeReason::Abandoned;
  }
  if (doomed()) return WakeReason::Abandoned;
  note_access(thread);  // its fatal-signal flag, and wake_up_process / the signal that end the wait
  if (killable && thread->fatal_signal_) return WakeReason::Interrupted;
  if (options_.event_log) [[unlikely]]
    note_block(info, deadline_ms, killable);
  thread->note_site(info.site);
  check_progress_budget(*thread);
  thread->wait_ = info;
  thread->waiter_ = waiter;
  thread->deadline_ms_ = deadline_ms;
  thread->killable_ = killable;
  thread->state_ = ThreadState::Blocked;
  remove_runnable(*thread);
  switch_away(runnable_.empty() ? nullptr : choose_next(info.site));
  if (options_.event_log) [[unlikely]]
    note_woken(*thread);
  thread->waiter_ = nullptr;
  thread->wait_ = WaitInfo{};
  return thread->wake_reason_;
}

void Scheduler::wake(Waiter* waiter) {
  waiter->woken = true;
  Thread& thread = *waiter->thread;
  if (thread.state_ != ThreadState::Blocked || thread.waiter_ != waiter) return;
  if (options_.event_log) [[unlikely]]
    note_wakes(thread);
  make_runnable(thread, WakeReason::Woken);
}

bool Scheduler::wake_up_process(Thread& thread) {
  note_access(&thread);
  if (thread.state_ != ThreadState::Blocked || thread.waiter_ != nullptr) return false;
  make_runnable(thread, WakeReason::Woken);
  return true;
}

void Scheduler::send_fatal_signal(Thread& thread) {
  note_access(&thread);  // its flag, read at its killable waits
  thread.fatal_signal_ = true;
  trace_->fold(TraceEvent::Custom, 0x5349, thread.id_);
  if (EventLog* log = options_.event_log) log->note("sends a fatal signal to {}", thread.label());
  if (thread.state_ == ThreadState::Blocked && thread.killable_) make_runnable(thread, WakeReason::Interrupted);
}

void Scheduler::join(Thread& thread, Site site) {
  if (&thread == current_) {
    detail::report_check("sched.join_self", site, "a thread joins itself");
    return;
  }
  note_access(&thread);
  while (thread.state_ != ThreadState::Finished) {
    Waiter waiter(current_);
    thread.joiners_.push_back(&waiter);
    const WakeReason reason =
        detail::park(&waiter, WaitInfo{"join", thread.name_.c_str(), &thread, site}, kNoDeadline, false);
    note_access(&thread);
    if (reason == WakeReason::Abandoned) return;
  }
}

// ---- Progress ----

void Scheduler::mark_progress() {
  if (Thread* thread = current_) {
    thread->progress_ms_ = now_ms_;
    thread->steps_since_progress_ = 0;
  }
}

void Scheduler::op_begin(const char* name) {
  Thread* thread = current_;
  if (!thread) return;
  if (thread->op_depth_++ == 0) {
    thread->op_name_ = name;
    if (options_.event_log) [[unlikely]]
      note_op("begins", name);
  }
  mark_progress();
}

void Scheduler::op_end() {
  Thread* thread = current_;
  if (!thread || thread->op_depth_ == 0) return;
  if (--thread->op_depth_ == 0) {
    if (options_.event_log) [[unlikely]]
      note_op("ends", thread->op_name_);
    thread->op_name_ = nullptr;
  }
  mark_progress();
}

// ---- Event-log records (only with a log attached) ----

namespace {
const char* wake_reason_text(WakeReason reason) {
  switch (reason) {
    case WakeReason::Woken: return "woken";
    case WakeReason::TimedOut: return "timed out";
    case WakeReason::Interrupted: return "interrupted by a fatal signal";
    case WakeReason::Abandoned: return "abandoned (run ending)";
  }
  return "invalid";
}
}  // namespace

void Scheduler::note_preempted(const Thread& next) {
  options_.event_log->record(EventKind::Preempt,
                           fmt::format("preempted at {}; {} runs", current_->last_site().name, next.label()), {},
                           next.id());
}

void Scheduler::note_block(const WaitInfo& info, uint64_t deadline_ms, bool killable) {
  std::string text = fmt::format("blocks: {}", info.what);
  std::string object;
  // A lock is named as its take and release lines name it ('mmap_lock'#3).
  if (info.lock && info.object && *info.object) {
    object = options_.event_log->lock_name(info.lock, info.object);
    text += " " + object;
  } else if (info.object && *info.object) {
    object = fmt::format("'{}'", info.object);
    text += " " + object;
  }
  if (info.owner) text += fmt::format(" held by {}", info.owner->label());
  text += fmt::format(" at {}", info.site.name);
  if (deadline_ms != kNoDeadline) text += fmt::format(", until {} ms", deadline_ms);
  if (killable) text += " (killable)";
  options_.event_log->record(EventKind::Block, std::move(text), std::move(object), info.owner ? info.owner->id() : 0);
}

void Scheduler::note_wakes(const Thread& thread) {
  options_.event_log->record(EventKind::Wake,
                           fmt::format("wakes {} (waiting for {} '{}')", thread.label(), thread.wait_.what,
                                       thread.wait_.object),
                           {}, thread.id());
}

void Scheduler::note_op(const char* what, const char* name) {
  const EventKind kind = std::string_view(what) == "begins" ? EventKind::OpBegin : EventKind::OpEnd;
  options_.event_log->record(kind, fmt::format("op {}: {}", what, name), name);
}

void Scheduler::note_woken(const Thread& thread) {
  options_.event_log->record(EventKind::RunsAgain,
                           fmt::format("runs again: {} at {}", wake_reason_text(thread.wake_reason_),
                                       thread.wait_.site.name));
}

}  // namespace mmt::sched
