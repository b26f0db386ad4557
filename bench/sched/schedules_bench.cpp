// Whole schedules per second (issue 18): small programs of 2 to 11 green threads run
// start to finish, one schedule per iteration, against a floor written here — a
// minimal fiber scheduler that only picks a runnable fiber and switches to it (no
// choices recorded, no trace hash, no detectors). Reported per schedule (the
// iteration time) and per step (the "per_step" counter: a step is one scheduling
// point, as PCT counts them).
//
// Programs (n threads, each with `kYields` yield points):
//   clean    every thread runs to its end;
//   failing  thread 0 fails at its last step while the others are parked at their
//            yield points: the failure path (the failure recorded, every other thread
//            unwound), which design.md §7 wants within 2× of a clean schedule.
// Strategies: uniform (a pick at every step) and PCT (d = 3), both with their draws
// recorded, as a campaign runs them; and bounded exploration of the clean program.
#include <benchmark/benchmark.h>

#include <array>
#include <boost/context/fiber.hpp>
#include <vector>

#include "mmtorture/core/choice.h"
#include "mmtorture/core/failure.h"
#include "mmtorture/core/rng.h"
#include "mmtorture/sched/explore.h"
#include "mmtorture/sched/scheduler.h"
#include "mmtorture/sched/yield_point.h"

namespace mmt::sched {
namespace {

constexpr Site kBenchSite{"bench.step"};
constexpr int kYields = 4;

// ---- The floor: pick a runnable fiber uniformly, switch to it, repeat ----

namespace ctx = boost::context;

// Stacks allocated once and reused by every schedule, as the project's pool does.
struct FloorStacks {
  static constexpr size_t kSize = 64 * 1024;
  std::vector<std::vector<char>> memory;
  explicit FloorStacks(size_t count) : memory(count, std::vector<char>(kSize)) {}
};

// The stacks stay with FloorStacks: a finished fiber gives nothing back.
struct KeepStack {
  ctx::stack_context allocate() { return {}; }
  void deallocate(ctx::stack_context&) noexcept {}
};

struct FloorFiber {
  ctx::fiber context;
  bool done = false;
};

// One schedule of n fibers, each passing kYields yield points (a switch back to the
// scheduler loop, which picks the next fiber); returns the steps taken.
uint64_t floor_schedule(FloorStacks& stacks, size_t n, Rng& rng, std::array<FloorFiber, 16>& fibers) {
  ctx::fiber* loop = nullptr;
  uint64_t steps = 0;
  size_t live = n;
  for (size_t t = 0; t < n; ++t) {
    fibers[t].done = false;
    char* top = stacks.memory[t].data() + FloorStacks::kSize;
    ctx::stack_context stack;
    stack.sp = top;
    stack.size = FloorStacks::kSize;
    fibers[t].context = ctx::fiber(std::allocator_arg, ctx::preallocated(top, FloorStacks::kSize, stack),
                                   KeepStack(), [&loop, &fibers, t](ctx::fiber&& back) {
                                     for (int i = 0; i < kYields; ++i) {
                                       *loop = std::move(back);
                                       back = std::move(*loop).resume();  // yield to the loop
                                     }
                                     fibers[t].done = true;
                                     return std::move(back);
                                   });
  }
  ctx::fiber self;
  loop = &self;
  std::array<size_t, 16> runnable{};
  while (live) {
    size_t count = 0;
    for (size_t t = 0; t < n; ++t)
      if (!fibers[t].done) runnable[count++] = t;
    const size_t pick = runnable[rng.below(count)];
    ++steps;
    fibers[pick].context = std::move(fibers[pick].context).resume();
    if (fibers[pick].done) --live;
  }
  benchmark::DoNotOptimize(self);
  return steps;
}

void BM_FloorPickAndSwitch(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  FloorStacks stacks(n);
  std::array<FloorFiber, 16> fibers;
  Rng rng(1);
  uint64_t steps = 0;
  for (auto _ : state) steps += floor_schedule(stacks, n, rng, fibers);
  state.counters["per_step"] =
      benchmark::Counter(static_cast<double>(steps), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["schedules/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_FloorPickAndSwitch)->DenseRange(2, 11);

// ---- The project's scheduler on the same programs ----

enum class Program { Clean, Failing };

void run_program(benchmark::State& state, const StrategyConfig& strategy, Program program) {
  const auto n = static_cast<int>(state.range(0));
  uint64_t steps = 0, seed = 0;
  for (auto _ : state) {
    SeededChoices choices(++seed);
    Scheduler scheduler(choices, SchedulerOptions{.strategy = strategy});
    for (int t = 0; t < n; ++t)
      scheduler.spawn("t", [t, program] {
        for (int i = 0; i < kYields; ++i) yield_point(kBenchSite);
        if (t == 0 && program == Program::Failing) raise_failure("bench.failure", "bench", "thread 0 failed");
      });
    const RunResult result = scheduler.run();
    steps += result.steps;
    benchmark::DoNotOptimize(result.failure);
  }
  state.counters["per_step"] =
      benchmark::Counter(static_cast<double>(steps), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["schedules/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_UniformClean(benchmark::State& state) { run_program(state, StrategyConfig::uniform(), Program::Clean); }
void BM_UniformFailing(benchmark::State& state) { run_program(state, StrategyConfig::uniform(), Program::Failing); }
void BM_PctClean(benchmark::State& state) { run_program(state, StrategyConfig::pct(3, 5 * 11), Program::Clean); }
void BM_PctFailing(benchmark::State& state) { run_program(state, StrategyConfig::pct(3, 5 * 11), Program::Failing); }
BENCHMARK(BM_UniformClean)->DenseRange(2, 11);
BENCHMARK(BM_UniformFailing)->DenseRange(2, 11);
BENCHMARK(BM_PctClean)->DenseRange(2, 11);
BENCHMARK(BM_PctFailing)->DenseRange(2, 11);

// Bounded exploration (explore.h) of the clean program: every schedule with at most one
// preemption (levels 0 and 1), capped at 2,000 schedules; reported per schedule run,
// the explorer's bookkeeping (prefix replay, backtracking) included.
void explore_program(benchmark::State& state, bool sleep_sets) {
  const auto n = static_cast<int>(state.range(0));
  const ExploredProgram program = [n](ChoiceSource& choices) {
    Scheduler scheduler(choices, SchedulerOptions{.strategy = StrategyConfig::uniform()});
    for (int t = 0; t < n; ++t)
      scheduler.spawn("t", [] {
        for (int i = 0; i < kYields; ++i) yield_point(kBenchSite);
      });
    return scheduler.run();
  };
  ExploreOptions options;
  options.preemption_bound = 1;
  options.max_schedules = 2000;
  options.sleep_sets = sleep_sets;
  uint64_t schedules = 0;
  for (auto _ : state) schedules += explore_bounded(program, options).schedules;
  state.counters["per_schedule"] =
      benchmark::Counter(static_cast<double>(schedules), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_ExploreBounded(benchmark::State& state) { explore_program(state, false); }
// The same with sleep sets: the footprint bookkeeping on every step (the threads touch
// only themselves, but each run is capped at 2,000 schedules all the same).
void BM_ExploreSleepSets(benchmark::State& state) { explore_program(state, true); }
BENCHMARK(BM_ExploreBounded)->DenseRange(2, 11);
BENCHMARK(BM_ExploreSleepSets)->DenseRange(2, 11);

}  // namespace
}  // namespace mmt::sched

BENCHMARK_MAIN();
