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
    throw ConfigError("reserved_pages", fmt::format("{} reserved of {} frames leaves no more than the min watermark ({}) "
                                                    "free", out.reserved_pages, out.pages, out.min_pages));
  if (out.pcp_batch > 1024) throw ConfigError("pcp_batch", fmt::format("at most 1024, got {}", out.pcp_batch));
  if (out.swap_pages > MemConfig::kMaxSwapPages)
    throw ConfigError("swap_pages", fmt::format("at most {} slots, got {}", MemConfig::kMaxSwapPages, out.swap_pages));
  return out;
}

}  // namespace mmt::mem
