// The maple benchmarks' workload, shared by maple_bench.cpp (the model beside std::map)
// and maple_kernel_bench.cpp (the model beside the kernel's tree): the ranges, the
// deterministic orders and probes, and the per-operation counters.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include "mmtorture/core/rng.h"
#include "mmtorture/maple/kernel_api.h"

namespace maple_bench {

constexpr unsigned long kStride = 16;  // range k is [k*16, k*16+7]
constexpr unsigned long kSpan = 8;
constexpr size_t kProbes = 1 << 16;  // lookup indices cycled through (power of two)

inline unsigned long range_first(uint64_t k) { return k * kStride; }
inline unsigned long range_last(uint64_t k) { return k * kStride + kSpan - 1; }
inline void* range_entry(uint64_t k) { return xa_mk_value(k + 1); }

// 0..n-1 in a deterministic random order (Fisher-Yates with mmt::Rng).
inline std::vector<uint64_t> shuffled(uint64_t n, uint64_t seed) {
  std::vector<uint64_t> order(n);
  for (uint64_t i = 0; i < n; ++i) order[i] = i;
  mmt::Rng rng(seed);
  for (uint64_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  return order;
}

// Random indices inside ranges (hit) or in the gaps between them (miss).
inline std::vector<unsigned long> probes(uint64_t n, bool hit, uint64_t seed) {
  std::vector<unsigned long> out(kProbes);
  mmt::Rng rng(seed);
  for (auto& index : out) index = range_first(rng.below(n)) + (hit ? 0 : kSpan) + rng.below(kSpan);
  return out;
}

[[noreturn]] inline void die(const char* what) {
  std::fprintf(stderr, "maple_bench: %s\n", what);
  std::abort();
}

inline void set_per_op(benchmark::State& state, uint64_t ops_per_iteration, const char* name = "ns_per_op") {
  const double ops = static_cast<double>(ops_per_iteration) * static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<int64_t>(ops));
  // Inverted rate: seconds per op, printed with an SI prefix (e.g. 25.3n).
  state.counters[name] =
      benchmark::Counter(static_cast<double>(ops_per_iteration),
                         benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

}  // namespace maple_bench
