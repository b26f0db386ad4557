// Per-seed numbers behind the campaign report's job charts: the cma job's calls,
// retries, -EBUSY sweeps and every call's latency under its retry policy; the nommu
// job's boot outcome and free memory. Journaled beside the one-line `stats` as the
// entry's "metrics" object and totalled per campaign into summary.json (cma: per
// policy, with the latency histogram and its p50/p99; nommu: the OOM rate and the
// largest-free-block distribution). A pure function of the seed's run: deterministic.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mmtorture/jobs/metrics.h"

namespace mmt::campaign {

// The numbers a job returns (jobs/metrics.h).
using jobs::CmaSeedMetrics;
using jobs::NommuSeedMetrics;
using jobs::SeedMetrics;

// The journal's "metrics" object as compact JSON text ("" for empty metrics), and
// back. seed_metrics_from_json throws std::exception on malformed text.
std::string seed_metrics_json(const SeedMetrics& metrics);
SeedMetrics seed_metrics_from_json(const std::string& text);

// Latencies bucketed by powers of two: bucket 0 holds 0 ms, bucket k >= 1 holds
// [2^(k-1), 2^k - 1] ms.
unsigned latency_bucket(uint64_t ms);
std::pair<uint64_t, uint64_t> latency_bucket_range(unsigned bucket);

// A latency distribution: latency in virtual ms -> calls.
struct LatencyDistribution {
  std::map<uint64_t, uint64_t> calls_by_ms;
  void add(uint64_t ms, uint64_t calls) { calls_by_ms[ms] += calls; }
  uint64_t calls() const;
  // Nearest rank, as cma::summarize_latency: the smallest latency with at least
  // `percent`% of the calls at or below it (0 without calls).
  uint64_t percentile_ms(uint64_t percent) const;
  uint64_t max_ms() const { return calls_by_ms.empty() ? 0 : calls_by_ms.rbegin()->first; }
  // Calls per bucket (latency_bucket), from bucket 0 to the largest latency's.
  std::vector<uint64_t> histogram() const;
};

// One retry policy's totals over the cma seeds that ran under it.
struct CmaPolicyTotals {
  uint64_t seeds = 0, calls = 0, failed = 0, retries = 0, busy = 0, interrupted = 0, enomem = 0;
  LatencyDistribution latency;
};

// The nommu seeds' totals.
struct NommuTotals {
  uint64_t seeds = 0, ooms = 0;
  std::map<uint64_t, uint64_t> seeds_by_largest_free_kib;  // largest free block (KiB) -> seeds
};

// Every seed's metrics, added up (SeedTotals holds one).
struct JobTotals {
  std::map<std::string, CmaPolicyTotals> cma_by_policy;
  std::optional<NommuTotals> nommu;
  void add(const SeedMetrics& metrics);
  bool empty() const { return cma_by_policy.empty() && !nommu; }
};

// summary.json's "jobs" object (pretty JSON text, "" when `totals` is empty): per cma
// policy its counts and latency (calls, p50_ms, p99_ms, max_ms, and the histogram as
// [first_ms, last_ms, calls] buckets); for nommu seeds, oom rate and the largest free
// block distribution as [kib, seeds] pairs.
std::string job_totals_json(const JobTotals& totals);

}  // namespace mmt::campaign
