// LruCache (see lru_cache.h).
#include "mmtorture/cma/lru_cache.h"

#include "mmtorture/core/failure.h"

namespace mmt::cma {

void LruCache::mark_page_accessed(mem::Page* page) {
  if (disabled()) return;
  memory_.get_page(page);
  batch_.push_back(page);
  if (batch_.size() >= batch_pages_) lru_add_drain_all();
}

void LruCache::lru_add_drain_all() {
  // Swap out first: put_page may free, and nothing it does can park a new page, but
  // the batch must be empty before any of that is observable.
  std::vector<mem::Page*> pages;
  pages.swap(batch_);
  for (mem::Page* page : pages) memory_.put_page(page);
  ++drains_;
}

void LruCache::lru_cache_disable() {
  ++disable_count_;
  lru_add_drain_all();
}

void LruCache::lru_cache_enable() {
  if (disable_count_ == 0)
    raise_failure("cma.lru_cache_enable", "lru_cache_enable", "lru_cache_enable without a matching lru_cache_disable");
  --disable_count_;
}

}  // namespace mmt::cma
