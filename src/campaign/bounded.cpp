// Bounded exploration as a campaign: one seed's slice, and the slices added up
// (bounded.h).
#include "mmtorture/campaign/bounded.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "mmtorture/campaign/seed_run.h"
#include "mmtorture/core/trace_hash.h"
#include "mmtorture/sched/explore.h"

namespace mmt::campaign {

std::string bounded_slice_json(const BoundedSlice& s) {
  nlohmann::ordered_json j;
  j["slice"] = s.slice;
  j["slices"] = s.slices;
  j["bound_asked"] = s.bound_asked;
  j["bound"] = s.bound;
  j["schedules"] = s.schedules;
  j["schedules_at_bound"] = s.schedules_at_bound;
  j["redundant_at_bound"] = s.redundant_at_bound;
  j["probes"] = s.probes;
  j["exhausted"] = s.exhausted;
  j["complete"] = s.complete;
  j["failing_preemptions"] = s.failing_preemptions;
  return j.dump();
}

BoundedSlice bounded_slice_from_json(const std::string& text) {
  const auto j = nlohmann::json::parse(text);
  BoundedSlice s;
  s.slice = j.at("slice").get<uint64_t>();
  s.slices = j.at("slices").get<uint64_t>();
  s.bound_asked = j.at("bound_asked").get<uint32_t>();
  s.bound = j.at("bound").get<uint32_t>();
  s.schedules = j.at("schedules").get<uint64_t>();
  s.schedules_at_bound = j.at("schedules_at_bound").get<uint64_t>();
  s.redundant_at_bound = j.at("redundant_at_bound").get<uint64_t>();
  s.probes = j.at("probes").get<uint64_t>();
  s.exhausted = j.at("exhausted").get<bool>();
  s.complete = j.at("complete").get<bool>();
  s.failing_preemptions = j.at("failing_preemptions").get<uint32_t>();
  if (s.slices == 0 || s.slice >= s.slices) throw std::invalid_argument("bounded: slice out of range");
  return s;
}

void BoundedTotals::add(uint64_t seed, const BoundedSlice& s, bool failed) {
  if (!seeds_.insert(seed).second) return;
  slices_ = std::max(slices_, s.slices);
  bound_asked_ = std::max(bound_asked_, s.bound_asked);
  schedules_ += s.schedules_at_bound;
  runs_ += s.schedules;
  redundant_ += s.redundant_at_bound;
  if (failed) {
    if (!failing_bound_ || s.bound < *failing_bound_ || (s.bound == *failing_bound_ && seed < failing_seed_)) {
      failing_bound_ = s.bound;
      failing_seed_ = seed;
    }
    all_complete_ = false;
    return;
  }
  if (!s.exhausted) all_clean_exhausted_ = false;
  if (!s.complete) all_complete_ = false;
  max_complete_bound_ = std::max(max_complete_bound_, s.bound);
}

std::string BoundedTotals::summary_text() const {
  if (!any()) return {};
  const bool every_slice = seeds_.size() == slices_;
  std::string text = fmt::format(
      "  bounded: {} of {} slices explored, {} schedules run over bounds 0..{} ({} at each slice's last bound, {} of "
      "them redundant)\n",
      seeds_.size(), slices_, runs_, bound_asked_, schedules_, redundant_);
  if (failing_bound_) {
    text += fmt::format("  bounded: first failing schedule has {} preemptions (seed {}); {}\n", *failing_bound_,
                        failing_seed_,
                        *failing_bound_ == 0 ? "it is the minimal bound"
                        : every_slice        ? fmt::format("no failure with <= {} preemptions: every slice explored "
                                                           "them to the end, so {} is the minimal bound",
                                                           *failing_bound_ - 1, *failing_bound_)
                                             : "not every slice ran: a smaller bound may fail in another slice");
  } else if (every_slice && all_clean_exhausted_) {
    text += fmt::format("  bounded: no failure with <= {} preemptions in {} schedules (space exhausted){}\n",
                        bound_asked_, schedules_,
                        all_complete_ ? fmt::format("; no schedule has more than {} preemptions: every schedule "
                                                    "there is ran",
                                                    max_complete_bound_)
                                      : "");
  } else {
    text += "  bounded: space not exhausted: not every slice ran to its bound\n";
  }
  return text;
}

std::string BoundedTotals::summary_json() const {
  nlohmann::ordered_json j;
  j["slices"] = slices_;
  j["slices_explored"] = seeds_.size();
  j["bound_asked"] = bound_asked_;
  j["schedules"] = schedules_;
  j["runs"] = runs_;
  j["redundant"] = redundant_;
  const bool every_slice = seeds_.size() == slices_;
  j["exhausted"] = !failing_bound_ && every_slice && all_clean_exhausted_;
  j["complete"] = !failing_bound_ && every_slice && all_complete_;
  if (failing_bound_) {
    j["failing_bound"] = *failing_bound_;
    j["failing_seed"] = failing_seed_;
  } else {
    j["failing_bound"] = nullptr;
  }
  return j.dump();
}

SeedResult explore_seed(const Config& config, uint64_t seed, std::vector<Choice>* failing_choices) {
  sched::ExploreOptions options;
  options.preemption_bound = static_cast<uint32_t>(config.schedule.bounded_preemptions);
  options.sleep_sets = config.schedule.bounded_sleep_sets;
  options.unnamed_state = true;  // the world names none of its own state (README: bounded exploration)
  options.data_seed = config.schedule.bounded_data_seed;
  options.slice = seed - 1;
  options.slices = config.schedule.bounded_slices;
  SeedResult out;
  TraceHash digest;  // of the slice's schedules' traces, in the order run
  options.on_schedule = [&digest](uint32_t bound, const sched::RunResult& run) {
    digest.fold(TraceEvent::Custom, bound, run.trace_hash);
  };
  const sched::ExploredProgram program = [&](ChoiceSource& choices) {
    const SeedResult schedule = run_seed(config, choices);  // the slice's own or a probe
    out.ops += schedule.ops;
    out.virtual_ms += schedule.virtual_ms;
    sched::RunResult run;
    run.failure = schedule.failure;
    run.trace_hash = schedule.trace_hash;
    return run;
  };
  const sched::ExploreResult e = sched::explore_bounded(program, options);
  BoundedSlice slice;
  slice.slice = options.slice;
  slice.slices = options.slices;
  slice.bound_asked = options.preemption_bound;
  slice.bound = e.bound;
  slice.schedules = e.schedules;
  slice.schedules_at_bound = e.schedules_at_bound;
  slice.redundant_at_bound = e.redundant_at_bound;
  slice.probes = e.probes;
  slice.exhausted = e.exhausted;
  slice.complete = e.complete;
  slice.failing_preemptions = e.failing_preemptions;
  out.bounded = slice;
  out.failure = e.failure;
  out.trace_hash = e.failure ? e.failing_trace_hash : digest.value();
  if (failing_choices) *failing_choices = e.failing_choices;
  out.stats = fmt::format(
      "bounded: slice {} of {}, {} schedules with <= {} preemptions ({} runs over bounds 0..{}, {} redundant, {} "
      "probes){}",
      slice.slice + 1, slice.slices, slice.schedules_at_bound, slice.bound, slice.schedules, slice.bound,
      slice.redundant_at_bound, slice.probes,
      e.failure       ? fmt::format(": failing schedule with {} preemptions", e.failing_preemptions)
      : e.complete    ? ": exhausted, no schedule of the slice has more preemptions"
      : e.exhausted   ? ": exhausted"
                      : "");
  return out;
}

}  // namespace mmt::campaign
