// replay --perfetto and --html: the timeline of a real failing
// run checked against the rules of the Chrome Trace Event format (every B has its E on
// the same pid/tid, slices on one tid nest, flow starts and ends pair up, every event
// names its pid and tid) and against the event log it was drawn from (one trace event per
// logged event); the HTML page has one lane per thread, the failing operation marked,
// no way to load anything, and the choices of each operation.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "mmtorture/campaign/config.h"
#include "mmtorture/campaign/seed_run.h"
#include "mmtorture/campaign/timeline.h"
#include "mmtorture/sched/event_log.h"

namespace mmt::campaign {
namespace {

using Json = nlohmann::json;

// The brk/kswapd canary (seed 002): kswapd's reverse-map walk sees the heap VMA shrink.
Config brk_canary() {
  return parse_config_text(
      "[world]\nmemory_pages = 512\nreserved_pages = 340\nmin_free_pages = 128\nmm_slots = 1\n"
      "[workload]\nworkers = 1\nmix_mmap_fixed = 4\nmix_mmap = 0\nmix_munmap = 0\nmix_mprotect = 0\nmix_fault = 10\n"
      "mix_mremap = 0\nmix_brk = 10\nmix_fork = 0\nmix_exit = 0\nmix_heap_fault = 20\n"
      "[faults]\nnowait_fail_probability = 0.0\n[schedule]\npreempt_probability = 0.5\n"
      "[run]\nops_per_seed = 3000\ndefects = [\"brk-munmap-shortcut\"]\n",
      "brk.toml");
}

// Four workers racing with kswapd under pressure, with a planted failure at a fork.
Config busy_world() {
  Config config;
  config.run.ops_per_seed = 600;
  config.checks.selftest_plant_fork_after_op = 150;
  config.schedule.preempt_probability = 0.3;
  config.workload.workers = 4;
  config.world.memory_pages = 1024;
  config.faults.nowait_fail_probability = 0.05;
  return config;
}

struct Replayed {
  SeedResult result;
  Timeline timeline;
  uint64_t recorded = 0;
};

Replayed replay_with_history(const Config& config, uint64_t seed) {
  sched::EventLog log(4);
  log.keep_history();
  SeedHooks hooks;
  hooks.event_log = &log;
  SeededChoices choices(seed);
  Replayed out;
  out.result = run_seed(config, choices, hooks);
  out.recorded = log.recorded();
  out.timeline = build_timeline(log, choices.recorded(), out.result.failure);
  return out;
}

// The format's rules, checked on the parsed JSON: what breaks them, one line each
// (empty when the trace follows them). Also that each logged event (seq 1..recorded)
// is exactly one trace event, as args.seq or args.end_seq.
std::vector<std::string> trace_event_problems(const Json& trace, uint64_t recorded) {
  std::vector<std::string> problems;
  auto problem = [&](const std::string& what, const Json& e) { problems.push_back(what + ": " + e.dump()); };
  const Json& events = trace.at("traceEvents");
  struct Open {
    std::string name;
    double end;  // +inf for a B not yet ended
  };
  std::map<std::pair<int64_t, int64_t>, std::vector<Open>> stacks;  // (pid, tid) -> open slices
  std::map<uint64_t, int> flow_starts, flow_ends;
  std::set<uint64_t> seqs;
  double last_ts = -1;
  for (const Json& e : events) {
    const std::string ph = e.at("ph");
    if (!e.contains("pid") || !e.contains("tid")) {
      problem("no pid or tid", e);
      continue;
    }
    if (ph == "M") continue;
    const double ts = e.at("ts");
    // Our nesting check needs time order (the format does not ask for it).
    if (ts < last_ts - 1) problem("out of time order", e);
    last_ts = std::max(last_ts, ts);
    auto& stack = stacks[{e.at("pid"), e.at("tid")}];
    while (!stack.empty() && stack.back().end < ts) stack.pop_back();  // X slices that ended
    if (ph == "B") {
      stack.push_back({e.at("name"), INFINITY});
    } else if (ph == "E") {
      if (stack.empty()) problem("E without its B", e);
      else if (stack.back().end != INFINITY) problem("E inside an X", e);
      else if (stack.back().name != e.at("name").get<std::string>()) problem("improper nesting", e);
      if (!stack.empty()) stack.pop_back();
    } else if (ph == "X") {
      const double end = ts + e.at("dur").get<double>();
      if (e.at("dur").get<double>() <= 0) problem("X without a duration", e);
      if (!stack.empty() && end > stack.back().end) problem("X overlaps its parent", e);
      stack.push_back({e.at("name"), end});
    } else if (ph == "i") {
      if (e.at("s") != "t" && e.at("s") != "p" && e.at("s") != "g") problem("instant with a bad scope", e);
    } else if (ph == "s" || ph == "f") {
      ++(ph == "s" ? flow_starts : flow_ends)[e.at("id")];
      if (ph == "f" && e.value("bp", "") != "e") problem("flow end not bound to its enclosing slice", e);
      if (stack.empty()) problem("a flow outside any slice binds to nothing", e);
    } else {
      problem("unexpected phase", e);
    }
    if (!e.contains("args")) continue;
    for (const char* key : {"seq", "end_seq"})
      if (e.at("args").contains(key) && !seqs.insert(e.at("args").at(key).get<uint64_t>()).second)
        problem("an event twice", e);
  }
  for (auto& [key, stack] : stacks)
    for (const Open& open : stack)
      if (open.end == INFINITY) problems.push_back("B without its E: " + open.name);
  if (flow_starts != flow_ends) problems.push_back("a flow start without its end, or an end without its start");
  for (const auto& [id, n] : flow_starts)
    if (n != 1) problems.push_back(fmt::format("flow id {} used {} times", id, n));
  if (seqs.size() != recorded || (!seqs.empty() && (*seqs.begin() != 1 || *seqs.rbegin() != recorded)))
    problems.push_back(fmt::format("{} logged events in the trace, the log recorded {}", seqs.size(), recorded));
  return problems;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line.substr(0, 300) + "\n";
  return out;
}

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(Timeline, RecordingTheHistoryChangesNothingInTheRun) {
  for (const Config& config : {brk_canary(), busy_world()}) {
    SeededChoices plain(1);
    const SeedResult without = run_seed(config, plain);
    const Replayed with = replay_with_history(config, 1);
    EXPECT_EQ(with.result.trace_hash, without.trace_hash);
    EXPECT_EQ(with.result.ops, without.ops);
    ASSERT_TRUE(with.result.failure.has_value());
    EXPECT_EQ(with.result.failure->signature(), without.failure->signature());
  }
}

TEST(Timeline, PerfettoJsonFollowsTheTraceEventRulesAndCountsEveryLoggedEvent) {
  for (uint64_t seed : {1u, 2u, 3u}) {
    for (const Config& config : {brk_canary(), busy_world()}) {
      const Replayed r = replay_with_history(config, seed);
      ASSERT_TRUE(r.result.failure.has_value());
      ASSERT_EQ(r.timeline.events.size(), r.recorded) << "the history keeps every event";
      const std::string text = timeline_perfetto_json(r.timeline, TimelineSource{"x.repro.json", seed, "0123"});
      const Json trace = Json::parse(text);
      const auto problems = trace_event_problems(trace, r.recorded);
      EXPECT_TRUE(problems.empty()) << joined(problems);
      EXPECT_EQ(trace.at("otherData").at("events_in_log"), r.recorded);
      EXPECT_EQ(trace.at("otherData").at("failure"), r.result.failure->headline());

      // A track per thread (named), the failure as a global instant with its check.
      std::set<std::string> names;
      size_t fails = 0;
      for (const Json& e : trace.at("traceEvents")) {
        if (e.at("ph") == "M" && e.at("name") == "thread_name") names.insert(e.at("args").at("name"));
        if (e.at("ph") == "i" && e.at("args").at("kind") == "fail") {
          ++fails;
          EXPECT_EQ(e.at("s"), "g");
          EXPECT_EQ(e.at("args").at("check"), r.result.failure->check);
        }
      }
      EXPECT_EQ(fails, 1u);
      EXPECT_TRUE(names.count("T1 kswapd0")) << text.substr(0, 2000);
      for (unsigned w = 0; w < config.workload.workers; ++w)
        EXPECT_TRUE(names.count(fmt::format("T{} worker{}", w + 2, w))) << w;
    }
  }
}

TEST(Timeline, TheRuleCheckCatchesAMissingEndAnUnpairedFlowAndALostEvent) {
  const Replayed r = replay_with_history(busy_world(), 1);
  const Json good = Json::parse(timeline_perfetto_json(r.timeline, TimelineSource{"x.repro.json", 1, "0123"}));
  auto without_first = [&](const char* ph) {
    Json trace = good;
    Json& events = trace["traceEvents"];
    for (size_t i = 0; i < events.size(); ++i)
      if (events[i].at("ph") == ph) {
        events.erase(i);
        break;
      }
    return trace;
  };
  EXPECT_TRUE(trace_event_problems(good, r.recorded).empty());
  EXPECT_NE(joined(trace_event_problems(without_first("E"), r.recorded)).find("B without its E"), std::string::npos);
  EXPECT_NE(joined(trace_event_problems(without_first("f"), r.recorded)).find("a flow start without its end"),
            std::string::npos);
  EXPECT_NE(joined(trace_event_problems(without_first("i"), r.recorded)).find("logged events in the trace"),
            std::string::npos);
  Json unnamed = good;
  unnamed["traceEvents"][3].erase("tid");
  EXPECT_NE(joined(trace_event_problems(unnamed, r.recorded)).find("no pid or tid"), std::string::npos);
}

TEST(Timeline, BusyWorldHasWaitsWakeUpsLockLanesAndAllocationFailures) {
  const Replayed r = replay_with_history(busy_world(), 1);
  const std::string text = timeline_perfetto_json(r.timeline, TimelineSource{"x.repro.json", 1, "0123"});
  const Json trace = Json::parse(text);
  std::map<std::string, size_t> by_kind;
  size_t flows = 0, gfp = 0, lock_slices = 0, op_results = 0;
  for (const Json& e : trace.at("traceEvents")) {
    if (e.contains("args") && e.at("args").contains("kind")) ++by_kind[e.at("args").at("kind")];
    if (e.at("ph") == "s") ++flows;
    if (e.contains("args") && e.at("args").contains("gfp")) {
      ++gfp;
      EXPECT_NE(e.at("args").at("gfp").get<std::string>().find("GFP_"), std::string::npos) << e.dump();
    }
    if (e.at("ph") == "B" && e.at("cat") == "lock") {
      ++lock_slices;
      EXPECT_TRUE(std::regex_match(e.at("name").get<std::string>(), std::regex("'[a-z_]+'#[0-9]+"))) << e.dump();
    }
    if (e.at("ph") == "E" && e.at("cat") == "op" && e.at("args").contains("result")) ++op_results;
  }
  EXPECT_GE(by_kind["preempt"], 1u);
  EXPECT_GE(by_kind["block"], 1u);
  EXPECT_GE(by_kind["wake"], 1u);
  EXPECT_GE(flows, 1u) << "a wake-up is drawn as an arrow to the thread it woke";
  EXPECT_GE(gfp, 1u) << "injected GFP_NOWAIT failures carry their flags";
  EXPECT_GE(lock_slices, 1u);
  EXPECT_GE(op_results, 100u) << "finished operations carry their line (arguments, result)";
}

TEST(Timeline, HtmlHasALanePerThreadTheFailingOperationAndNoWayToLoadAnything) {
  const Replayed r = replay_with_history(brk_canary(), 1);
  ASSERT_TRUE(r.timeline.failing_slice.has_value());
  const std::string html = timeline_html(r.timeline, TimelineSource{"x.repro.json", 1, "0123"});
  EXPECT_EQ(count(html, "<g class=\"lane\""), r.timeline.tracks.size());
  EXPECT_EQ(count(html, "class=\"op failing\""), 1u);
  EXPECT_EQ(count(html, "lane-bg failing-thread"), 1u);
  EXPECT_NE(html.find("content=\"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'\""),
            std::string::npos);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  EXPECT_EQ(html.find("href=\"http"), std::string::npos);
  EXPECT_NE(html.find(r.result.failure->headline().substr(0, 40)), std::string::npos);
  EXPECT_NE(html.find("<ul id=\"held-locks\">"), std::string::npos);
  // The failing operation's choices are in the page's data.
  const size_t start = html.find("<script type=\"application/json\" id=\"op-choices\">");
  ASSERT_NE(start, std::string::npos);
  const size_t body = html.find('>', start) + 1;
  const Json ops = Json::parse(html.substr(body, html.find("</script>", body) - body));
  const Json& failing = ops.at(std::to_string(*r.timeline.failing_slice));
  EXPECT_GE(failing.at("choices").size(), 1u);
  for (const Json& choice : failing.at("choices")) {
    ASSERT_EQ(choice.size(), 4u);
    EXPECT_LT(choice[3].get<uint64_t>(), choice[2].get<uint64_t>()) << "value < bound";
  }
}

TEST(Timeline, ChoicesOfTheOperationsCoverEachWorkloadDrawOnce) {
  const Replayed r = replay_with_history(busy_world(), 2);
  std::vector<int> owner(r.timeline.choices.size(), 0);
  for (const TimelineSlice& slice : r.timeline.slices) {
    if (slice.kind != TimelineSlice::Kind::Op || slice.thread < 2) continue;  // the workers' operations
    for (const auto& [first, last] : r.timeline.choices_of(slice))
      for (uint64_t c = first; c < last; ++c) ++owner[c];
  }
  size_t op_draws = 0;
  for (size_t c = 0; c < r.timeline.choices.size(); ++c) {
    if (r.timeline.choices[c].kind != ChoiceKind::Op) continue;
    ++op_draws;
    EXPECT_LE(owner[c], 1) << "choice " << c << " claimed by two operations";
  }
  EXPECT_GE(op_draws, 100u);
}

}  // namespace
}  // namespace mmt::campaign
