// Page frames: one `Page` per simulated 4 KiB frame, its flags and the pageblock
// migratetypes (design.md §3 mem). The reference model follows the kernel's
// (notes/cma-and-pins.md §3): `refcount` counts every reference, each pte mapping the
// page holds one of them, a FOLL_PIN adds GUP_PIN_COUNTING_BIAS; `mapcount` counts the
// ptes (0 = unmapped: we store the count itself, not the kernel's -1-biased field).
// Frames carry no contents: only the metadata the mm code reasons about.
#pragma once

#include <cstdint>

namespace mmt::mem {

inline constexpr uint64_t kPageSize = 4096;
inline constexpr unsigned kPageShift = 12;
// Largest buddy order (the kernel's MAX_ORDER / MAX_PAGE_ORDER): blocks of up to 1024 pages.
inline constexpr unsigned kMaxOrder = 10;
// A pageblock is 2^9 = 512 pages (2 MiB), the unit that carries a migratetype.
inline constexpr unsigned kPageblockOrder = 9;
inline constexpr uint64_t kPageblockPages = uint64_t{1} << kPageblockOrder;
// Orders above this are "costly": the allocator does not invoke the OOM killer for them.
inline constexpr unsigned kCostlyOrder = 3;
// The smallest order whose block holds `bytes` (the kernel's get_order; 0 for 0 bytes).
constexpr unsigned get_order(uint64_t bytes) {
  unsigned order = 0;
  while ((kPageSize << order) < bytes) ++order;
  return order;
}
// What one FOLL_PIN adds to refcount (the kernel's GUP_PIN_COUNTING_BIAS).
inline constexpr int32_t kGupPinCountingBias = 1 << 10;

// A pageblock's migratetype. Free pages sit on the free list of their pageblock's
// type; Isolate blocks hand out nothing (alloc_contig_range owns them for a while).
enum class MigrateType : uint8_t { Unmovable = 0, Movable = 1, Cma = 2, Isolate = 3 };
inline constexpr unsigned kMigrateTypes = 4;
const char* migratetype_name(MigrateType type);

// Page flags (our bit values, the kernel's meanings).
inline constexpr uint32_t PG_locked = 1u << 0;
inline constexpr uint32_t PG_lru = 1u << 1;         // on the anonymous LRU list
inline constexpr uint32_t PG_anon = 1u << 2;        // anonymous page (PageAnon)
inline constexpr uint32_t PG_swapbacked = 1u << 3;  // reclaim swaps it out rather than dropping it
inline constexpr uint32_t PG_isolated = 1u << 4;    // taken off the LRU by reclaim or migration
inline constexpr uint32_t PG_slab = 1u << 5;        // backs a KmemCache slab
inline constexpr uint32_t PG_reserved = 1u << 6;    // never handed out by the allocator
inline constexpr uint32_t PG_buddy = 1u << 7;       // first frame of a free block (order below)
// First frame of a block handed out by alloc_pages (order below). The kernel knows a
// non-compound block's order only from its caller; we record it so a free with the
// wrong order, of a tail frame or of a free frame is caught instead of corrupting lists.
inline constexpr uint32_t PG_allocated = 1u << 8;
inline constexpr uint32_t PG_swapcache = 1u << 9;
inline constexpr uint32_t PG_dirty = 1u << 10;
inline constexpr uint32_t PG_writeback = 1u << 11;
// A free order-0 frame on a per-CPU page list (pcp.cpp): free, but not on the buddy
// lists and not counted in nr_free_pages (as the kernel's NR_FREE_PAGES).
inline constexpr uint32_t PG_pcp = 1u << 12;

// A swap entry (swp_entry_t): slot + 1, so that 0 means "none".
using SwapEntry = uint64_t;

struct Page {
  uint64_t pfn = 0;      // index in Memory
  int32_t refcount = 0;  // every reference; 0 exactly when the frame is free
  int32_t mapcount = 0;  // ptes mapping the page (0 = unmapped)
  int32_t pincount = 0;  // FOLL_PIN pins held; each also added kGupPinCountingBias to refcount
  uint32_t flags = 0;
  // Buddy order when PG_buddy (a free block's head), allocation order when PG_allocated.
  uint8_t order = 0;
  // Free list the block sits on when PG_buddy (always its pageblock's type).
  MigrateType free_type = MigrateType::Movable;
  void* anon_vma = nullptr;  // reverse-mapping owner: opaque to mem, set by the vma layer
  // The file whose page cache holds the page (page->mapping of a file page), or null:
  // opaque to mem, set by the vma layer. A file page is never anonymous.
  void* mapping = nullptr;
  unsigned long index = 0;   // page offset within the owner (linear page index)
  void* slab = nullptr;      // the slab this frame backs when PG_slab (slab.h)
  SwapEntry swap = 0;        // its swap slot while PG_swapcache (folio->swap)

  // Links of the one list the frame is on: a buddy free list (PG_buddy) or the LRU
  // (PG_lru), never both, as the kernel's page->lru. Owned by Memory.
  Page* list_prev = nullptr;
  Page* list_next = nullptr;

  bool test(uint32_t flag) const { return (flags & flag) != 0; }
  void set(uint32_t flag) { flags |= flag; }
  void clear(uint32_t flag) { flags &= ~flag; }
};

// The kernel's fuzzy page_maybe_dma_pinned(): refcount at or above one pin's bias.
inline bool page_maybe_dma_pinned(const Page& page) { return page.refcount >= kGupPinCountingBias; }

}  // namespace mmt::mem
