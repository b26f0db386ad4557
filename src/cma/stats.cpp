// CmaStats (see stats.h).
#include "mmtorture/cma/stats.h"

#include <fmt/format.h>

#include <algorithm>

namespace mmt::cma {

LatencySummary summarize_latency(std::vector<uint64_t> samples_ms) {
  LatencySummary summary;
  summary.samples = samples_ms.size();
  if (samples_ms.empty()) return summary;
  std::sort(samples_ms.begin(), samples_ms.end());
  // Nearest rank: the smallest sample with at least p% of the samples at or below it.
  auto rank = [&](uint64_t percent) {
    const uint64_t n = samples_ms.size();
    const uint64_t index = (percent * n + 99) / 100;
    return samples_ms[index == 0 ? 0 : index - 1];
  };
  summary.p50_ms = rank(50);
  summary.p99_ms = rank(99);
  summary.max_ms = samples_ms.back();
  return summary;
}

std::string CmaStats::text() const {
  const LatencySummary lat = latency();
  return fmt::format(
      "alloc_pages_success {}\nalloc_pages_fail {}\nrelease_pages_success {}\nalloc_calls {}\nalloc_calls_fail {}\n"
      "retries {}\nbusy {}\ninterrupted {}\nenomem {}\nlatency_ms p50 {} p99 {} max {} ({} calls)\n",
      alloc_pages_success, alloc_pages_fail, release_pages_success, alloc_calls, alloc_calls_fail, retries, busy,
      interrupted, enomem, lat.p50_ms, lat.p99_ms, lat.max_ms, lat.samples);
}

}  // namespace mmt::cma
