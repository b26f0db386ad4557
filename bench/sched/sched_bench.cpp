// Scheduler micro-benchmarks (design.md §7): a context switch through the scheduler
// (target ≤ 50 ns in release builds; a bare Boost.Context switch is shown beside it), a
// yield point that does not switch (target ≤ 10 ns), spawn+join per thread, and an
// uncontended mutex. Each benchmark iteration is one whole run of a small world, so
// scheduler set-up and teardown are included and amortised over the run's operations;
// the per-operation figure is the "per_op" counter.
#include <benchmark/benchmark.h>

#include <boost/context/fiber.hpp>

#include "mmtorture/core/choice.h"
#include "mmtorture/sched/mutex.h"
#include "mmtorture/sched/scheduler.h"
#include "mmtorture/sched/yield_point.h"

namespace mmt::sched {
namespace {

constexpr Site kBenchSite{"bench.yield"};
constexpr int kOpsPerRun = 20000;

void report_per_op(benchmark::State& state, int64_t ops_per_iteration) {
  const double ops = static_cast<double>(state.iterations()) * static_cast<double>(ops_per_iteration);
  state.counters["per_op"] = benchmark::Counter(ops, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Reference: two raw fibers resuming each other, no scheduler.
void BM_BareFiberSwitch(benchmark::State& state) {
  namespace ctx = boost::context;
  for (auto _ : state) {
    ctx::fiber other{[](ctx::fiber&& back) {
      for (int i = 0; i < kOpsPerRun; ++i) back = std::move(back).resume();
      return std::move(back);
    }};
    for (int i = 0; i <= kOpsPerRun; ++i) other = std::move(other).resume();
  }
  report_per_op(state, 2 * kOpsPerRun);  // each round trip is two switches
}
BENCHMARK(BM_BareFiberSwitch);

// Two threads, preemption probability 1: every yield point switches to the other
// thread (p = 1 is certain, so no draw: this is the switch itself — bookkeeping, trace
// hash, one fcontext jump). With p = 0.5 half the yield points switch and every one
// records a Preempt draw: the per-switch figure then includes two recorded decisions.
void BM_SchedulerSwitch(benchmark::State& state) {
  const double p = static_cast<double>(state.range(0)) / 100.0;
  uint64_t switches = 0;
  for (auto _ : state) {
    SeededChoices choices(1);
    Scheduler scheduler(choices, SchedulerOptions{.strategy = StrategyConfig::preempt(p)});
    for (int t = 0; t < 2; ++t)
      scheduler.spawn("pingpong", [] {
        for (int i = 0; i < kOpsPerRun / 2; ++i) yield_point(kBenchSite);
      });
    switches += scheduler.run().switches;
  }
  state.counters["per_op"] =
      benchmark::Counter(static_cast<double>(switches), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_SchedulerSwitch)->Arg(100)->Arg(50);

// The same under PCT, where a switch happens only at change points: shown for the cost
// of a PCT yield point with two runnable threads (no draw, a priority comparison).
void BM_YieldPointNoSwitchPct(benchmark::State& state) {
  for (auto _ : state) {
    SeededChoices choices(1);
    Scheduler scheduler(choices, SchedulerOptions{.strategy = StrategyConfig::pct(1, 1)});
    for (int t = 0; t < 2; ++t)
      scheduler.spawn("busy", [] {
        for (int i = 0; i < kOpsPerRun / 2; ++i) yield_point(kBenchSite);
      });
    scheduler.run();
  }
  report_per_op(state, kOpsPerRun);
}
BENCHMARK(BM_YieldPointNoSwitchPct);

// One thread: nobody else could run, so the yield point is no decision at all.
void BM_YieldPointNoSwitchAlone(benchmark::State& state) {
  for (auto _ : state) {
    SeededChoices choices(1);
    Scheduler scheduler(choices, SchedulerOptions{.strategy = StrategyConfig::preempt(0.5)});
    scheduler.spawn("alone", [] {
      for (int i = 0; i < kOpsPerRun; ++i) yield_point(kBenchSite);
    });
    scheduler.run();
  }
  report_per_op(state, kOpsPerRun);
}
BENCHMARK(BM_YieldPointNoSwitchAlone);

// Two runnable threads under random with p = 0: never preempts, so no draw either.
void BM_YieldPointNoSwitchRandomP0(benchmark::State& state) {
  for (auto _ : state) {
    SeededChoices choices(1);
    Scheduler scheduler(choices, SchedulerOptions{.strategy = StrategyConfig::preempt(0.0)});
    for (int t = 0; t < 2; ++t)
      scheduler.spawn("busy", [] {
        for (int i = 0; i < kOpsPerRun / 2; ++i) yield_point(kBenchSite);
      });
    scheduler.run();
  }
  report_per_op(state, kOpsPerRun);
}
BENCHMARK(BM_YieldPointNoSwitchRandomP0);

// Two runnable threads, p = 0.001: the cost of a recorded Preempt draw that says no.
void BM_YieldPointRecordedNoSwitch(benchmark::State& state) {
  for (auto _ : state) {
    SeededChoices choices(1);
    Scheduler scheduler(choices, SchedulerOptions{.strategy = StrategyConfig::preempt(0.001)});
    for (int t = 0; t < 2; ++t)
      scheduler.spawn("busy", [] {
        for (int i = 0; i < kOpsPerRun / 2; ++i) yield_point(kBenchSite);
      });
    scheduler.run();
  }
  report_per_op(state, kOpsPerRun);
}
BENCHMARK(BM_YieldPointRecordedNoSwitch);

// Outside any run: the inline null check only.
void BM_YieldPointOutsideRun(benchmark::State& state) {
  for (auto _ : state) {
    for (int i = 0; i < kOpsPerRun; ++i) yield_point(kBenchSite);
    benchmark::ClobberMemory();
  }
  report_per_op(state, kOpsPerRun);
}
BENCHMARK(BM_YieldPointOutsideRun);

// A parent spawns a child and joins it, 1,000 times per run: pooled stack, fiber
// creation, two switches in, the exit, and the join wake-up.
void BM_SpawnJoin(benchmark::State& state) {
  constexpr int kChildren = 1000;
  for (auto _ : state) {
    SeededChoices choices(1);
    Scheduler scheduler(choices, SchedulerOptions{.strategy = StrategyConfig::preempt(0.0)});
    scheduler.spawn("parent", [&scheduler] {
      for (int i = 0; i < kChildren; ++i) {
        Thread& child = scheduler.spawn("child", [] {});
        scheduler.join(child);
      }
    });
    scheduler.run();
  }
  report_per_op(state, kChildren);
}
BENCHMARK(BM_SpawnJoin);

// mutex_lock + mutex_unlock with nobody else around: two yield points, lockdep.
void BM_MutexUncontended(benchmark::State& state) {
  for (auto _ : state) {
    SeededChoices choices(1);
    Mutex mutex("bench.mutex");
    Scheduler scheduler(choices, SchedulerOptions{.strategy = StrategyConfig::preempt(0.0)});
    scheduler.spawn("locker", [&mutex] {
      for (int i = 0; i < kOpsPerRun; ++i) {
        mutex.lock();
        mutex.unlock();
      }
    });
    scheduler.run();
  }
  report_per_op(state, kOpsPerRun);
}
BENCHMARK(BM_MutexUncontended);

}  // namespace
}  // namespace mmt::sched

BENCHMARK_MAIN();
