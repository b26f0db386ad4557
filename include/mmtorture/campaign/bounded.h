// Bounded exploration as a campaign (schedule.strategy = "bounded"):
// what one seed — one slice of the world's schedules (sched/explore.h) — reports, and
// how the slices of a campaign add up to a claim about the whole space.
//
// A seed s explores slice s-1 of schedule.bounded_slices: every schedule of its slice
// with at most schedule.bounded_preemptions preemptions, bounds 0, 1, ... in turn,
// stopping at its first failing schedule, whose choices are an ordinary repro (it
// replays and shrinks under uniform's decisions). Its journal line carries the slice's
// counts, so a resumed, sharded or merged campaign adds them up from its journals: the
// space is exhausted at bound c when every slice is journaled and explored to c
// without a failure; with failures, every slice explored the bounds below the smallest
// failing one.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>

namespace mmt::campaign {

// One seed's slice of the exploration.
struct BoundedSlice {
  uint64_t slice = 0, slices = 1;  // slice (0-based) of slices
  uint32_t bound_asked = 0;        // schedule.bounded_preemptions
  uint32_t bound = 0;              // the last bound explored (the failing one, with a failure)
  uint64_t schedules = 0;          // runs over every bound explored (each bound re-runs those below)
  uint64_t schedules_at_bound = 0; // schedules with <= bound preemptions (the last bound's runs)
  uint64_t redundant_at_bound = 0; // of those, runs the sleep sets found equivalent to one run before
  uint64_t probes = 0;             // runs of the spine outside slice 0 (explore.h), not schedules
  bool exhausted = false;          // every schedule of the slice with <= bound preemptions ran clean
  bool complete = false;           // and none of the slice's schedules has more preemptions
  uint32_t failing_preemptions = 0;  // the failing schedule's preemptions (with a failure)
};

// The slice as a JSON object (journal lines, worker reports), and back. The reader
// throws std::exception on anything else.
std::string bounded_slice_json(const BoundedSlice& slice);
BoundedSlice bounded_slice_from_json(const std::string& text);

// A campaign's slices, over every journal entry added.
class BoundedTotals {
 public:
  void add(uint64_t seed, const BoundedSlice& slice, bool failed);
  bool any() const { return !seeds_.empty(); }
  // "bounded: ..." lines for the SUMMARY (see the file comment for what is claimed).
  std::string summary_text() const;
  // The same as a JSON object for summary.json.
  std::string summary_json() const;

 private:
  std::set<uint64_t> seeds_;
  uint64_t slices_ = 0, schedules_ = 0, runs_ = 0, redundant_ = 0;
  uint32_t bound_asked_ = 0;
  bool all_clean_exhausted_ = true, all_complete_ = true;
  uint32_t max_complete_bound_ = 0;
  std::optional<uint32_t> failing_bound_;  // the smallest failing bound
  uint64_t failing_seed_ = 0;              // its first seed
};

}  // namespace mmt::campaign
