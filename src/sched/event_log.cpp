// The per-thread flight recorder (event_log.h): bounded rings, filled only while a
// scheduler with the log attached runs, printed by replay after the failure.
#include "mmtorture/sched/event_log.h"

#include <exception>
#include <stdexcept>

namespace mmt::sched {

const char* event_kind_name(EventKind kind) {
  switch (kind) {
    case EventKind::Note: return "note";
    case EventKind::OpBegin: return "op_begin";
    case EventKind::OpEnd: return "op_end";
    case EventKind::OpResult: return "op_result";
    case EventKind::LockTake: return "lock_take";
    case EventKind::LockRelease: return "lock_release";
    case EventKind::LockTakeRelease: return "lock_take_release";
    case EventKind::Block: return "block";
    case EventKind::RunsAgain: return "runs_again";
    case EventKind::Wake: return "wake";
    case EventKind::Preempt: return "preempt";
    case EventKind::AllocFail: return "alloc_fail";
    case EventKind::Reclaim: return "reclaim";
    case EventKind::OomKill: return "oom_kill";
    case EventKind::Rcu: return "rcu";
    case EventKind::Exit: return "exit";
    case EventKind::Fail: return "fail";
  }
  return "invalid";
}

std::vector<const EventLog::Event*> EventLog::ThreadEvents::events() const {
  std::vector<const Event*> out;
  if (recorded <= ring.size() || ring.empty()) {  // empty: a thread adopted without its events
    for (const Event& event : ring) out.push_back(&event);
    return out;
  }
  // Full ring: the slot the next event would overwrite holds the oldest.
  const size_t oldest = static_cast<size_t>(recorded % ring.size());
  for (size_t i = 0; i < ring.size(); ++i) out.push_back(&ring[(oldest + i) % ring.size()]);
  return out;
}

EventLog::EventLog(size_t per_thread) : per_thread_(per_thread) {
  if (per_thread == 0) throw std::invalid_argument("EventLog: per_thread must be at least 1");
  threads_.resize(1);
  threads_[0].name = "scheduler";
}

bool EventLog::recording() const {
  if (!scheduler_ || frozen_) return false;
  // The failing thread's unwinding (lock guards, op scopes) comes after the failure.
  return !(scheduler_->current() && std::uncaught_exceptions() > 0);
}

EventLog::ThreadEvents& EventLog::ring_of(uint32_t id) {
  if (id >= threads_.size()) threads_.resize(id + 1);
  ThreadEvents& ring = threads_[id];
  ring.id = id;
  return ring;
}

EventLog::ThreadEvents* EventLog::current_ring() {
  if (!recording()) return nullptr;
  const Thread* thread = scheduler_->current();
  return &ring_of(thread ? thread->id() : 0);
}

void EventLog::append(ThreadEvents& ring, Event event) {
  ring.last_taken = nullptr;
  event.seq = ++seq_;
  event.virtual_ms = scheduler_ ? scheduler_->now_ms() : 0;
  event.choices = scheduler_ ? scheduler_->choices().draws() : 0;
  if (keep_history_) history_.push_back(HistoryEvent{ring.id, event});
  if (ring.ring.size() < per_thread_) {
    if (ring.ring.empty()) ring.ring.reserve(per_thread_);
    ring.ring.push_back(std::move(event));
  } else {
    ring.ring[ring.recorded % per_thread_] = std::move(event);
  }
  ++ring.recorded;
  if (mirror_) mirror_->ring_changed(ring);
}

void EventLog::record(EventKind kind, std::string text, std::string object, uint32_t peer) {
  if (!recording()) return;
  const Thread* thread = scheduler_->current();
  append(ring_of(thread ? thread->id() : 0), Event{0, 0, std::move(text), kind, std::move(object), peer, 0});
}

void EventLog::note_for(const Thread* thread, std::string text, EventKind kind) {
  if (!scheduler_ || frozen_) return;
  append(ring_of(thread ? thread->id() : 0), Event{0, 0, std::move(text), kind, {}, 0, 0});
}

void EventLog::spawned(const Thread& thread) {
  ThreadEvents& ring = ring_of(thread.id());
  ring.name = thread.name();
  ring.daemon = thread.daemon();
  if (mirror_) mirror_->ring_changed(ring);
}

void EventLog::note_lock_taken(const void* lock, const std::string& class_name, const char* mode, Site site) {
  ThreadEvents* ring = current_ring();
  if (!ring) return;
  std::string name = lock_name(lock, class_name);
  std::string text = fmt::format("takes {} ({}) at {}", name, mode, site.name);
  append(*ring, Event{0, 0, std::move(text), EventKind::LockTake, std::move(name), 0, 0});
  ring->last_taken = lock;
  ring->last_taken_history = history_.size() - (keep_history_ ? 1 : 0);
}

void EventLog::note_lock_released(const void* lock, const std::string& class_name, const char* mode, Site site) {
  ThreadEvents* ring = current_ring();
  if (!ring) return;
  if (ring->last_taken == lock) {
    Event& newest = ring->ring[(ring->recorded - 1) % per_thread_];
    newest.text.replace(0, 5, "takes and releases");  // "takes ..." -> "takes and releases ..."
    newest.kind = EventKind::LockTakeRelease;
    if (keep_history_) history_[ring->last_taken_history].event = newest;
    ring->last_taken = nullptr;
    if (mirror_) mirror_->ring_changed(*ring);
    return;
  }
  std::string name = lock_name(lock, class_name);
  std::string text = fmt::format("releases {} ({}) at {}", name, mode, site.name);
  append(*ring, Event{0, 0, std::move(text), EventKind::LockRelease, std::move(name), 0, 0});
}

void EventLog::adopt(uint32_t id, std::string name, bool daemon, uint64_t recorded, std::vector<Event> events) {
  if (events.size() > per_thread_ || events.size() > recorded)
    throw std::invalid_argument("EventLog::adopt: more events than the ring or the thread's count holds");
  ThreadEvents& ring = ring_of(id);
  ring.name = std::move(name);
  ring.daemon = daemon;
  ring.recorded = recorded;
  ring.last_taken = nullptr;
  ring.ring.assign(events.size(), Event{});
  // Slot order as append() leaves it, so events() starts at the oldest: the event
  // recorded k-th (from 0) sits in slot k % size.
  const uint64_t first = recorded - events.size();
  for (size_t i = 0; i < events.size(); ++i)
    ring.ring[(first + i) % events.size()] = std::move(events[i]);
}

std::string EventLog::lock_name(const void* lock, const std::string& class_name) {
  auto it = lock_numbers_.find(lock);
  if (it == lock_numbers_.end() || it->second.class_name != class_name) {
    const uint32_t number = ++class_counts_[class_name];
    it = lock_numbers_.insert_or_assign(lock, LockNumber{class_name, number}).first;
  }
  return fmt::format("'{}'#{}", class_name, it->second.number);
}

std::vector<const EventLog::ThreadEvents*> EventLog::threads() const {
  std::vector<const ThreadEvents*> out;
  for (size_t id = 1; id < threads_.size(); ++id)
    if (!threads_[id].name.empty() || threads_[id].recorded) out.push_back(&threads_[id]);
  if (threads_[0].recorded) out.push_back(&threads_[0]);
  return out;
}

std::string EventLog::format() const {
  std::string out;
  for (const ThreadEvents* thread : threads()) {
    const std::string label =
        thread->id ? fmt::format("T{} '{}'{}", thread->id, thread->name, thread->daemon ? " (daemon)" : "")
                   : std::string("scheduler (its own stack: clock, detectors, RCU callbacks)");
    if (thread->recorded == 0) {
      out += fmt::format("  {}: no events\n", label);
      continue;
    }
    out += fmt::format("  {}: last {} of {} events\n", label, thread->ring.size(), thread->recorded);
    for (const Event* event : thread->events())
      out += fmt::format("    #{:<7} {:>7} ms  {}\n", event->seq, event->virtual_ms, event->text);
  }
  return out;
}

}  // namespace mmt::sched
