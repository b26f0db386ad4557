// replay --perfetto: the timeline (timeline.h) as Chrome Trace Event JSON, the format the
// Perfetto UI and chrome://tracing read. Rules kept here and checked by the tests: every
// B has its E on the same pid/tid, slices on one tid nest, each flow start has its end,
// and each event of the log's history is one trace event (args.seq or args.end_seq).
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "mmtorture/campaign/timeline.h"

namespace mmt::campaign {

namespace {

using sched::EventKind;
using Json = nlohmann::json;
constexpr int kPid = 1;
constexpr uint64_t kRcuTid = 999999;

// Thread T's own track is 1000*(T+1); its lock lanes follow it (+1, +2, ...).
uint64_t main_tid(uint32_t thread) { return thread == Timeline::kRcuTrack ? kRcuTid : 1000ull * (thread + 1); }
uint64_t lane_tid(uint32_t thread, uint32_t lane) { return main_tid(thread) + 1 + lane; }

// Microseconds: virtual time, but each event at least 1 us after the one before.
std::vector<double> timestamps(const Timeline& t) {
  std::vector<double> ts(t.events.size());
  double previous = -1;
  for (size_t i = 0; i < t.events.size(); ++i) {
    previous = std::max(previous + 1, static_cast<double>(t.events[i].event.virtual_ms) * 1000.0);
    ts[i] = previous;
  }
  return ts;
}

std::string short_name(const sched::EventLog::Event& event) {
  switch (event.kind) {
    case EventKind::Preempt: return "preempted";
    case EventKind::AllocFail: return fmt::format("allocation fails ({})", event.object);
    case EventKind::Reclaim: return "reclaim";
    case EventKind::OomKill: return "OOM kill";
    case EventKind::Rcu: return "RCU grace period";
    case EventKind::Exit: return "exits";
    case EventKind::RunsAgain: return "runs again";
    default: return event.text;
  }
}

class PerfettoWriter {
 public:
  PerfettoWriter(const Timeline& t, const TimelineSource& source) : t_(t), source_(source), ts_(timestamps(t)) {
    for (size_t s = 0; s < t.slices.size(); ++s) {
      const TimelineSlice& slice = t.slices[s];
      begins_[slice.begin].push_back(s);
      if (!slice.unfinished) ends_[slice.end].push_back(s);
    }
    for (size_t f = 0; f < t.flows.size(); ++f) {
      flow_from_[t.flows[f].from] = f;
      flow_to_[t.flows[f].to] = f;
    }
    for (const TimelineTrack& track : t.tracks) names_[track.thread] = track.name;
  }

  std::string write() {
    metadata();
    for (size_t i = 0; i < t_.events.size(); ++i) event(i);
    close_unfinished();
    fail_after_run();
    Json other = {{"repro", source_.repro},
                  {"seed", source_.seed},
                  {"config_hash", source_.config_hash},
                  {"events_in_log", t_.events.size()},
                  {"time_axis", "virtual time in us; each event at least 1 us after the one before "
                                "(args.virtual_ms and args.step are exact)"}};
    if (t_.failure) other["failure"] = t_.failure->headline();
    std::string out = "{\"displayTimeUnit\":\"ms\",\"otherData\":" + other.dump() + ",\n\"traceEvents\":[\n";
    for (size_t i = 0; i < out_.size(); ++i) out += out_[i].dump() + (i + 1 < out_.size() ? ",\n" : "\n");
    out += "]}\n";
    return out;
  }

 private:
  std::string thread_label(uint32_t thread) const {
    auto it = names_.find(thread);
    const std::string name = it == names_.end() ? "?" : it->second;
    return thread == Timeline::kRcuTrack || thread == 0 ? name : fmt::format("T{} {}", thread, name);
  }

  void metadata() {
    out_.push_back({{"ph", "M"}, {"pid", kPid}, {"tid", 0}, {"name", "process_name"},
                    {"args", {{"name", fmt::format("mmtorture replay {} (seed {})", source_.repro, source_.seed)}}}});
    for (const TimelineTrack& track : t_.tracks) {
      thread_meta(main_tid(track.thread), thread_label(track.thread));
      for (uint32_t lane = 0; lane < track.lock_lanes; ++lane)
        thread_meta(lane_tid(track.thread, lane),
                    fmt::format("{} locks{}", thread_label(track.thread), lane ? fmt::format(" {}", lane + 1) : ""));
    }
  }

  void thread_meta(uint64_t tid, const std::string& name) {
    out_.push_back({{"ph", "M"}, {"pid", kPid}, {"tid", tid}, {"name", "thread_name"}, {"args", {{"name", name}}}});
    out_.push_back(
        {{"ph", "M"}, {"pid", kPid}, {"tid", tid}, {"name", "thread_sort_index"}, {"args", {{"sort_index", tid}}}});
  }

  Json base_args(size_t i, const char* seq_key) const {
    const auto& event = t_.events[i].event;
    return {{seq_key, event.seq},
            {"step", event.seq},
            {"virtual_ms", event.virtual_ms},
            {"choices_drawn", event.choices},
            {"kind", sched::event_kind_name(event.kind)},
            {"text", event.text}};
  }

  Json trace_event(const char* ph, uint64_t tid, double ts, std::string name, const char* cat) const {
    return {{"ph", ph}, {"pid", kPid}, {"tid", tid}, {"ts", ts}, {"name", std::move(name)}, {"cat", cat}};
  }

  static const char* category(TimelineSlice::Kind kind) {
    return kind == TimelineSlice::Kind::Op ? "op" : kind == TimelineSlice::Kind::Wait ? "wait" : "lock";
  }

  uint64_t slice_tid(const TimelineSlice& slice) const {
    return slice.kind == TimelineSlice::Kind::Lock ? lane_tid(slice.thread, slice.lane) : main_tid(slice.thread);
  }

  // One history event: exactly one trace event carries its seq (B, X, i) or end_seq (E).
  void event(size_t i) {
    const auto& history = t_.events[i];
    const auto& event = history.event;
    const double ts = ts_[i];
    bool primary = false;
    if (auto it = ends_.find(i); it != ends_.end()) {
      for (size_t s : it->second) {
        const TimelineSlice& slice = t_.slices[s];
        if (slice.begin == slice.end) continue;  // folded: drawn as an X below
        Json e = trace_event("E", slice_tid(slice), ts, slice.name, category(slice.kind));
        e["args"] = base_args(i, "end_seq");
        if (!slice.result.empty()) e["args"]["result"] = slice.result;
        out_.push_back(std::move(e));
        primary = true;
      }
    }
    if (auto it = begins_.find(i); it != begins_.end()) {
      for (size_t s : it->second) {
        const TimelineSlice& slice = t_.slices[s];
        const bool folded = slice.begin == slice.end && !slice.unfinished;
        Json b = trace_event(folded ? "X" : "B", slice_tid(slice), ts, slice.name, category(slice.kind));
        if (folded) b["dur"] = 0.5;
        b["args"] = base_args(i, "seq");
        if (event.kind == EventKind::Block && event.peer) b["args"]["owner"] = thread_label(event.peer);
        out_.push_back(std::move(b));
        primary = true;
      }
    }
    const uint64_t tid = main_tid(t_.track_of(history));
    if (event.kind == EventKind::Wake) {
      Json x = trace_event("X", tid, ts, fmt::format("wakes {}", thread_label(event.peer)), "wake");
      x["dur"] = 0.5;
      x["args"] = base_args(i, "seq");
      out_.push_back(std::move(x));
      primary = true;
      if (auto f = flow_from_.find(i); f != flow_from_.end()) {
        Json s = trace_event("s", tid, ts + 0.25, t_.flows[f->second].name, "wakeup");
        s["id"] = f->second + 1;
        out_.push_back(std::move(s));
      }
    }
    if (event.kind == EventKind::RunsAgain) {
      // A short slice after the wait for the wake-up's arrow to land in.
      Json x = trace_event("X", tid, ts + 0.1, "runs again", "wake");
      x["dur"] = 0.3;
      if (!primary) x["args"] = base_args(i, "seq");
      out_.push_back(std::move(x));
      primary = true;
      if (auto f = flow_to_.find(i); f != flow_to_.end()) {
        Json e = trace_event("f", tid, ts + 0.25, t_.flows[f->second].name, "wakeup");
        e["id"] = f->second + 1;
        e["bp"] = "e";
        out_.push_back(std::move(e));
      }
    }
    if (primary) return;
    Json instant = trace_event("i", tid, ts, short_name(event), sched::event_kind_name(event.kind));
    instant["s"] = event.kind == EventKind::Fail ? "g" : event.kind == EventKind::OomKill ? "p" : "t";
    instant["args"] = base_args(i, "seq");
    if (event.kind == EventKind::AllocFail) instant["args"]["gfp"] = event.object;
    if (event.kind == EventKind::Preempt) instant["args"]["next"] = thread_label(event.peer);
    if (event.kind == EventKind::Fail && t_.failure) {
      instant["args"]["check"] = t_.failure->check;
      instant["args"]["site"] = t_.failure->site;
      instant["args"]["message"] = t_.failure->message;
      instant["args"]["signature"] = t_.failure->signature_id();
    }
    out_.push_back(std::move(instant));
  }

  // Slices still open at the end close after the last event, innermost first.
  void close_unfinished() {
    if (t_.events.empty()) return;
    const double ts = ts_.back() + 0.8;
    for (size_t s = t_.slices.size(); s-- > 0;) {
      const TimelineSlice& slice = t_.slices[s];
      if (!slice.unfinished) continue;
      Json e = trace_event("E", slice_tid(slice), ts, slice.name, category(slice.kind));
      e["args"] = {{"unfinished", "still open when the run stopped at the failure"}};
      out_.push_back(std::move(e));
    }
  }

  // A failure found after the run (an end-of-run check) has no event in the log: it is
  // drawn as a global instant after the last one, carrying no seq.
  void fail_after_run() {
    if (!t_.failure || t_.fail_event || t_.events.empty()) return;
    Json e = trace_event("i", main_tid(t_.track_of(t_.events.back())), ts_.back() + 0.9, "FAIL " + t_.failure->check, "fail_after_run");
    e["s"] = "g";
    e["args"] = {{"check", t_.failure->check}, {"site", t_.failure->site}, {"message", t_.failure->message},
                 {"signature", t_.failure->signature_id()}, {"when", "after the threads' last event"}};
    out_.push_back(std::move(e));
  }

  const Timeline& t_;
  const TimelineSource& source_;
  std::vector<double> ts_;
  std::map<size_t, std::vector<size_t>> begins_, ends_;  // history index -> slices
  std::map<size_t, size_t> flow_from_, flow_to_;         // history index -> flow
  std::map<uint32_t, std::string> names_;
  std::vector<Json> out_;
};

}  // namespace

std::string timeline_perfetto_json(const Timeline& timeline, const TimelineSource& source) {
  return PerfettoWriter(timeline, source).write();
}

}  // namespace mmt::campaign
