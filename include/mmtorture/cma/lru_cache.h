// The per-CPU LRU batches (the kernel's folio_batch / pagevec in mm/swap.c) as what
// they are to migration: transient references. Marking a page accessed (or adding it
// to the LRU) parks it in a batch with a reference held until the batch is drained —
// either when it fills (15 pages) or when someone calls lru_add_drain_all(). While a
// page sits there, its refcount exceeds what its mappings explain and migration's
// refcount freeze fails (notes/cma-and-pins.md §2). alloc_contig_range drains all
// batches; since 2021 it also disables batching for its duration
// (lru_cache_disable/enable, Minchan's fix), so no new references park meanwhile.
#pragma once

#include <cstdint>
#include <vector>

#include "mmtorture/mem/memory.h"

namespace mmt::cma {

class LruCache {
 public:
  explicit LruCache(mem::Memory& memory, unsigned batch_pages = 15) : memory_(memory), batch_pages_(batch_pages) {}
  LruCache(const LruCache&) = delete;
  LruCache& operator=(const LruCache&) = delete;

  // folio_mark_accessed -> folio_activate: takes a reference on `page` (an allocated
  // page the caller can reach, e.g. under the page-table lock) and parks it in the
  // batch; a full batch is drained. While batching is disabled, nothing is parked.
  void mark_page_accessed(mem::Page* page);
  // Drops every parked reference (a page whose last reference that was is freed).
  void lru_add_drain_all();
  // Disables batching (counted: nests) and drains.
  void lru_cache_disable();
  // Undoes one lru_cache_disable; unbalanced is a Failure "cma.lru_cache_enable".
  void lru_cache_enable();

  uint64_t disable_count() const { return disable_count_; }
  bool disabled() const { return disable_count_ > 0; }
  const std::vector<mem::Page*>& batch() const { return batch_; }
  uint64_t drains() const { return drains_; }

 private:
  mem::Memory& memory_;
  unsigned batch_pages_;
  std::vector<mem::Page*> batch_;
  uint64_t disable_count_ = 0;
  uint64_t drains_ = 0;
};

}  // namespace mmt::cma
