// MemConfig validation and derived watermarks (config.h).
#include "mmtorture/mem/config.h"

#include <fmt/format.h>

#include <algorithm>

#include "mmtorture/mem/page.h"

namespace mmt::mem {

MemConfig resolve_mem_config(const MemConfig& config) {
  MemConfig out = config;
  if (out.pages == 0) throw ConfigError("pages", "must be at least one pageblock (512 frames), got 0");
  if (out.pages % kPageblockPages != 0)
    throw ConfigError("pages", fmt::format("must be a multiple of the {}-frame pageblock, got {}", kPageblockPages,
                                           out.pages));
  if (out.pages > MemConfig::kMaxPages)
    throw ConfigError("pages", fmt::format("at most {} frames, got {}", MemConfig::kMaxPages, out.pages));

  // Derive what was left at 0 from what was given, so "min_pages = 64" alone works.
  if (out.min_pages == 0) out.min_pages = std::max<uint64_t>(1, out.pages / 100);
  if (out.low_pages == 0) out.low_pages = out.min_pages + out.min_pages / 4;
  if (out.high_pages == 0) out.high_pages = out.min_pages + out.min_pages / 2;

  if (out.low_pages < out.min_pages)
    throw ConfigError("low_pages", fmt::format("must be at least min_pages ({}), got {}", out.min_pages,
                                               out.low_pages));
  if (out.high_pages < out.low_pages)
    throw ConfigError("high_pages", fmt::format("must be at least low_pages ({}), got {}", out.low_pages,
                                                out.high_pages));
  if (out.high_pages >= out.pages)
    throw ConfigError("high_pages", fmt::format("watermark {} does not fit in memory of {} pages (must be below pages)",
                                                out.high_pages, out.pages));
  if (out.reclaim_retries > 1'000'000)
    throw ConfigError("reclaim_retries", fmt::format("at most 1000000, got {}", out.reclaim_retries));
  if (out.reclaim_sleep_ms > 3'600'000)
    throw ConfigError("reclaim_sleep_ms", fmt::format("at most one hour (3600000), got {}", out.reclaim_sleep_ms));
  if (out.reserved_pages >= out.pages || out.pages - out.reserved_pages <= out.min_pages)
    throw ConfigError("reserved_pages", fmt::format("{} of {} pages reserved leaves no more than the min watermark ({}) "
                                                    "free", out.reserved_pages, out.pages, out.min_pages));
  if (out.pcp_batch > 1024) throw ConfigError("pcp_batch", fmt::format("at most 1024, got {}", out.pcp_batch));
  if (out.pcp_batch && out.pcp_high == 0) out.pcp_high = uint64_t{MemConfig::kPcpHighBatches} * out.pcp_batch;
  if (out.pcp_batch && out.pcp_high < out.pcp_batch)
    throw ConfigError("pcp_high", fmt::format("must be at least pcp_batch ({}), got {}", out.pcp_batch, out.pcp_high));
  if (out.swap_pages > MemConfig::kMaxSwapPages)
    throw ConfigError("swap_pages", fmt::format("at most {} slots, got {}", MemConfig::kMaxSwapPages, out.swap_pages));
  return out;
}

void pcp_for_zone(MemConfig& config) {
  const MemConfig resolved = resolve_mem_config(config);
  uint64_t batch = std::min<uint64_t>(resolved.pages >> 10, (1024 * 1024) / kPageSize) / 4;
  if (batch < 1) batch = 1;
  uint64_t rounded = 1;  // rounddown_pow_of_two(batch + batch / 2) - 1
  while (rounded * 2 <= batch + batch / 2) rounded *= 2;
  config.pcp_batch = static_cast<unsigned>(std::max<uint64_t>(1, rounded - 1));
  config.pcp_high = std::max<uint64_t>(resolved.low_pages, uint64_t{4} * config.pcp_batch);
}

}  // namespace mmt::mem
