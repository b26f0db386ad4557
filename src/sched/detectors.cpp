// The virtual clock's advance and the detectors that run on the scheduler's stack:
// deadlock (nothing runnable, nothing timed), hang (an operation older than hang_ms
// when time would move past that), and the livelock step budget checked at every
// scheduling point. Each failure lists every thread: state, what it waits for, locks.
#include <fmt/format.h>

#include "mmtorture/sched/scheduler.h"

#include "mmtorture/sched/access.h"
#include "report.h"

namespace mmt::sched {

namespace {
std::string sites_text(const Thread& thread) {
  std::string text;
  for (Site site : thread.last_sites()) {
    if (!text.empty()) text += ", ";
    text += site.name;
  }
  return text.empty() ? "none" : text;
}
}  // namespace

std::string Scheduler::describe_threads() const {
  std::string text;
  append_thread_descriptions(text);
  return text;
}

void Scheduler::append_thread_descriptions(std::string& text) const {
  // Room for a typical line per thread at once, rather than growing line by line.
  text.reserve(text.size() + 96 * threads_.size());
  for (const auto& thread : threads_) {
    if (thread->state_ == ThreadState::Finished) continue;
    text += "  ";
    thread->append_description(text);
    text += '\n';
  }
}

bool Scheduler::advance_clock() {
  note_access_everything();  // virtual time: every timed wait and the hang clock read it
  uint64_t wake_at = kNoDeadline;
  for (const auto& thread : threads_)
    if (thread->state_ == ThreadState::Blocked && thread->deadline_ms_ < wake_at) wake_at = thread->deadline_ms_;
  if (wake_at == kNoDeadline) return false;  // nothing will ever wake: deadlock

  if (options_.hang_ms) {
    // Moving the clock past a thread's progress + hang_ms means that thread's
    // operation did not finish in time. The earliest such thread (lowest id on ties).
    Thread* hung = nullptr;
    uint64_t hang_at = kNoDeadline;
    for (const auto& thread : threads_) {
      if (thread->state_ == ThreadState::Finished) continue;
      if (thread->daemon_ && thread->op_depth_ == 0) continue;
      const uint64_t at = thread->progress_ms_ + options_.hang_ms;
      if (at < hang_at) {
        hang_at = at;
        hung = thread.get();
      }
    }
    if (hung && hang_at < wake_at) {
      now_ms_ = hang_at;
      stopped_ = true;  // under keep_going too: the hung thread would hang again at once
      const Site site = hung->state_ == ThreadState::Blocked ? hung->wait_.site : hung->last_site();
      std::string op = hung->op_name_ ? fmt::format("operation '{}'", hung->op_name_) : std::string("work");
      // The message says what is stuck and how, which makes the signature: not which
      // thread (two clients stuck the same way are one bug) nor the sites it passed on
      // its way there (they depend on the interleaving). Those go to the detail, with
      // every thread's state.
      record_failure(Failure{"sched.hang", site.name,
                             fmt::format("{} has not finished after {} ms of virtual time; the thread is {}", op,
                                         options_.hang_ms, hung->describe_state()),
                             fmt::format("in thread {}\nlast sites of {}: {}\n{}", hung->label(), hung->label(),
                                         sites_text(*hung), describe_threads())},
                     hung);
      return true;
    }
  }

  now_ms_ = wake_at;
  trace_->fold(TraceEvent::Sleep, now_ms_);
  for (const auto& thread : threads_)
    if (thread->state_ == ThreadState::Blocked && thread->deadline_ms_ <= now_ms_)
      make_runnable(*thread, WakeReason::TimedOut);
  return true;
}

void Scheduler::report_livelock(Thread& thread) {
  thread.steps_since_progress_ = 0;  // an idle daemon starts a new budget; others report once
  if (thread.daemon_ && thread.op_depth_ == 0) return;
  std::string op = thread.op_name_ ? fmt::format(" in operation '{}'", thread.op_name_) : std::string();
  detail::report_check("sched.livelock", thread.last_site(),
                       fmt::format("a thread made no progress{} for {} scheduling points", op, options_.step_budget),
                       fmt::format("last sites: {}", sites_text(thread)));
}

void Scheduler::report_deadlock() {
  if (failure_ && options_.keep_going) {
    // A thread that failed holding locks (taken without a guard) left them held: the
    // threads waiting for them are that failure's consequence, not a new problem.
    for (const auto& thread : threads_)
      if (thread->state_ == ThreadState::Finished && !thread->held_.empty()) return;
  }
  // The message lists every thread left, and so does the dump (describe_threads()):
  // each thread described once for both.
  std::string message = "all threads blocked:";
  std::string dump;
  Site site{"schedule"};
  bool first = true;
  for (const auto& thread : threads_) {
    if (thread->state_ == ThreadState::Finished) continue;
    if (first) site = thread->wait_.site;
    const std::string line = thread->describe();
    if (!first) message += ';';
    message += ' ';
    message += line;
    dump += "  ";
    dump += line;
    dump += '\n';
    first = false;
  }
  record_failure(Failure{"sched.deadlock", site.name, std::move(message), std::move(dump)});
}

}  // namespace mmt::sched
