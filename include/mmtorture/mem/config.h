// The memory world's configuration, validated once: a value that cannot work (zero
// frames, a size that is not whole pageblocks, watermarks above the memory) is
// rejected with a ConfigError (core/config_error.h) whose key is the field, so the
// campaign can print it as bad input (exit code 2).
#pragma once

#include <cstdint>
#include <string>

#include "mmtorture/core/config_error.h"

namespace mmt::mem {

struct MemConfig {
  // 4 KiB frames; a whole number of 512-page pageblocks, at most kMaxPages.
  uint64_t pages = 16384;
  // Watermarks in pages, min <= low <= high < pages. 0 = derived: min from pages
  // (1%, at least 1), low = min * 5/4, high = min * 3/2 (the kernel's ratios).
  uint64_t min_pages = 0;
  uint64_t low_pages = 0;
  uint64_t high_pages = 0;
  // What a GFP_KERNEL allocation that still fails after direct reclaim does: fail
  // (-ENOMEM, false) or call the OOM hook and retry (true).
  bool oom_kill = false;
  // Direct-reclaim rounds before giving up (0: fail at once; at most 1,000,000).
  unsigned reclaim_retries = 16;
  // Virtual time one direct-reclaim round sleeps (throttling), when a scheduler runs.
  uint64_t reclaim_sleep_ms = 1;
  // Where alloc_pages_exact puts the tail pages it frees at once: false = head of the
  // free list (handed out next: the fragmentation behind seed 001), true = tail (the
  // change Liam Howlett proposed in that thread).
  bool exact_free_to_tail = false;
  // Swap slots (4 KiB each). Reclaim can free an anonymous page only by writing it to
  // a free slot, so once swap is full anonymous memory is unreclaimable and GFP_KERNEL
  // allocations run into the OOM path. 0 = no swap device; the default (64 GiB) never
  // fills in a simulated world.
  uint64_t swap_pages = kMaxSwapPages;
  // Frames reserved at boot (memblock_reserve: the kernel image, the memory map, early
  // allocations), from pfn 0 up: PG_reserved, never in the buddy allocator, never
  // reclaimed or migrated. They leave the workload a machine that starts out mostly
  // full, so reclaim runs from its first allocations. Must leave more than the min
  // watermark free.
  uint64_t reserved_pages = 0;
  // Per-CPU page lists (one CPU): an order-0 free goes to the head of a LIFO list of
  // its pageblock's type instead of the buddy lists, and an order-0 allocation takes
  // the head — the page freed last — first. The list is refilled from, and drained
  // back to, the buddy lists `pcp_batch` pages at a time, drained when it holds more
  // than kPcpHighBatches x pcp_batch pages, and drained whole when an allocation would
  // otherwise fail and before a range is isolated. 0 = none: every free merges at
  // once. (A frame freed to the tail of the free lists, exact_free_to_tail, bypasses
  // the lists as the kernel's FPI_TO_TAIL frees do.)
  unsigned pcp_batch = 0;
  // The high mark in frames; 0 = kPcpHighBatches x pcp_batch (the kernel's default
  // before 5.14; later kernels derive it from the low watermark, see pcp_for_zone).
  uint64_t pcp_high = 0;
  static constexpr unsigned kPcpHighBatches = 6;

  static constexpr uint64_t kMaxPages = uint64_t{1} << 24;      // 64 GiB of 4 KiB frames
  static constexpr uint64_t kMaxSwapPages = uint64_t{1} << 24;  // 64 GiB of 4 KiB slots
};

// The configuration with derived watermarks filled in; throws ConfigError.
MemConfig resolve_mem_config(const MemConfig& config);

// Per-CPU lists sized as the kernel sizes them for a zone of `pages` frames on one
// CPU (zone_batchsize, zone_highsize of 5.14+): batch = 2^n - 1 from pages / 4096
// (at least 1), high = the zone's low watermark (at least 4 batches). Sets
// config.pcp_batch and pcp_high; the watermarks are resolved first.
void pcp_for_zone(MemConfig& config);

}  // namespace mmt::mem
