// Strategies against exact probabilities: small programs whose chance of
// showing their bug under uniform, preempt(p) and PCT(d, k) is derived by hand below;
// over 2,000 seeds the found count must lie in the 99 % range of Binomial(2000, p).
// The seeds are fixed, so each check is deterministic; a strategy whose decisions
// drift from its definition (PCT drawing change points with replacement, wasting one
// on the first pick, or counting only steps with two runnable threads) lands outside.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "mmtorture/sched/mutex.h"
#include "mmtorture/sched/yield_point.h"
#include "sched_test_util.h"

namespace mmt::sched {
namespace {

using testing::run_world;

constexpr int kSeeds = 2000;
constexpr Site kStep{"exact.step"};

// The 99 % central range [lo, hi] of Binomial(n, p): P(X < lo) ≤ 0.5 % and P(X > hi) ≤ 0.5 %.
std::pair<int, int> binomial_range_99(int n, double p) {
  auto log_pmf = [&](int x) {
    return std::lgamma(n + 1.0) - std::lgamma(x + 1.0) - std::lgamma(n - x + 1.0) + x * std::log(p) +
           (n - x) * std::log1p(-p);
  };
  if (p <= 0) return {0, 0};
  if (p >= 1) return {n, n};
  double cdf = 0;
  int lo = -1, hi = n;
  for (int x = 0; x <= n; ++x) {
    cdf += std::exp(log_pmf(x));
    if (lo < 0 && cdf > 0.005) lo = x;
    if (cdf >= 0.995) {
      hi = x;
      break;
    }
  }
  return {lo, hi};
}

using World = std::function<void(Scheduler&)>;

// Runs `world` for seeds 1..kSeeds and checks the number of failing runs against p.
void expect_found_rate(const char* program, const SchedulerOptions& options, const World& world, double p) {
  const StrategyConfig& strategy = options.strategy;
  int found = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SeededChoices choices(seed);
    found += !run_world(choices, options, world).ok();
  }
  const auto [lo, hi] = binomial_range_99(kSeeds, p);
  std::printf("%-22s %-18s found %4d/%d  exact p %.4f  99%% range [%d, %d]\n", program, strategy.describe().c_str(),
              found, kSeeds, p, lo, hi);
  EXPECT_GE(found, lo) << program << " under " << strategy.describe() << ": exact p " << p;
  EXPECT_LE(found, hi) << program << " under " << strategy.describe() << ": exact p " << p;
}

void expect_found_rate(const char* program, const StrategyConfig& strategy, const World& world, double p) {
  expect_found_rate(program, SchedulerOptions{.strategy = strategy}, world, p);
}

// Lost update: n threads each read a shared counter, pass a yield point, write it + 1.
// The bug (a final count below n) shows iff some thread reads inside another's
// read-write window; once one does, the update is lost whatever follows.
World lost_update(int threads) {
  return [threads](Scheduler& scheduler) {
    auto counter = std::make_shared<int>(0);
    auto finished = std::make_shared<int>(0);
    for (int t = 0; t < threads; ++t)
      scheduler.spawn("incrementer", [counter, finished, threads] {
        const int read = *counter;
        yield_point(kStep);
        *counter = read + 1;
        if (++*finished == threads && *counter != threads)
          raise_failure("exact.lost_update", "incrementer", "an increment was lost");
      });
  };
}

double factorial(int n) { return n <= 1 ? 1.0 : n * factorial(n - 1); }

// Uniform: the run is serial iff at each of the first n-1 threads' yield points (m ≥ 2
// runnable) the pick keeps the running thread: P(serial) = Π_{m=2..n} 1/m = 1/n!.
double lost_update_uniform(int n) { return 1.0 - 1.0 / factorial(n); }
// Preempt(p): serial iff none of those n-1 yield points preempts.
double lost_update_preempt(int n, double p) { return 1.0 - std::pow(1.0 - p, n - 1); }
// PCT(2, k = 2n): every thread is one pick step (odd) and one yield step (even), run in
// priority order while the run is serial. The change point on an odd step demotes a
// thread before it starts (still serial); on an even step below 2n it demotes the
// thread inside its window while another (undemoted) one is runnable: the bug. Step 2n
// is the last thread's yield, alone. So P = (n-1)/(2n). With d ≥ 3 a later change
// point may find every other runnable thread already demoted below it, so the
// counting is done by pct_exact below.
double lost_update_pct2(int n) { return (n - 1.0) / (2.0 * n); }

// Publication window: T0 sets `published`, passes a yield point, sets `initialised`;
// n-1 readers (no yield points) fail when they see published && !initialised.
World publication(int threads) {
  return [threads](Scheduler& scheduler) {
    auto published = std::make_shared<bool>(false);
    auto initialised = std::make_shared<bool>(false);
    scheduler.spawn("publisher", [published, initialised] {
      *published = true;
      yield_point(kStep);
      *initialised = true;
    });
    for (int t = 1; t < threads; ++t)
      scheduler.spawn("reader", [published, initialised] {
        if (*published && !*initialised) raise_failure("exact.uninitialised", "reader", "saw a half-published object");
      });
  };
}

// T0 is the j-th thread picked with probability 1/n (readers run to completion);
// at its yield n-j+1 threads are runnable and any pick but T0 shows the bug.
// Uniform: (1/n)·Σ_{j} (n-j)/(n-j+1) = 1 - H_n/n.
double publication_uniform(int n) {
  double harmonic = 0;
  for (int i = 1; i <= n; ++i) harmonic += 1.0 / i;
  return 1 - harmonic / n;
}
// Preempt(p): the yield has another runnable thread unless T0 is last: p·(n-1)/n.
double publication_preempt(int n, double p) { return p * (n - 1) / n; }
// PCT(d = 2, k = n+1): n pick steps and T0's yield. With T0 j-th in priority order its
// yield is step j+1 (a demotion at an earlier pick shifts T0 forward by one step and
// uses up the only change point); the change point must land there, with j < n:
// (n-1)/n · 1/(n+1).
double publication_pct2(int n) { return (n - 1.0) / n / (n + 1.0); }

// ABBA: T1 takes a then b, T2 b then a (mutex_lock passes a yield point before it takes
// the lock). It deadlocks iff both hold their first lock before either takes its
// second. With T1 first (by symmetry), x = keep running, s = switch at a yield point:
//   T1 x (takes a), then at T1's second yield s to T2, T2 x (takes b): deadlock;
//   T1 s, T2 x (takes b), T2 s (T1 takes a): deadlock;
//   T1 s, T2 s (T1 takes a), T1 s (T2 takes b): deadlock.
// Uniform (x = s = 1/2): 1/8 + 1/8 + 1/8 = 3/8; preempt(p): p(1-p)^2 + p^2(1-p) + p^3.
World abba() {
  return [](Scheduler& scheduler) {
    auto a = std::make_shared<Mutex>("exact.abba_a");
    auto b = std::make_shared<Mutex>("exact.abba_b");
    auto locker = [](std::shared_ptr<Mutex> first, std::shared_ptr<Mutex> second) {
      return [first, second] {
        MutexGuard one(*first);
        MutexGuard two(*second);
      };
    };
    scheduler.spawn("ab", locker(a, b));
    scheduler.spawn("ba", locker(b, a));
  };
}
double abba_preempt(double p) { return p * (1 - p) * (1 - p) + p * p * (1 - p) + p * p * p; }

// Found: the deadlock detector fired (as the failure, or among the problems).
int deadlocks(const SchedulerOptions& options, int* lockdep_first) {
  int found = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SeededChoices choices(seed);
    const RunResult result = run_world(choices, options, abba());
    for (const Failure& problem : result.problems) found += problem.check == "sched.deadlock";
    if (lockdep_first && result.failure && result.failure->check == "lockdep.circular") ++*lockdep_first;
  }
  return found;
}

TEST(ExactProbability, AbbaDeadlocksWithTheOrderCheckOff) {
  for (const StrategyConfig& strategy : {StrategyConfig::uniform(), StrategyConfig::preempt(0.05)}) {
    const double p = strategy.kind == StrategyKind::Uniform ? 3.0 / 8 : abba_preempt(0.05);
    SchedulerOptions order_off{.strategy = strategy};
    order_off.lockdep_order = false;
    expect_found_rate("abba(lockdep_order off)", order_off, abba(), p);
    // With the order check on, lockdep reports every schedule (both orders are always
    // seen) before any deadlock; keep_going carries on past it and the deadlock is
    // still there at the same rate.
    SchedulerOptions keep_going{.strategy = strategy};
    keep_going.keep_going = true;
    int lockdep_first = 0;
    const int found = deadlocks(keep_going, &lockdep_first);
    const auto [lo, hi] = binomial_range_99(kSeeds, p);
    EXPECT_EQ(lockdep_first, kSeeds);
    EXPECT_GE(found, lo);
    EXPECT_LE(found, hi);
    SchedulerOptions order_on{.strategy = strategy};
    EXPECT_EQ(deadlocks(order_on, nullptr), 0);
  }
}

// PCT by exhaustion, independent of the Scheduler: a program is a number of segments
// per thread (each segment starts at a step: the pick of a thread or its yield
// point); at step s the highest-priority thread with segments left runs its next
// segment, and if s is the i-th change point that thread first drops to priority i.
// Every initial priority order and every ordered tuple of d-1 distinct change points in
// 1..k is equally likely, as the paper draws them; the result is the exact fraction of
// those runs whose segment order `bug` accepts.
using SegmentOrder = std::vector<std::pair<int, int>>;  // (thread, segment) in run order
double pct_exact(const std::vector<int>& segments, int d, int k, const std::function<bool(const SegmentOrder&)>& bug) {
  const int n = static_cast<int>(segments.size());
  std::vector<int> rank(static_cast<size_t>(n));
  for (int t = 0; t < n; ++t) rank[static_cast<size_t>(t)] = t;
  uint64_t runs = 0, buggy = 0;
  std::vector<int> changes;  // change point i at steps changes[i-1]
  std::function<void()> each_tuple = [&] {
    if (static_cast<int>(changes.size()) < d - 1) {
      for (int step = 1; step <= k; ++step) {
        if (std::find(changes.begin(), changes.end(), step) != changes.end()) continue;
        changes.push_back(step);
        each_tuple();
        changes.pop_back();
      }
      return;
    }
    std::vector<int> priority(static_cast<size_t>(n)), next(static_cast<size_t>(n), 0);
    for (int t = 0; t < n; ++t) priority[static_cast<size_t>(t)] = d + rank[static_cast<size_t>(t)];
    auto highest = [&] {
      int best = -1;
      for (int t = 0; t < n; ++t)
        if (next[static_cast<size_t>(t)] < segments[static_cast<size_t>(t)] &&
            (best < 0 || priority[static_cast<size_t>(t)] > priority[static_cast<size_t>(best)]))
          best = t;
      return best;
    };
    SegmentOrder order;
    for (int step = 1; highest() >= 0; ++step) {
      for (size_t i = 0; i < changes.size(); ++i)
        if (changes[i] == step) priority[static_cast<size_t>(highest())] = static_cast<int>(i) + 1;
      const int t = highest();
      order.emplace_back(t, next[static_cast<size_t>(t)]++);
    }
    ++runs;
    buggy += bug(order);
  };
  do each_tuple();
  while (std::next_permutation(rank.begin(), rank.end()));
  return static_cast<double>(buggy) / static_cast<double>(runs);
}

// Lost update in segments: a thread's segment 0 reads, segment 1 writes; the bug is a
// read inside another thread's window.
bool lost_update_order_bug(const SegmentOrder& order) {
  std::set<int> inside;
  for (const auto& [thread, segment] : order) {
    if (segment == 0 && !inside.empty()) return true;
    if (segment == 0) inside.insert(thread);
    else inside.erase(thread);
  }
  return false;
}

// Publication in segments: T0's segment 0 publishes, segment 1 initialises; a reader's
// one segment inside that window is the bug.
bool publication_order_bug(const SegmentOrder& order) {
  bool window = false;
  for (const auto& [thread, segment] : order) {
    if (thread == 0) window = segment == 0;
    else if (window) return true;
  }
  return false;
}

TEST(ExactProbability, TheExhaustivePctModelAgreesWithTheClosedForms) {
  for (int n : {2, 3, 4}) {
    EXPECT_NEAR(pct_exact(std::vector<int>(static_cast<size_t>(n), 2), 2, 2 * n, lost_update_order_bug),
                lost_update_pct2(n), 1e-12);
    std::vector<int> publication_segments(static_cast<size_t>(n), 1);
    publication_segments[0] = 2;
    EXPECT_NEAR(pct_exact(publication_segments, 2, n + 1, publication_order_bug), publication_pct2(n), 1e-12);
  }
  // Depth 3 on two incrementers, counted by hand: of the 12 ordered change-point pairs
  // in 1..4, (2,1), (2,3), (3,2), (2,4), (4,2) lose the update.
  EXPECT_NEAR(pct_exact({2, 2}, 3, 4, lost_update_order_bug), 5.0 / 12.0, 1e-12);
}

TEST(ExactProbability, BinomialRangeIsTheCentralNinetyNinePercent) {
  EXPECT_EQ(binomial_range_99(2000, 0.5), std::make_pair(942, 1058));  // 1000 ± 2.58 σ
  const auto [lo, hi] = binomial_range_99(2000, 0.05);
  EXPECT_LT(lo, 100);
  EXPECT_GT(hi, 100);
}

TEST(ExactProbability, LostUpdate) {
  for (int n : {2, 3, 4}) {
    const std::string name = "lost_update(" + std::to_string(n) + ")";
    expect_found_rate(name.c_str(), StrategyConfig::uniform(), lost_update(n), lost_update_uniform(n));
    for (double p : {0.05, 0.3})
      expect_found_rate(name.c_str(), StrategyConfig::preempt(p), lost_update(n), lost_update_preempt(n, p));
  }
  for (int n : {2, 3})
    for (int d : {2, 3, 4}) {
      const std::string name = "lost_update(" + std::to_string(n) + ")";
      const double p = pct_exact(std::vector<int>(static_cast<size_t>(n), 2), d, 2 * n, lost_update_order_bug);
      expect_found_rate(name.c_str(), StrategyConfig::pct(static_cast<uint32_t>(d), 2 * static_cast<uint64_t>(n)),
                        lost_update(n), p);
      EXPECT_GE(p, pct_guarantee(static_cast<uint64_t>(n), 2 * static_cast<uint64_t>(n), static_cast<uint32_t>(d)));
    }
}

TEST(ExactProbability, PublicationWindowWithTwoToTenThreads) {
  for (int n : {2, 3, 5, 10}) {
    const std::string name = "publication(" + std::to_string(n) + ")";
    expect_found_rate(name.c_str(), StrategyConfig::uniform(), publication(n), publication_uniform(n));
    expect_found_rate(name.c_str(), StrategyConfig::preempt(0.05), publication(n), publication_preempt(n, 0.05));
    const double pct = publication_pct2(n);
    expect_found_rate(name.c_str(), StrategyConfig::pct(2, static_cast<uint64_t>(n) + 1), publication(n), pct);
    // The exact rate honours PCT's bound 1/(n·k^(d-1)).
    EXPECT_GE(pct, pct_guarantee(static_cast<uint64_t>(n), static_cast<uint64_t>(n) + 1, 2));
    if (n <= 5) {  // depth 3, counted by pct_exact (n! orders × k(k-1) change points)
      std::vector<int> segments(static_cast<size_t>(n), 1);
      segments[0] = 2;
      const double p3 = pct_exact(segments, 3, n + 1, publication_order_bug);
      expect_found_rate(name.c_str(), StrategyConfig::pct(3, static_cast<uint64_t>(n) + 1), publication(n), p3);
      EXPECT_GE(p3, pct_guarantee(static_cast<uint64_t>(n), static_cast<uint64_t>(n) + 1, 3));
    }
  }
}

// PCT counts every step (k): a run's RunResult::steps is the k the formulas above use.
TEST(ExactProbability, StepCountsMatchTheDerivations) {
  for (int n : {2, 5}) {
    SeededChoices a(1), b(1);
    EXPECT_EQ(run_world(a, SchedulerOptions{.strategy = StrategyConfig::pct(1, 1)}, lost_update(n)).steps,
              2u * static_cast<uint64_t>(n));
    EXPECT_EQ(run_world(b, SchedulerOptions{.strategy = StrategyConfig::pct(1, 1)}, publication(n)).steps,
              static_cast<uint64_t>(n) + 1);
  }
}

}  // namespace
}  // namespace mmt::sched
