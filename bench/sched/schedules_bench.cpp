// Whole schedules per second: small concurrency-bug programs of 2 to 11 green
// threads, run start to finish on the project's scheduler and on a floor written here —
// a minimal fiber scheduler on Boost.Context's raw fcontext that only picks a runnable
// fiber uniformly and switches to it (no choices recorded, no trace hash, no detectors,
// and a failure simply stops the loop: its fibers are abandoned, their stacks reused).
//
// A second floor, the recorded floor, is the same loop doing the least a replayable run
// must: every pick is drawn from a SeededChoices, which records it as the project
// records its draws (what a repro holds and replay and shrinking read), and every switch
// is folded into a TraceHash as the project folds it. Its speed against the bare floor is
// the most any scheduler that keeps those two can reach; the project's speed is also
// given against it, which is what the rest of the project (thread names, states and
// dumps, detectors, lockdep, PCT's priorities) costs.
//
// Programs (n threads, each written once over an Env, so both schedulers run the same
// code; the project's Env names the shared state with note_access for sleep sets):
//   lost_update  each thread adds 1 twice; threads 0 and 1 as read; yield; write (the
//                others in one step). The last thread to finish checks the total: fails
//                when an update was lost (no other thread is left to tear down).
//   ordering     thread 0 publishes a flag, yields twice, then writes the data; every
//                other thread yields, then fails if it sees the flag without the data
//                (the writer and the others are parked when it fails).
//   abba         thread 1 locks B then A, every other thread A then B (two mutexes, a
//                yield inside each section); lockdep's order check is off, so a schedule
//                that interleaves them ends in the deadlock detector, every thread parked.
// Only two threads take part in the lost update and ABBA, so that clean schedules stay
// common at 11 threads. Each program has a fixed variant (updates in one step; data
// before the flag; one lock order) that never fails.
//
// Clean and failing schedules are measured apart: before timing, seeds are run once and
// sorted by outcome (the first 64 of each, from up to 20,000 seeds); a benchmark then
// cycles through its list. Failing schedules run twice: with ordinary threads (a failure
// is thrown, parked threads are unwound at the end) and with the threads spawned
// discard_stack (their frames own nothing, so the failure ends its thread where it is
// raised and parked threads are dropped without unwinding; thread.h). Reported per schedule (the iteration time) and
// per step
// ("per_step": a step is one scheduling decision, as each scheduler counts them). Bounded
// exploration (explore.h, ≤ 1 preemption, capped at 500 schedules per call) runs the
// fixed variants, with and without sleep sets, and reports "per_schedule".
//
// After the runs a table gives, per program and thread count, the project's speed as a
// fraction of the floor's (floor time / project time, clean schedules), a failing
// schedule's cost in clean ones, and an explored schedule's cost in floor schedules.
#include <benchmark/benchmark.h>

#include <array>
#include <boost/context/detail/fcontext.hpp>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "mmtorture/core/choice.h"
#include "mmtorture/core/failure.h"
#include "mmtorture/core/rng.h"
#include "mmtorture/core/trace_hash.h"
#include "mmtorture/sched/access.h"
#include "mmtorture/sched/explore.h"
#include "mmtorture/sched/mutex.h"
#include "mmtorture/sched/scheduler.h"
#include "mmtorture/sched/yield_point.h"

// Heap allocations made while the benchmark runs (this binary replaces the global
// operator new), reported per schedule as "allocs": a clean schedule of a small world
// should make none once the per-OS-thread spares are warm.
namespace {
uint64_t g_allocations = 0;
}  // namespace

// (Kept out of line: inlined, GCC's -Wmismatched-new-delete takes the free() for a
// mismatch with the operator new it sees at the call.)
[[gnu::noinline]] void* operator new(size_t size) {
  ++g_allocations;
  if (void* memory = std::malloc(size ? size : 1)) return memory;
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new[](size_t size) { return operator new(size); }
[[gnu::noinline]] void operator delete(void* memory) noexcept { std::free(memory); }
[[gnu::noinline]] void operator delete[](void* memory) noexcept { std::free(memory); }
[[gnu::noinline]] void operator delete(void* memory, size_t) noexcept { std::free(memory); }
[[gnu::noinline]] void operator delete[](void* memory, size_t) noexcept { std::free(memory); }

namespace mmt::sched {
namespace {

constexpr Site kBenchSite{"bench.step"};
constexpr size_t kMaxThreads = 16;

// ---- The programs ----

enum class ProgramKind { LostUpdate, Ordering, Abba };
constexpr std::array<ProgramKind, 3> kPrograms{ProgramKind::LostUpdate, ProgramKind::Ordering, ProgramKind::Abba};

const char* program_name(ProgramKind kind) {
  switch (kind) {
    case ProgramKind::LostUpdate: return "lost_update";
    case ProgramKind::Ordering: return "ordering";
    case ProgramKind::Abba: return "abba";
  }
  return "?";
}

template <class Env>
struct Shared {
  int threads = 0;
  int counter = 0;
  int finished = 0;
  int flag = 0;
  int data = 0;
  typename Env::Lock a{"bench.a"};
  typename Env::Lock b{"bench.b"};
};

template <class Env>
void program_body(ProgramKind kind, bool fixed, int self, Shared<Env>& s) {
  switch (kind) {
    case ProgramKind::LostUpdate:
      for (int round = 0; round < 2; ++round) {
        Env::access(&s.counter);
        const int value = s.counter;
        if (!fixed && self < 2) Env::yield();
        Env::access(&s.counter);
        s.counter = value + 1;
        Env::yield();
      }
      Env::access(&s.finished);
      if (++s.finished == s.threads && s.counter != 2 * s.threads) Env::fail("bench.lost_update", "an update was lost");
      return;
    case ProgramKind::Ordering:
      if (self == 0) {
        Env::access(&s.flag);
        if (fixed) s.data = 1;
        s.flag = 1;
        Env::yield();
        Env::yield();
        s.data = 1;
        return;
      }
      Env::yield();
      Env::access(&s.flag);
      if (s.flag && !s.data) Env::fail("bench.ordering", "the flag was seen before the data");
      Env::yield();
      return;
    case ProgramKind::Abba: {
      const bool reversed = !fixed && self == 1;
      auto& first = reversed ? s.b : s.a;
      auto& second = reversed ? s.a : s.b;
      Env::lock(first);
      Env::yield();
      Env::lock(second);
      Env::yield();
      Env::unlock(second);
      Env::unlock(first);
      return;
    }
  }
}

// ---- The floor: pick a runnable fiber uniformly, switch to it, repeat ----

namespace fc = boost::context::detail;

// The bare floor's picks (kRecorded false): a plain generator, nothing kept.
struct BarePicks {
  explicit BarePicks(uint64_t seed) : rng(seed) {}
  size_t pick(size_t count) { return static_cast<size_t>(rng.below(count)); }
  void switched(size_t, size_t, uint64_t) {}
  Rng rng;
};

// The recorded floor's (kRecorded true): each pick a recorded draw, each switch folded
// into the trace hash, as the project's scheduler does both (ids from 1, as Thread's).
struct RecordedPicks {
  explicit RecordedPicks(uint64_t seed) : choices(seed) {}
  size_t pick(size_t count) { return static_cast<size_t>(choices.draw(ChoiceKind::Pick, kBenchSite, count)); }
  void switched(size_t from, size_t to, uint64_t steps) { trace.fold(TraceEvent::Switch, from, to, steps); }
  SeededChoices choices;
  TraceHash trace;
};

template <bool kRecorded>
class BasicFloor {
 public:
  static constexpr size_t kStackSize = 64 * 1024;

  // A mutex as the project's: a FIFO of waiters, and unlock hands the lock to the first.
  struct Lock {
    explicit Lock(const char*) {}
    int owner = -1;
    std::array<int, kMaxThreads> waiters{};
    size_t head = 0;
    size_t tail = 0;
  };

  explicit BasicFloor(size_t threads) : stacks_(threads) {
    for (auto& stack : stacks_) stack = std::make_unique<char[]>(kStackSize);
  }

  // One schedule of `n` fibers running the program; true when it failed (a check or a
  // deadlock). Adds the picks made to `steps`.
  bool run(ProgramKind kind, bool fixed, size_t n, uint64_t seed, uint64_t& steps) {
    Shared<BasicFloor> shared;
    shared.threads = static_cast<int>(n);
    std::conditional_t<kRecorded, RecordedPicks, BarePicks> picks(seed);
    size_t last_run = 0;  // 0: none yet; fiber t is thread t + 1
    running_ = this;
    kind_ = kind;
    fixed_ = fixed;
    shared_ = &shared;
    failed_ = false;
    for (size_t t = 0; t < n; ++t) {
      fibers_[t] =
          Fiber{fc::make_fcontext(stacks_[t].get() + kStackSize, kStackSize, &BasicFloor::entry), false, nullptr};
    }
    size_t live = n;
    std::array<size_t, kMaxThreads> runnable{};
    while (live && !failed_) {
      size_t count = 0;
      for (size_t t = 0; t < n; ++t)
        if (!fibers_[t].done && !fibers_[t].waits_for) runnable[count++] = t;
      if (count == 0) {
        failed_ = true;  // deadlock
        break;
      }
      current_ = runnable[picks.pick(count)];
      ++steps;
      if (current_ + 1 != last_run) picks.switched(last_run, current_ + 1, steps);
      last_run = current_ + 1;
      fibers_[current_].context = fc::jump_fcontext(fibers_[current_].context, nullptr).fctx;
      if (fibers_[current_].done) --live;
    }
    return failed_;
  }

  // The Env interface of the programs.
  static void yield() { running_->switch_to_loop(); }
  static void access(const void*) {}
  [[noreturn]] static void fail(const char*, const char*) {
    running_->failed_ = true;
    running_->switch_to_loop();  // never resumed: the loop stops
    __builtin_unreachable();
  }
  static void lock(Lock& lock) {
    yield();
    BasicFloor& floor = *running_;
    const auto self = static_cast<int>(floor.current_);
    if (lock.owner < 0) {
      lock.owner = self;
      return;
    }
    lock.waiters[lock.tail++ % kMaxThreads] = self;
    floor.fibers_[floor.current_].waits_for = &lock;
    floor.switch_to_loop();  // resumed as the owner
  }
  static void unlock(Lock& lock) {
    BasicFloor& floor = *running_;
    lock.owner = -1;
    if (lock.head != lock.tail) {
      lock.owner = lock.waiters[lock.head++ % kMaxThreads];
      floor.fibers_[static_cast<size_t>(lock.owner)].waits_for = nullptr;
    }
    yield();
  }

 private:
  struct Fiber {
    fc::fcontext_t context = nullptr;
    bool done = false;
    const Lock* waits_for = nullptr;
  };

  void switch_to_loop() { loop_ = fc::jump_fcontext(loop_, nullptr).fctx; }

  static void entry(fc::transfer_t from) {
    BasicFloor& floor = *running_;
    floor.loop_ = from.fctx;
    program_body<BasicFloor>(floor.kind_, floor.fixed_, static_cast<int>(floor.current_), *floor.shared_);
    floor.fibers_[floor.current_].done = true;
    fc::jump_fcontext(floor.loop_, nullptr);  // never resumed
  }

  static inline BasicFloor* running_ = nullptr;
  std::vector<std::unique_ptr<char[]>> stacks_;
  std::array<Fiber, kMaxThreads> fibers_{};
  fc::fcontext_t loop_ = nullptr;
  size_t current_ = 0;
  bool failed_ = false;
  ProgramKind kind_ = ProgramKind::LostUpdate;
  bool fixed_ = false;
  Shared<BasicFloor>* shared_ = nullptr;
};

using Floor = BasicFloor<false>;
using RecordedFloor = BasicFloor<true>;

// ---- The project's scheduler ----

struct ProjectEnv {
  using Lock = Mutex;
  static void yield() { yield_point(kBenchSite); }
  static void access(const void* object) { note_access(object); }
  [[noreturn]] static void fail(const char* check, const char* message) { raise_failure(check, "bench", message); }
  static void lock(Mutex& mutex) { mutex.lock(); }
  static void unlock(Mutex& mutex) { mutex.unlock(); }
};

RunResult run_project(ProgramKind kind, bool fixed, int n, const StrategyConfig& strategy, ChoiceSource& choices,
                      bool discard_stack = false) {
  SchedulerOptions options;
  options.strategy = strategy;
  options.lockdep_order = false;  // ABBA ends in the deadlock detector
  Scheduler scheduler(choices, options);
  Shared<ProjectEnv> shared;
  shared.threads = n;
  SpawnOptions spawn;
  spawn.discard_stack = discard_stack;
  for (int t = 0; t < n; ++t)
    scheduler.spawn(
        "t", [kind, fixed, t, &shared] { program_body<ProjectEnv>(kind, fixed, t, shared); }, spawn);
  return scheduler.run();
}

enum class Runner { Floor, RecordedFloor, Uniform, Pct };

StrategyConfig strategy_of(Runner runner, int n) {
  return runner == Runner::Pct ? StrategyConfig::pct(3, static_cast<uint64_t>(8 * n)) : StrategyConfig::uniform();
}

// Seeds sorted by outcome, per (runner, program, threads): [0] clean, [1] failing.
struct SeedLists {
  std::array<std::vector<uint64_t>, 2> by_outcome;
};

SeedLists& seed_lists(Runner runner, ProgramKind kind, int n) {
  static std::map<std::tuple<int, int, int>, SeedLists> cache;
  auto [it, added] = cache.try_emplace({static_cast<int>(runner), static_cast<int>(kind), n});
  if (!added) return it->second;
  constexpr size_t kWanted = 64;
  Floor floor(static_cast<size_t>(n));
  RecordedFloor recorded_floor(static_cast<size_t>(n));
  uint64_t steps = 0;
  for (uint64_t seed = 1; seed <= 20'000; ++seed) {
    bool failed;
    if (runner == Runner::Floor) {
      failed = floor.run(kind, false, static_cast<size_t>(n), seed, steps);
    } else if (runner == Runner::RecordedFloor) {
      failed = recorded_floor.run(kind, false, static_cast<size_t>(n), seed, steps);
    } else {
      SeededChoices choices(seed);
      failed = !run_project(kind, false, n, strategy_of(runner, n), choices).ok();
    }
    auto& list = it->second.by_outcome[failed ? 1 : 0];
    if (list.size() < kWanted) list.push_back(seed);
    if (it->second.by_outcome[0].size() == kWanted && it->second.by_outcome[1].size() == kWanted) break;
  }
  return it->second;
}

void set_counters(benchmark::State& state, uint64_t steps, uint64_t allocations) {
  state.counters["allocs"] = benchmark::Counter(static_cast<double>(allocations), benchmark::Counter::kAvgIterations);
  state.counters["per_step"] =
      benchmark::Counter(static_cast<double>(steps), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["schedules/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// Arguments: program, threads, outcome (0 clean, 1 failing, 2 the fixed variant, 3
// failing with discard_stack threads).
void run_schedules(benchmark::State& state, Runner runner) {
  const auto kind = static_cast<ProgramKind>(state.range(0));
  const auto n = static_cast<int>(state.range(1));
  const auto outcome = static_cast<size_t>(state.range(2));
  const bool fixed = outcome == 2;
  const bool discard_stack = outcome == 3;
  const std::vector<uint64_t> seeds = fixed ? std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8}
                                            : seed_lists(runner, kind, n).by_outcome[discard_stack ? 1 : outcome];
  if (seeds.empty()) {
    state.SkipWithError("no seed with this outcome in 20,000");
    return;
  }
  Floor floor(static_cast<size_t>(n));
  RecordedFloor recorded_floor(static_cast<size_t>(n));
  const StrategyConfig strategy = strategy_of(runner, n);
  uint64_t steps = 0;
  size_t next = 0;
  const uint64_t allocations_before = g_allocations;
  for (auto _ : state) {
    const uint64_t seed = seeds[next];
    next = next + 1 == seeds.size() ? 0 : next + 1;
    if (runner == Runner::Floor) {
      benchmark::DoNotOptimize(floor.run(kind, fixed, static_cast<size_t>(n), seed, steps));
    } else if (runner == Runner::RecordedFloor) {
      benchmark::DoNotOptimize(recorded_floor.run(kind, fixed, static_cast<size_t>(n), seed, steps));
    } else {
      SeededChoices choices(seed);
      const RunResult result = run_project(kind, fixed, n, strategy, choices, discard_stack);
      steps += result.steps;
      benchmark::DoNotOptimize(result.failure);
    }
  }
  set_counters(state, steps, g_allocations - allocations_before);
}

void BM_Floor(benchmark::State& state) { run_schedules(state, Runner::Floor); }
void BM_RecordedFloor(benchmark::State& state) { run_schedules(state, Runner::RecordedFloor); }
void BM_Uniform(benchmark::State& state) { run_schedules(state, Runner::Uniform); }
void BM_Pct(benchmark::State& state) { run_schedules(state, Runner::Pct); }

constexpr std::array<int, 6> kThreadCounts{2, 3, 4, 6, 8, 11};

template <int... kOutcomes>
void schedule_args(benchmark::internal::Benchmark* bench) {
  bench->ArgNames({"program", "threads", "outcome"});
  for (ProgramKind kind : kPrograms)
    for (int n : kThreadCounts)
      for (int outcome : {kOutcomes...}) bench->Args({static_cast<int>(kind), n, outcome});
}
BENCHMARK(BM_Floor)->Apply(schedule_args<0, 1, 2>);
BENCHMARK(BM_RecordedFloor)->Apply(schedule_args<0>);
BENCHMARK(BM_Uniform)->Apply(schedule_args<0, 1, 2, 3>);
BENCHMARK(BM_Pct)->Apply(schedule_args<0, 1, 3>);

// Bounded exploration of the fixed variant: schedules with ≤ 1 preemption, 500 at most
// per call; the explorer's bookkeeping (prefix replay, backtracking, footprints)
// included.
void explore_program(benchmark::State& state, bool sleep_sets) {
  const auto kind = static_cast<ProgramKind>(state.range(0));
  const auto n = static_cast<int>(state.range(1));
  const ExploredProgram program = [kind, n](ChoiceSource& choices) {
    return run_project(kind, true, n, StrategyConfig::uniform(), choices);
  };
  ExploreOptions options;
  options.preemption_bound = 1;
  options.max_schedules = 500;
  options.sleep_sets = sleep_sets;
  uint64_t schedules = 0;
  const uint64_t allocations_before = g_allocations;
  for (auto _ : state) schedules += explore_bounded(program, options).schedules;
  state.counters["allocs"] = benchmark::Counter(static_cast<double>(g_allocations - allocations_before) /
                                                static_cast<double>(schedules ? schedules : 1));
  state.counters["per_schedule"] =
      benchmark::Counter(static_cast<double>(schedules), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_Explore(benchmark::State& state) { explore_program(state, false); }
void BM_ExploreSleepSets(benchmark::State& state) { explore_program(state, true); }

void explore_args(benchmark::internal::Benchmark* bench) {
  bench->ArgNames({"program", "threads"});
  for (ProgramKind kind : kPrograms)
    for (int n : kThreadCounts) bench->Args({static_cast<int>(kind), n});
}
BENCHMARK(BM_Explore)->Apply(explore_args);
BENCHMARK(BM_ExploreSleepSets)->Apply(explore_args);

// ---- The ratio table ----

// Keeps each run's CPU time per iteration (ns) and per explored schedule, by name.
class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred || run.run_type != Run::RT_Iteration) continue;
      const double scale = 1e9 / benchmark::GetTimeUnitMultiplier(run.time_unit);
      double ns = run.GetAdjustedCPUTime() * scale;
      if (auto it = run.counters.find("per_schedule"); it != run.counters.end()) ns = it->second.value * 1e9;
      ns_[run.benchmark_name()] = ns;
    }
  }

  // ns per schedule of `name`, or 0 when it did not run.
  double ns(const std::string& name) const {
    auto it = ns_.find(name);
    return it == ns_.end() ? 0.0 : it->second;
  }

 private:
  std::map<std::string, double> ns_;
};

std::string schedule_name(const char* runner, ProgramKind kind, int n, int outcome) {
  return std::string(runner) + "/program:" + std::to_string(static_cast<int>(kind)) + "/threads:" + std::to_string(n) +
         "/outcome:" + std::to_string(outcome);
}

std::string explore_name(const char* runner, ProgramKind kind, int n) {
  return std::string(runner) + "/program:" + std::to_string(static_cast<int>(kind)) + "/threads:" + std::to_string(n);
}

double ratio(double a, double b) { return a > 0 && b > 0 ? a / b : 0.0; }

void print_table(const CollectingReporter& reporter) {
  std::printf(
      "\nPer schedule, CPU time. speed = floor's time / the project's (clean schedules; >= 0.8 is the target);\n"
      "rec = the recorded floor (picks recorded, switches hashed): its speed against the floor is the most a\n"
      "replayable scheduler can reach, and 'of rec' is the project's speed against it;\n"
      "fail/clean = a failing schedule's time / a clean one's (<= 2 is the target), with ordinary threads and\n"
      "with discard_stack ones (disc); explore = an explored schedule of the fixed variant / the floor's\n"
      "schedule of it (<= 2 is the target).\n\n");
  std::printf("%-12s %3s | %7s %7s %6s | %7s %6s %6s | %7s %6s %6s | %6s %6s %6s %6s | %8s %6s %6s\n", "program", "n",
              "floor", "rec", "rec", "uniform", "speed", "of", "pct", "speed", "of", "fail/clean", "", "", "",
              "fixed fl", "expl", "+sleep");
  std::printf("%-12s %3s | %7s %7s %6s | %7s %6s %6s | %7s %6s %6s | %6s %6s %6s %6s | %8s %6s %6s\n", "", "", "ns",
              "ns", "speed", "ns", "", "rec", "ns", "", "rec", "unif", "disc", "pct", "disc", "ns", "x", "x");
  for (ProgramKind kind : kPrograms) {
    for (int n : kThreadCounts) {
      const double floor_clean = reporter.ns(schedule_name("BM_Floor", kind, n, 0));
      const double recorded_clean = reporter.ns(schedule_name("BM_RecordedFloor", kind, n, 0));
      const double uniform_clean = reporter.ns(schedule_name("BM_Uniform", kind, n, 0));
      const double uniform_failing = reporter.ns(schedule_name("BM_Uniform", kind, n, 1));
      const double pct_clean = reporter.ns(schedule_name("BM_Pct", kind, n, 0));
      const double pct_failing = reporter.ns(schedule_name("BM_Pct", kind, n, 1));
      const double uniform_discard = reporter.ns(schedule_name("BM_Uniform", kind, n, 3));
      const double pct_discard = reporter.ns(schedule_name("BM_Pct", kind, n, 3));
      const double floor_fixed = reporter.ns(schedule_name("BM_Floor", kind, n, 2));
      const double explored = reporter.ns(explore_name("BM_Explore", kind, n));
      const double explored_sleep = reporter.ns(explore_name("BM_ExploreSleepSets", kind, n));
      std::printf(
          "%-12s %3d | %7.0f %7.0f %6.2f | %7.0f %6.2f %6.2f | %7.0f %6.2f %6.2f | %6.2f %6.2f %6.2f %6.2f | %8.0f "
          "%6.2f "
          "%6.2f\n",
          program_name(kind), n, floor_clean, recorded_clean, ratio(floor_clean, recorded_clean), uniform_clean,
          ratio(floor_clean, uniform_clean), ratio(recorded_clean, uniform_clean), pct_clean,
          ratio(floor_clean, pct_clean), ratio(recorded_clean, pct_clean), ratio(uniform_failing, uniform_clean),
          ratio(uniform_discard, uniform_clean), ratio(pct_failing, pct_clean), ratio(pct_discard, pct_clean),
          floor_fixed, ratio(explored, floor_fixed), ratio(explored_sleep, floor_fixed));
    }
  }
}

}  // namespace
}  // namespace mmt::sched

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  mmt::sched::CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  mmt::sched::print_table(reporter);
  benchmark::Shutdown();
  return 0;
}
