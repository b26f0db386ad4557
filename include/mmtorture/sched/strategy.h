// Scheduling strategies (design.md §3): how the scheduler turns draws on the run's
// ChoiceSource into "which green thread runs next".
//
//   random  At a yield point, preempt with probability p (a Preempt flip; none when p
//           is 0 or 1, where the outcome is certain), then pick uniformly among the
//           other runnable threads (a Pick draw). When a thread blocks, pick uniformly
//           among the runnable ones. Only yield points where another thread is
//           runnable are decisions.
//   pct     Probabilistic Concurrency Testing (Burckhardt et al., ASPLOS 2010): every
//           thread gets a random distinct priority when spawned, d-1 change points are
//           drawn over the estimated step count k, and at every step the highest-priority
//           runnable thread runs. At the i-th change point the running thread drops to
//           priority i, below every initial priority. A bug of depth d is found with
//           probability at least 1/(n·k^(d-1)) per run.
//   replay  Re-runs a recording: the decision structure of the strategy the recording
//           was made with, fed by the recorded values (ReplayChoices; 0 once exhausted).
//           A recording only makes sense under the draws that produced it, so a replay
//           names the strategy it replays.
//
// Every random input of a strategy is a draw labelled with its kind and site, so the
// recorded choice list alone reproduces the schedule.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mmt::sched {

enum class StrategyKind : uint8_t { Random = 0, Pct = 1, Replay = 2 };

const char* strategy_name(StrategyKind kind);
std::optional<StrategyKind> strategy_from_name(std::string_view name);

struct StrategyConfig {
  StrategyKind kind = StrategyKind::Random;
  // random: probability of preempting at a yield point where another thread could run.
  double preempt_probability = 0.05;
  // pct: bug depth d (≥ 1) and the estimated number of steps k (≥ 1) over which the
  // d-1 change points are drawn. A step is a scheduling decision with at least two
  // runnable threads; RunResult::steps of a first run is a good estimate.
  uint32_t pct_depth = 2;
  uint64_t pct_steps = 1000;
  // replay: the strategy whose decisions are replayed (random or pct, with the
  // parameters above as they were recorded).
  StrategyKind replayed = StrategyKind::Random;

  static StrategyConfig random(double preempt_probability);
  static StrategyConfig pct(uint32_t depth, uint64_t steps);
  // Replays a run recorded under `recorded`.
  static StrategyConfig replay_of(const StrategyConfig& recorded);

  // The decision structure in force: `kind`, or `replayed` for a replay.
  StrategyKind effective() const { return kind == StrategyKind::Replay ? replayed : kind; }

  // Throws std::invalid_argument with a message naming the bad parameter: p outside
  // [0, 1] (or NaN), depth < 1, steps < 1, a replay of a replay.
  void validate() const;

  // "random(p=0.05)", "pct(d=2, k=1000)", "replay(pct(d=2, k=1000))".
  std::string describe() const;
};

// PCT's guarantee for a run with n threads, k steps and depth d: 1/(n·k^(d-1)).
double pct_guarantee(uint64_t threads, uint64_t steps, uint32_t depth);

}  // namespace mmt::sched
