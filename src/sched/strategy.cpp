// Strategy parameters and the scheduler's decisions: which thread runs next at a yield
// point and after a thread parks, under random and PCT (a replay uses the decision
// structure of the strategy it replays; only the ChoiceSource differs).
#include "mmtorture/sched/strategy.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "mmtorture/sched/scheduler.h"

namespace mmt::sched {

namespace {
constexpr Site kPctPrioritySite{"pct.priority"};
constexpr Site kPctChangePointSite{"pct.change_point"};
}  // namespace

const char* strategy_name(StrategyKind kind) {
  switch (kind) {
    case StrategyKind::Preempt: return "preempt";
    case StrategyKind::Uniform: return "uniform";
    case StrategyKind::Pct: return "pct";
    case StrategyKind::Replay: return "replay";
  }
  return "invalid";
}

std::optional<StrategyKind> strategy_from_name(std::string_view name) {
  for (StrategyKind kind : {StrategyKind::Preempt, StrategyKind::Uniform, StrategyKind::Pct, StrategyKind::Replay})
    if (name == strategy_name(kind)) return kind;
  if (name == "random") return StrategyKind::Preempt;  // the old name
  return std::nullopt;
}

StrategyConfig StrategyConfig::preempt(double preempt_probability) {
  StrategyConfig config;
  config.kind = StrategyKind::Preempt;
  config.preempt_probability = preempt_probability;
  return config;
}

StrategyConfig StrategyConfig::uniform() {
  StrategyConfig config;
  config.kind = StrategyKind::Uniform;
  return config;
}

StrategyConfig StrategyConfig::pct(uint32_t depth, uint64_t steps) {
  StrategyConfig config;
  config.kind = StrategyKind::Pct;
  config.pct_depth = depth;
  config.pct_steps = steps;
  return config;
}

StrategyConfig StrategyConfig::replay_of(const StrategyConfig& recorded) {
  StrategyConfig config = recorded;
  config.replayed = recorded.effective();
  config.kind = StrategyKind::Replay;
  return config;
}

namespace {
// Checked on every scheduler's construction: a switch, not a round trip through names.
bool known_kind(StrategyKind kind) {
  switch (kind) {
    case StrategyKind::Preempt:
    case StrategyKind::Uniform:
    case StrategyKind::Pct:
    case StrategyKind::Replay: return true;
  }
  return false;
}
}  // namespace

void StrategyConfig::validate() const {
  if (!known_kind(kind)) throw std::invalid_argument("strategy: unknown kind");
  if (kind == StrategyKind::Replay && (replayed == StrategyKind::Replay || !known_kind(replayed)))
    throw std::invalid_argument(
        "strategy replay: must name the strategy it replays (preempt, uniform or pct), not replay");
  const StrategyKind decisions = effective();
  if (decisions == StrategyKind::Preempt && !(preempt_probability >= 0.0 && preempt_probability <= 1.0))
    throw std::invalid_argument(
        fmt::format("strategy preempt: preempt probability {} is outside [0, 1]", preempt_probability));
  if (decisions == StrategyKind::Pct) {
    if (pct_depth < 1) throw std::invalid_argument("strategy pct: depth must be at least 1 (got 0)");
    if (pct_steps < 1) throw std::invalid_argument("strategy pct: estimated steps k must be at least 1 (got 0)");
    if (pct_steps < pct_depth - 1)
      throw std::invalid_argument(fmt::format(
          "strategy pct: estimated steps k ({}) leave no room for d-1 = {} distinct change points", pct_steps,
          pct_depth - 1));
  }
}

std::string StrategyConfig::describe() const {
  auto describe_kind = [this](StrategyKind decisions) {
    if (decisions == StrategyKind::Pct) return fmt::format("pct(d={}, k={})", pct_depth, pct_steps);
    if (decisions == StrategyKind::Uniform) return std::string("uniform");
    return fmt::format("preempt(p={})", preempt_probability);
  };
  if (kind == StrategyKind::Replay) return fmt::format("replay({})", describe_kind(replayed));
  return describe_kind(kind);
}

double pct_guarantee(uint64_t threads, uint64_t steps, uint32_t depth) {
  if (threads == 0 || steps == 0 || depth == 0) return 0.0;
  return 1.0 / (static_cast<double>(threads) * std::pow(static_cast<double>(steps), depth - 1.0));
}

void PctCampaignGuarantee::add(double run_guarantee) {
  ++runs_;
  if (run_guarantee <= 0) return;
  log_miss_ += run_guarantee >= 1 ? -HUGE_VAL : std::log1p(-run_guarantee);
}

double PctCampaignGuarantee::probability() const { return -std::expm1(log_miss_); }

// ---- Scheduler decisions ----

void Scheduler::make_runnable(Thread& thread, WakeReason reason) {
  thread.state_ = ThreadState::Runnable;
  thread.wake_reason_ = reason;
  runnable_.push_back(&thread);
}

void Scheduler::remove_runnable(Thread& thread) {
  // By hand rather than find and erase: the list is short, and erase's memmove call
  // costs more than the few pointers it moves (every finish and block removes one).
  // The later threads move down one place, from the back (a rotation, which compilers
  // leave a loop rather than turn into that call).
  Thread** const threads = runnable_.data();
  const size_t count = runnable_.size();
  size_t i = 0;
  while (i < count && threads[i] != &thread) ++i;
  if (i == count) return;
  Thread* carried = threads[count - 1];
  for (size_t j = count - 1; j > i; --j) std::swap(carried, threads[j - 1]);
  runnable_.pop_back();
}

void Scheduler::yield_point(Site site) {
  Thread* thread = current_;
  thread->note_site(site);
  ++yield_points_;
  if (++steps_ == pct_next_step_) [[unlikely]]
    pct_change_point();
  check_progress_budget(*thread);
  if (runnable_.size() < 2) return;  // nobody else could run: not a decision
  Thread* next = choose_at_yield(site);
  if (!next || next == thread || doomed()) return;
  if (options_.event_log) [[unlikely]]
    note_preempted(*next);
  switch_away(next);
}

void Scheduler::release_point(Site site) {
  Thread* thread = current_;
  ++thread->no_kill_;
  yield_point(site);
  --thread->no_kill_;
}

namespace {
Thread* highest_priority(const std::vector<Thread*>& runnable) {
  Thread* best = runnable.front();
  for (Thread* thread : runnable)
    if (thread->priority() > best->priority()) best = thread;
  return best;
}
}  // namespace

Thread* Scheduler::choose_at_yield(Site site) {
  Thread* thread = current_;
  switch (options_.strategy.effective()) {
    case StrategyKind::Pct: return highest_priority(runnable_);
    case StrategyKind::Uniform: {
      // 0 keeps the running thread (the simplest choice); i ≥ 1 is the i-th other one.
      uint64_t index = choices_.draw(ChoiceKind::Pick, site, runnable_.size());
      if (index == 0) return nullptr;
      for (Thread* other : runnable_)
        if (other != thread && --index == 0) return other;
      return nullptr;
    }
    default: break;
  }
  const double p = options_.strategy.preempt_probability;
  // p = 0 never preempts and p = 1 always does: a certain outcome is not a decision,
  // so nothing is drawn (and a replay under the same p draws nothing either).
  if (p <= 0.0) return nullptr;
  if (p < 1.0 && !choices_.flip(ChoiceKind::Preempt, site, p)) return nullptr;
  uint64_t index = choices_.draw(ChoiceKind::Pick, site, runnable_.size() - 1);
  for (Thread* other : runnable_)
    if (other != thread && index-- == 0) return other;
  return nullptr;
}

Thread* Scheduler::choose_next(Site site) {
  if (++steps_ == pct_next_step_) [[unlikely]]
    pct_change_point();
  if (options_.strategy.effective() == StrategyKind::Pct) return highest_priority(runnable_);
  return runnable_[choices_.draw(ChoiceKind::Pick, site, runnable_.size())];
}

void Scheduler::pct_setup() {
  // d-1 distinct steps of 1..k as an ordered tuple: the i-th draw picks among the k-i+1
  // steps not taken yet, and change point i carries priority i (the draw order, not
  // the time order, decides which demoted thread outranks which, as in the paper).
  // The change points are kept sorted by step as they are drawn, so they are also the
  // sorted list of the steps taken so far (the steps are distinct).
  const StrategyConfig& config = options_.strategy;
  for (uint32_t i = 1; i < config.pct_depth; ++i) {
    uint64_t step = 1 + choices_.draw(ChoiceKind::Priority, kPctChangePointSite, config.pct_steps - (i - 1));
    for (const PctChangePoint& earlier : pct_change_points_)  // the step-th smallest step not taken yet
      if (earlier.step <= step) ++step;
    const auto at = std::upper_bound(pct_change_points_.begin(), pct_change_points_.end(), step,
                                     [](uint64_t s, const PctChangePoint& point) { return s < point.step; });
    pct_change_points_.insert(at, PctChangePoint{step, static_cast<int64_t>(i)});
  }
  pct_next_change_ = 0;
  pct_next_step_ = pct_change_points_.empty() ? UINT64_MAX : pct_change_points_.front().step;
}

void Scheduler::pct_change_point() {
  // The thread about to run this step (the highest-priority runnable one; the running
  // thread at a yield point where it is alone) drops to the change point's priority.
  const PctChangePoint& change = pct_change_points_[pct_next_change_++];
  pct_next_step_ =
      pct_next_change_ < pct_change_points_.size() ? pct_change_points_[pct_next_change_].step : UINT64_MAX;
  if (runnable_.empty()) return;
  Thread* demoted = highest_priority(runnable_);
  demoted->priority_ = change.priority;
  auto it = std::find(pct_order_.begin(), pct_order_.end(), demoted);
  if (it != pct_order_.end()) pct_order_.erase(it);
}

void Scheduler::pct_place(Thread& thread) {
  // A random rank among the threads still holding initial priorities: the new thread
  // goes in at that position and the band d, d+1, ... is renumbered, so priorities stay
  // distinct and above every change-point priority (1 .. d-1).
  const uint64_t rank = choices_.draw(ChoiceKind::Priority, kPctPrioritySite, pct_order_.size() + 1);
  pct_order_.insert(pct_order_.begin() + static_cast<std::ptrdiff_t>(rank), &thread);
  const auto depth = static_cast<int64_t>(options_.strategy.pct_depth);
  const auto count = static_cast<int64_t>(pct_order_.size());
  for (int64_t i = 0; i < count; ++i) pct_order_[static_cast<size_t>(i)]->priority_ = depth + (count - i);
}

}  // namespace mmt::sched
