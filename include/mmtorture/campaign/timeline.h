// Timeline: a replayed run as slices on tracks, the model behind `replay --perfetto`
// (Chrome Trace Event JSON, timeline_perfetto.cpp) and `replay --html` (a self-contained
// page, timeline_html.cpp). Built from the event log's full history (every event the
// scheduler, the locks, the allocator and the workload recorded, in seq order), so both
// pictures show exactly what `replay --last` prints, and nothing the log did not see.
//
// Tracks: one per green thread (workers, kswapd0, oom_reaper, CMA clients), one for the
// scheduler's own stack and one for RCU (grace periods end there, between switches).
// Slices: operations (OpScope begin/end), waits (a thread parked until it runs again)
// and lock holds (take to release). Lock holds need not nest with each other in take
// order (A, B, release A), so each thread's holds are spread over "lock lanes" in which
// they do nest. Flows: a wake-up to the wait it ended. Everything else is an instant.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mmtorture/core/choice.h"
#include "mmtorture/core/failure.h"
#include "mmtorture/sched/event_log.h"

namespace mmt::campaign {

struct TimelineTrack {
  uint32_t thread = 0;  // EventLog thread id; kRcuTrack for the RCU track
  std::string name;     // "worker0", "kswapd0", "scheduler", "RCU"
  bool daemon = false;
  uint32_t lock_lanes = 0;  // lanes its lock holds need (0: it took no lock)
};

struct TimelineSlice {
  enum class Kind { Op, Wait, Lock } kind = Kind::Op;
  uint32_t thread = 0;
  uint32_t lane = 0;        // Lock: which of the thread's lock lanes
  std::string name;         // "brk", "waits for 'mmap_lock'#1", "'mmap_lock'#1"
  size_t begin = 0;         // history index of the event that opened it
  size_t end = 0;           // history index of the event that closed it (== begin: folded take+release)
  bool unfinished = false;  // still open when the history ends (at the failure): end is the last event
  std::string result;       // Op: the workload's line for it ("op 3 worker0 brk mm 1 brk=0x... -> 1"), if any
  std::string mode;         // Lock: the take's text ("takes 'mmap_lock'#1 (exclusive) at sys_brk")
};

struct TimelineFlow {
  size_t from = 0;   // history index of the Wake
  size_t to = 0;     // history index of the woken thread's RunsAgain
  std::string name;  // what the woken thread waited for ("'mmap_lock'#1", "wait_event 'kswapd_wait'")
};

struct Timeline {
  static constexpr uint32_t kRcuTrack = UINT32_MAX;
  std::vector<sched::EventLog::HistoryEvent> events;  // the log's history (seq order)
  std::vector<TimelineTrack> tracks;                  // in display order: threads by id, scheduler, RCU
  std::vector<TimelineSlice> slices;                  // sorted by begin
  std::vector<TimelineFlow> flows;
  std::vector<Choice> choices;     // the choices the run drew, in order
  std::optional<Failure> failure;
  std::optional<size_t> fail_event;    // history index of the Fail event
  std::optional<size_t> failing_slice; // the innermost operation open on the failing thread at the failure
  std::vector<size_t> held_at_failure; // Lock slices still open at the end, in take order

  // The track an event is drawn on: its thread's, or the RCU track for Rcu events.
  uint32_t track_of(const sched::EventLog::HistoryEvent& event) const;
  // The choices drawn while a slice's thread ran within it: [first, last) index ranges into
  // `choices`. A choice belongs to the first event recorded after it was drawn.
  std::vector<std::pair<uint64_t, uint64_t>> choices_of(const TimelineSlice& slice) const;
};

// Builds the timeline from a log kept with keep_history(). `choices`: the run's draws.
Timeline build_timeline(const sched::EventLog& log, std::vector<Choice> choices, std::optional<Failure> failure);
// The same from a history recorded elsewhere (a crashed worker's shared log): `threads`
// names the tracks (EventLog::threads() order: by id, the scheduler's last).
Timeline build_timeline(std::vector<sched::EventLog::HistoryEvent> history,
                        const std::vector<const sched::EventLog::ThreadEvents*>& threads, std::vector<Choice> choices,
                        std::optional<Failure> failure);

// Where the timelines come from, for their titles.
struct TimelineSource {
  std::string repro;  // the file replayed
  uint64_t seed = 0;
  std::string config_hash;
};

// Chrome Trace Event JSON (the JSON object form, "traceEvents"), which the Perfetto UI
// and chrome://tracing open unchanged. Time: virtual time in microseconds, each event at
// least 1 us after the one before it (most events share one virtual millisecond);
// args.virtual_ms and args.step (the event's seq) give the exact values. Every event of
// the history appears as exactly one trace event carrying args.seq (B, X, i) or
// args.end_seq (E).
std::string timeline_perfetto_json(const Timeline& timeline, const TimelineSource& source);

// One self-contained HTML page (inline SVG, a little script, no network): lanes per
// thread over steps, the failing operation and thread highlighted, the locks held at the
// failure, each thread's last events, the failure on top; hovering an event shows its
// detail, clicking an operation lists the choices it drew.
std::string timeline_html(const Timeline& timeline, const TimelineSource& source);

// Text for HTML: & < > " ' as entities (the pages this tool writes).
std::string html_escape(std::string_view text);

}  // namespace mmt::campaign
