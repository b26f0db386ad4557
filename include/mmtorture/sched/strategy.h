// Scheduling strategies (design.md §3): how the scheduler turns draws on the run's
// ChoiceSource into "which green thread runs next".
//
//   uniform  Textbook random: at every scheduling point with two or more runnable
//            threads, pick uniformly among all of them (a Pick draw; 0 keeps the
//            running thread, the simplest choice). When a thread blocks, pick
//            uniformly among the runnable ones.
//   preempt  At a yield point, preempt with probability p (a Preempt flip; none when
//            p is 0 or 1, where the outcome is certain), then pick uniformly among the
//            other runnable threads (a Pick draw). When a thread blocks, pick
//            uniformly among the runnable ones. Only yield points where another thread
//            is runnable are decisions. (Called `random` before the textbook uniform
//            strategy came; configs and repro files may still say so.)
//   pct      Probabilistic Concurrency Testing as published (Burckhardt et al., ASPLOS
//            2010): every thread gets a random distinct priority when spawned; d-1
//            distinct change points are drawn from the steps 1..k, the i-th carrying
//            priority i; at every step the highest-priority runnable thread runs, and
//            when step k_i begins, the thread that would run it drops to priority i,
//            below every initial priority. A step is every scheduling point (yield
//            point, block, thread exit), with one runnable thread or many. A bug of
//            depth d within the first k steps is found with probability at least
//            1/(n·k^(d-1)) per run.
//   replay   Re-runs a recording: the decision structure of the strategy the recording
//            was made with, fed by the recorded values (ReplayChoices; 0 once
//            exhausted). A replay names the strategy it replays.
//
// Every random input of a strategy is a draw labelled with its kind and site, so the
// recorded choice list alone reproduces the schedule.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mmt::sched {

// The values are not persisted (configs and repros name strategies by strategy_name).
enum class StrategyKind : uint8_t { Preempt = 0, Pct = 1, Replay = 2, Uniform = 3 };

const char* strategy_name(StrategyKind kind);
// The kind a name selects; "random" is the old name of preempt (repro files written
// before uniform and PCT as published came say it).
std::optional<StrategyKind> strategy_from_name(std::string_view name);

struct StrategyConfig {
  StrategyKind kind = StrategyKind::Preempt;
  // preempt: probability of preempting at a yield point where another thread could run.
  double preempt_probability = 0.05;
  // pct: bug depth d (≥ 1) and the estimated number of steps k (≥ d-1) over which the
  // d-1 distinct change points are drawn. A step is every scheduling point;
  // RunResult::steps of a first run is the estimate.
  uint32_t pct_depth = 2;
  uint64_t pct_steps = 1000;
  // replay: the strategy whose decisions are replayed (preempt, uniform or pct, with
  // the parameters above as they were recorded).
  StrategyKind replayed = StrategyKind::Preempt;

  static StrategyConfig preempt(double preempt_probability);
  static StrategyConfig uniform();
  static StrategyConfig pct(uint32_t depth, uint64_t steps);
  // Replays a run recorded under `recorded`.
  static StrategyConfig replay_of(const StrategyConfig& recorded);

  // The decision structure in force: `kind`, or `replayed` for a replay.
  StrategyKind effective() const { return kind == StrategyKind::Replay ? replayed : kind; }

  // Throws std::invalid_argument with a message naming the bad parameter: p outside
  // [0, 1] (or NaN), depth < 1, steps < 1 or fewer than d-1 (no room for d-1 distinct
  // change points), a replay of a replay.
  void validate() const;

  // "preempt(p=0.05)", "uniform", "pct(d=2, k=1000)", "replay(pct(d=2, k=1000))".
  std::string describe() const;
};

// PCT's guarantee for a run with n threads, k steps and depth d: 1/(n·k^(d-1)).
double pct_guarantee(uint64_t threads, uint64_t steps, uint32_t depth);

// The probability that a bug of the guaranteed depth is found at least once over runs
// whose guarantees are g_1 .. g_m: 1 - Π(1 - g_i). Accumulate with add().
class PctCampaignGuarantee {
 public:
  void add(double run_guarantee);
  double probability() const;
  uint64_t runs() const { return runs_; }

 private:
  double log_miss_ = 0;  // Σ log(1 - g_i): stays accurate for tiny g over many runs
  uint64_t runs_ = 0;
};

}  // namespace mmt::sched
