// The timeline model (timeline.h): slices, lanes and flows from the event log's history.
#include "mmtorture/campaign/timeline.h"

#include <map>
#include <utility>

namespace mmt::campaign {

using sched::EventKind;
using HistoryEvent = sched::EventLog::HistoryEvent;

uint32_t Timeline::track_of(const HistoryEvent& event) const {
  return event.event.kind == EventKind::Rcu ? kRcuTrack : event.thread;
}

std::vector<std::pair<uint64_t, uint64_t>> Timeline::choices_of(const TimelineSlice& slice) const {
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (size_t k = slice.begin; k <= slice.end && k < events.size(); ++k) {
    if (events[k].thread != slice.thread) continue;
    const uint64_t first = k == 0 ? 0 : events[k - 1].event.choices;
    const uint64_t last = events[k].event.choices;
    if (first >= last) continue;
    if (!ranges.empty() && ranges.back().second == first) ranges.back().second = last;
    else ranges.emplace_back(first, last);
  }
  return ranges;
}

namespace {

// Per-thread state while walking the history.
struct ThreadWalk {
  std::vector<size_t> stack;                               // open Op and Wait slices, innermost last
  std::map<std::string, std::vector<size_t>> locks;        // open Lock slices by lock name
  std::optional<size_t> pending_wake;                      // the Wake that will end its wait
  std::string waiting_for;                                 // the object of its last Block
};

class Builder {
 public:
  explicit Builder(Timeline& timeline) : t_(timeline) {}

  void walk() {
    for (size_t i = 0; i < t_.events.size(); ++i) step(i);
    close_unfinished();
    assign_lock_lanes();
  }

 private:
  size_t open(TimelineSlice::Kind kind, uint32_t thread, std::string name, size_t at) {
    TimelineSlice slice;
    slice.kind = kind;
    slice.thread = thread;
    slice.name = std::move(name);
    slice.begin = slice.end = at;
    slice.unfinished = true;
    t_.slices.push_back(std::move(slice));
    return t_.slices.size() - 1;
  }

  void close(size_t slice, size_t at) {
    t_.slices[slice].end = at;
    t_.slices[slice].unfinished = false;
  }

  // The innermost open operation of a thread, if any.
  std::optional<size_t> innermost_op(const ThreadWalk& walk) const {
    for (auto it = walk.stack.rbegin(); it != walk.stack.rend(); ++it)
      if (t_.slices[*it].kind == TimelineSlice::Kind::Op) return *it;
    return std::nullopt;
  }

  void step(size_t i) {
    const HistoryEvent& history = t_.events[i];
    const sched::EventLog::Event& event = history.event;
    ThreadWalk& walk = threads_[history.thread];
    switch (event.kind) {
      case EventKind::OpBegin:
        walk.stack.push_back(open(TimelineSlice::Kind::Op, history.thread, event.object, i));
        break;
      case EventKind::OpEnd:
        if (!walk.stack.empty() && t_.slices[walk.stack.back()].kind == TimelineSlice::Kind::Op) {
          close(walk.stack.back(), i);
          walk.stack.pop_back();
        }
        break;
      case EventKind::OpResult:
        if (auto op = innermost_op(walk)) t_.slices[*op].result = event.text;
        break;
      case EventKind::Block:
        walk.waiting_for = event.object.empty() ? event.text : event.object;
        walk.stack.push_back(open(TimelineSlice::Kind::Wait, history.thread, "waits for " + walk.waiting_for, i));
        break;
      case EventKind::RunsAgain:
        if (!walk.stack.empty() && t_.slices[walk.stack.back()].kind == TimelineSlice::Kind::Wait) {
          close(walk.stack.back(), i);
          walk.stack.pop_back();
        }
        if (walk.pending_wake) {
          t_.flows.push_back(TimelineFlow{*walk.pending_wake, i, walk.waiting_for});
          walk.pending_wake.reset();
        }
        break;
      case EventKind::Wake:
        threads_[event.peer].pending_wake = i;
        break;
      case EventKind::LockTake: {
        const size_t slice = open(TimelineSlice::Kind::Lock, history.thread, event.object, i);
        t_.slices[slice].mode = event.text;
        walk.locks[event.object].push_back(slice);
        break;
      }
      case EventKind::LockRelease: {
        auto it = walk.locks.find(event.object);
        if (it != walk.locks.end() && !it->second.empty()) {
          close(it->second.back(), i);
          it->second.pop_back();
        }
        break;
      }
      case EventKind::LockTakeRelease: {
        const size_t slice = open(TimelineSlice::Kind::Lock, history.thread, event.object, i);
        t_.slices[slice].mode = event.text;
        close(slice, i);
        break;
      }
      case EventKind::Fail:
        t_.fail_event = i;
        t_.failing_slice = innermost_op(walk);
        break;
      default:
        break;
    }
  }

  void close_unfinished() {
    if (t_.events.empty()) return;
    const size_t last = t_.events.size() - 1;
    for (size_t s = 0; s < t_.slices.size(); ++s) {
      TimelineSlice& slice = t_.slices[s];
      if (!slice.unfinished) continue;
      slice.end = last;
      if (slice.kind == TimelineSlice::Kind::Lock) t_.held_at_failure.push_back(s);
    }
  }

  // Spreads each thread's lock holds over lanes in which they nest: a hold goes to the
  // first lane whose innermost hold still open contains it (or that has none open).
  void assign_lock_lanes() {
    std::map<uint32_t, std::vector<std::vector<double>>> lanes;  // thread -> lane -> open ends
    for (TimelineSlice& slice : t_.slices) {
      if (slice.kind != TimelineSlice::Kind::Lock) continue;
      const double begin = static_cast<double>(slice.begin);
      const double end = slice.unfinished ? static_cast<double>(slice.end) + 0.75
                         : slice.end == slice.begin ? begin + 0.5
                                                    : static_cast<double>(slice.end);
      auto& thread_lanes = lanes[slice.thread];
      size_t lane = 0;
      for (; lane < thread_lanes.size(); ++lane) {
        auto& ends = thread_lanes[lane];
        while (!ends.empty() && ends.back() < begin) ends.pop_back();
        if (ends.empty() || ends.back() >= end) break;
      }
      if (lane == thread_lanes.size()) thread_lanes.emplace_back();
      thread_lanes[lane].push_back(end);
      slice.lane = static_cast<uint32_t>(lane);
    }
    for (TimelineTrack& track : t_.tracks) {
      auto it = lanes.find(track.thread);
      if (it != lanes.end()) track.lock_lanes = static_cast<uint32_t>(it->second.size());
    }
  }

  Timeline& t_;
  std::map<uint32_t, ThreadWalk> threads_;
};

}  // namespace

Timeline build_timeline(const sched::EventLog& log, std::vector<Choice> choices, std::optional<Failure> failure) {
  return build_timeline(log.history(), log.threads(), std::move(choices), std::move(failure));
}

Timeline build_timeline(std::vector<HistoryEvent> history,
                        const std::vector<const sched::EventLog::ThreadEvents*>& threads, std::vector<Choice> choices,
                        std::optional<Failure> failure) {
  Timeline timeline;
  timeline.events = std::move(history);
  timeline.choices = std::move(choices);
  timeline.failure = std::move(failure);
  bool rcu = false;
  for (const HistoryEvent& event : timeline.events) rcu = rcu || event.event.kind == EventKind::Rcu;
  for (const sched::EventLog::ThreadEvents* thread : threads)
    timeline.tracks.push_back(TimelineTrack{thread->id, thread->id ? thread->name : "scheduler", thread->daemon, 0});
  if (rcu) timeline.tracks.push_back(TimelineTrack{Timeline::kRcuTrack, "RCU", true, 0});
  Builder(timeline).walk();
  return timeline;
}

}  // namespace mmt::campaign
