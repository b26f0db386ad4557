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
    case StrategyKind::Random: return "random";
    case StrategyKind::Pct: return "pct";
    case StrategyKind::Replay: return "replay";
  }
  return "invalid";
}

std::optional<StrategyKind> strategy_from_name(std::string_view name) {
  for (StrategyKind kind : {StrategyKind::Random, StrategyKind::Pct, StrategyKind::Replay})
    if (name == strategy_name(kind)) return kind;
  return std::nullopt;
}

StrategyConfig StrategyConfig::random(double preempt_probability) {
  StrategyConfig config;
  config.kind = StrategyKind::Random;
  config.preempt_probability = preempt_probability;
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

void StrategyConfig::validate() const {
  if (kind != StrategyKind::Random && kind != StrategyKind::Pct && kind != StrategyKind::Replay)
    throw std::invalid_argument("strategy: unknown kind");
  if (kind == StrategyKind::Replay && replayed == StrategyKind::Replay)
    throw std::invalid_argument("strategy replay: must name the strategy it replays (random or pct), not replay");
  const StrategyKind decisions = effective();
  if (decisions == StrategyKind::Random && !(preempt_probability >= 0.0 && preempt_probability <= 1.0))
    throw std::invalid_argument(
        fmt::format("strategy random: preempt probability {} is outside [0, 1]", preempt_probability));
  if (decisions == StrategyKind::Pct) {
    if (pct_depth < 1) throw std::invalid_argument("strategy pct: depth must be at least 1 (got 0)");
    if (pct_steps < 1) throw std::invalid_argument("strategy pct: estimated steps k must be at least 1 (got 0)");
  }
}

std::string StrategyConfig::describe() const {
  auto describe_kind = [this](StrategyKind decisions) {
    if (decisions == StrategyKind::Pct) return fmt::format("pct(d={}, k={})", pct_depth, pct_steps);
    return fmt::format("random(p={})", preempt_probability);
  };
  if (kind == StrategyKind::Replay) return fmt::format("replay({})", describe_kind(replayed));
  return describe_kind(kind);
}

double pct_guarantee(uint64_t threads, uint64_t steps, uint32_t depth) {
  if (threads == 0 || steps == 0 || depth == 0) return 0.0;
  return 1.0 / (static_cast<double>(threads) * std::pow(static_cast<double>(steps), depth - 1.0));
}

// ---- Scheduler decisions ----

void Scheduler::make_runnable(Thread& thread, WakeReason reason) {
  thread.state_ = ThreadState::Runnable;
  thread.wake_reason_ = reason;
  runnable_.push_back(&thread);
}

void Scheduler::remove_runnable(Thread& thread) {
  auto it = std::find(runnable_.begin(), runnable_.end(), &thread);
  if (it != runnable_.end()) runnable_.erase(it);
}

void Scheduler::yield_point(Site site) {
  Thread* thread = current_;
  thread->note_site(site);
  ++yield_points_;
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

void Scheduler::count_step(Thread* running) {
  ++steps_;
  if (options_.strategy.effective() != StrategyKind::Pct) return;
  // The i-th change point (1-based) drops the running thread to priority i: below every
  // initial priority (which start at d), above nothing demoted later.
  while (pct_next_change_ < pct_change_points_.size() && pct_change_points_[pct_next_change_] <= steps_) {
    ++pct_next_change_;
    if (!running) continue;
    running->priority_ = static_cast<int64_t>(pct_next_change_);
    auto it = std::find(pct_order_.begin(), pct_order_.end(), running);
    if (it != pct_order_.end()) pct_order_.erase(it);
  }
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
  count_step(thread);
  if (options_.strategy.effective() == StrategyKind::Pct) return highest_priority(runnable_);
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
  if (runnable_.size() >= 2) count_step(current_);
  if (options_.strategy.effective() == StrategyKind::Pct) return highest_priority(runnable_);
  return runnable_[choices_.draw(ChoiceKind::Pick, site, runnable_.size())];
}

void Scheduler::pct_setup() {
  const StrategyConfig& config = options_.strategy;
  for (uint32_t i = 1; i < config.pct_depth; ++i)
    pct_change_points_.push_back(1 + choices_.draw(ChoiceKind::Priority, kPctChangePointSite, config.pct_steps));
  std::sort(pct_change_points_.begin(), pct_change_points_.end());
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
