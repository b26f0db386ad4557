// Per-seed numbers a job returns for the campaign report's job charts: the cma job's
// calls, retries, -EBUSY sweeps and every call's latency under its retry policy; the
// nommu job's boot outcome and free memory. A pure function of the seed's run. The
// journal's JSON form and the per-campaign totals are the campaign's
// (campaign/seed_metrics.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mmt::jobs {

struct CmaSeedMetrics {
  std::string policy;  // the retry policy as cma::RetryPolicy::name() prints it
  uint64_t calls = 0, failed = 0, retries = 0, busy = 0, interrupted = 0, enomem = 0;
  // Every call's latency in virtual ms, as (latency, calls) in ascending latency.
  std::vector<std::pair<uint64_t, uint64_t>> latency_ms;
};

struct NommuSeedMetrics {
  uint64_t memory_mib = 0;
  bool oom = false;  // the boot ran out of memory
  uint64_t free_kib = 0, largest_free_kib = 0, free_blocks_1mib = 0;
};

struct SeedMetrics {
  std::optional<CmaSeedMetrics> cma;
  std::optional<NommuSeedMetrics> nommu;
  bool empty() const { return !cma && !nommu; }
};

}  // namespace mmt::jobs
