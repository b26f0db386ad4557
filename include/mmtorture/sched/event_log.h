// EventLog: a flight recorder of the last events of every green thread, for `mmtorture
// replay --last N`. When a replayed failure reproduces, the interleaving that led to it
// is read off these rings: each thread's operation starts and results, the locks it
// took, released and waited for, its sleeps and wake-ups, the switches where it was
// preempted, the allocations that failed for it, and the failure itself.
//
// Why a separate recorder and not the trace hash: the hash keeps everything but shows
// nothing, and `--trace` shows every operation but none of the interleaving inside one.
//
// Cost: the scheduler holds a null EventLog pointer unless one is attached through
// SchedulerOptions::event_log, and every recording site is behind that one pointer
// check (the yield point records only when it switches, so its non-switching path is
// untouched). Recording never draws a choice, folds into the trace hash or changes a
// decision: a run with a log attached takes exactly the path of one without.
//
// Determinism: threads are kept by id (spawn order), events carry a run-wide sequence
// number and the virtual time, and a lock is named by its class and the order in which
// the run first used it ("'mmap_lock'#3"), never by its address: a lock's number is
// forgotten when it is destroyed, so address reuse cannot leak into the report.
//
// Besides the text, each event carries its kind, the object it names (a lock, an
// operation) and the thread it acts on (the one it wakes or hands the CPU to), so the
// timelines of `replay --perfetto` and `--html` draw slices and arrows without parsing
// the text. With keep_history() the log also keeps every event of the run in order (the
// rings keep only the newest): the timelines are drawn from that history.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mmtorture/sched/scheduler.h"

namespace mmt::sched {

// What an event is, for the timelines; the text says it for people.
enum class EventKind : uint8_t {
  Note,         // anything else (a daemon's decision, a signal)
  OpBegin,      // an OpScope opens: object = the operation's name
  OpEnd,        // an OpScope closes: object = the operation's name
  OpResult,     // the workload's line for a finished operation (its number, mm, arguments, result)
  LockTake,     // object = the lock's name ('mmap_lock'#3)
  LockRelease,  // object = the lock's name
  LockTakeRelease,  // a take and its release with nothing between (folded into one line)
  Block,        // the thread parks: object = the lock's or wait's name, peer = the owner (0: none)
  RunsAgain,    // a parked thread runs again (woken, timed out, interrupted)
  Wake,         // the thread wakes peer
  Preempt,      // the thread is switched away at a yield point; peer runs next
  AllocFail,    // an allocation failed (injected by the fault plan or for want of memory)
  Reclaim,      // reclaim freed pages (and swapped some out)
  OomKill,      // the OOM killer chose a victim
  Rcu,          // an RCU grace period ended (callbacks ran, waiters released)
  Exit,         // the thread's function returned
  Fail,         // the run's first failure
};
const char* event_kind_name(EventKind kind);

class EventLog {
 public:
  // One recorded event.
  struct Event {
    uint64_t seq = 0;         // run-wide order of recording, from 1
    uint64_t virtual_ms = 0;  // the scheduler's clock when it was recorded
    std::string text;
    EventKind kind = EventKind::Note;
    std::string object;       // the lock or operation it names ("" when none)
    uint32_t peer = 0;        // the thread it acts on (Wake, Preempt, Block's owner); 0: none
    uint64_t choices = 0;     // choices drawn in the run when it was recorded
  };
  // One event of the history, with the thread that recorded it.
  struct HistoryEvent {
    uint32_t thread = 0;  // Thread::id(); 0: the scheduler's own stack
    Event event;
  };
  // The ring of one thread: its newest `capacity` events.
  struct ThreadEvents {
    uint32_t id = 0;          // Thread::id(); 0 is the scheduler's own stack
    std::string name;         // "worker0", "kswapd0", ... ("scheduler" for id 0)
    bool daemon = false;
    uint64_t recorded = 0;    // events recorded in all (the ring keeps the newest)
    std::vector<Event> ring;  // capacity slots once full; oldest at (recorded % capacity)
    const void* last_taken = nullptr;  // the newest event is the take of this lock
    size_t last_taken_history = 0;     // that take's index in the history (with keep_history)

    // The kept events, oldest first.
    std::vector<const Event*> events() const;
  };

  // Keeps the last `per_thread` events of each thread; needs per_thread >= 1.
  explicit EventLog(size_t per_thread);
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  size_t per_thread() const { return per_thread_; }
  // Keep every event of the run in order as well (history()); call before the run.
  void keep_history() { keep_history_ = true; }
  // Every event recorded, in seq order (empty unless keep_history() was called).
  const std::vector<HistoryEvent>& history() const { return history_; }
  // Events recorded in all threads (the last seq handed out).
  uint64_t recorded() const { return seq_; }
  // True once the run's first failure was recorded: later events (teardown unwinding
  // the other threads) are not kept, so each ring ends at the failure.
  bool frozen() const { return frozen_; }

  // Records `text` for the thread running now on the attached scheduler (the
  // scheduler's own stack when none). Ignored when no scheduler is attached, once
  // frozen, and while the running thread unwinds from an exception (the failure's own
  // unwinding: lock guards and op scopes closing are not history).
  void note(std::string text) { record(EventKind::Note, std::move(text)); }
  template <typename... Args>
  void note(fmt::format_string<Args...> format, Args&&... args) {
    if (recording()) record(EventKind::Note, fmt::format(format, std::forward<Args>(args)...));
  }
  // The same with its kind, the object it names and the thread it acts on.
  void record(EventKind kind, std::string text, std::string object = {}, uint32_t peer = 0);
  template <typename... Args>
  void note(EventKind kind, fmt::format_string<Args...> format, Args&&... args) {
    if (recording()) record(kind, fmt::format(format, std::forward<Args>(args)...));
  }
  // The same for a given thread (e.g. the one whose failure is being recorded).
  void note_for(const Thread* thread, std::string text, EventKind kind = EventKind::Note);

  // Lock events (lockdep.cpp): "takes 'mmap_lock'#3 (exclusive) at do_mmap". A release
  // right after its own take, with nothing between, folds into the take's line ("takes
  // and releases ..."): uncontended pairs (page_table_lock around one pte) would fill
  // the ring otherwise.
  void note_lock_taken(const void* lock, const std::string& class_name, const char* mode, Site site);
  void note_lock_released(const void* lock, const std::string& class_name, const char* mode, Site site);

  // "'mmap_lock'#3": the lock's class and its number in first-use order of this log.
  std::string lock_name(const void* lock, const std::string& class_name);
  // The lock at `lock` is being destroyed (lock destructors call this during a run): a
  // lock built later at the same address gets a number of its own, so numbers follow
  // the run and not the allocator's reuse of addresses (which differs between builds).
  void forget_lock(const void* lock) { lock_numbers_.erase(lock); }

  // Sees every change to a ring as it is made. A replay in a worker process mirrors its
  // rings into memory shared with the parent (campaign/shared_event_log.h), so the
  // events leading to a crash outlive the process that crashed.
  class Mirror {
   public:
    virtual ~Mirror() = default;
    // `ring` was named, or its newest event (ring.ring[(recorded - 1) % per_thread])
    // was recorded or rewritten.
    virtual void ring_changed(const ThreadEvents& ring) = 0;
  };
  // At most one mirror; null detaches it. It must outlive the recording.
  void set_mirror(Mirror* mirror) { mirror_ = mirror; }

  // Takes a thread's events recorded elsewhere (a crashed worker's mirror): `events`
  // oldest first, at most per_thread() of them, the newest `events.size()` of the
  // `recorded` the thread recorded in all. Replaces whatever the thread had.
  void adopt(uint32_t id, std::string name, bool daemon, uint64_t recorded, std::vector<Event> events);

  // Every thread that recorded or was spawned, in id order; the scheduler's own ring
  // (id 0) last, and only when it recorded something.
  std::vector<const ThreadEvents*> threads() const;

  // The report replay prints: one block per thread, its newest events oldest first,
  // each line "#seq  ms  text". Empty when nothing was recorded.
  std::string format() const;

 private:
  friend class Scheduler;
  // Scheduler side.
  void attach(Scheduler* scheduler) { scheduler_ = scheduler; }
  void detach() { scheduler_ = nullptr; }
  void spawned(const Thread& thread);
  void freeze() { frozen_ = true; }
  bool recording() const;
  ThreadEvents& ring_of(uint32_t id);
  // The ring of the running thread when recording, else null.
  ThreadEvents* current_ring();
  void append(ThreadEvents& ring, Event event);

  size_t per_thread_;
  Scheduler* scheduler_ = nullptr;
  Mirror* mirror_ = nullptr;
  bool frozen_ = false;
  uint64_t seq_ = 0;
  std::vector<ThreadEvents> threads_;  // index = thread id (0: the scheduler)
  bool keep_history_ = false;
  std::vector<HistoryEvent> history_;  // every event, in seq order (with keep_history_)
  struct LockNumber {
    std::string class_name;
    uint32_t number;
  };
  std::unordered_map<const void*, LockNumber> lock_numbers_;  // looked up, never iterated
  std::unordered_map<std::string, uint32_t> class_counts_;    // looked up, never iterated
};

// The event log of the scheduler running now, or null (no run, or none attached):
// what code outside the scheduler checks before formatting an event.
inline EventLog* event_log() {
  Scheduler* scheduler = detail::t_active;
  return scheduler ? scheduler->event_log() : nullptr;
}

}  // namespace mmt::sched
