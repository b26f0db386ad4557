// Helpers shared by the mem tests: a small world, a stand-in for the vma layer's
// reverse mapping, and assertions that run the consistency check.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mmtorture/core/choice.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/sched/rwsem.h"

namespace mmt::mem::testing {

// 2048 frames (4 pageblocks) with watermarks 32/40/48: small enough to exhaust fast.
inline MemConfig small_config() {
  MemConfig config;
  config.pages = 2048;
  config.min_pages = 32;
  config.low_pages = 40;
  config.high_pages = 48;
  return config;
}

#define EXPECT_CONSISTENT(memory)                                        \
  do {                                                                   \
    auto mmt_failure_ = (memory).check_consistency();                    \
    EXPECT_FALSE(mmt_failure_.has_value()) << mmt_failure_->headline() << ": " << mmt_failure_->message; \
  } while (0)

// Stands in for the vma layer: "maps" anonymous pages with n ptes (the allocation's
// reference becomes the first pte's, each further pte takes one), and unmaps them for
// reclaim under an anon_vma rwsem whose class reclaim takes.
class FakeRmap final : public RmapOps {
 public:
  explicit FakeRmap(Memory& memory) : memory_(memory) {}

  // A new anonymous page mapped by `ptes` ptes and put on the LRU.
  Page* map_new(gfp_t gfp = gfp::kKernel | gfp::kMovable, int ptes = 1) {
    Page* page = memory_.alloc_pages(gfp, 0, Site{"test_fault"});
    if (!page) return nullptr;
    memory_.page_add_anon_rmap(page, this, page->pfn);
    for (int i = 1; i < ptes; ++i) {
      memory_.get_page(page);
      memory_.page_dup_rmap(page);
    }
    memory_.lru_add(page);
    return page;
  }

  // munmap: every pte goes with its reference.
  void unmap(Page* page) {
    while (page->mapcount > 0) {
      memory_.page_remove_rmap(page);
      memory_.put_page(page);
    }
  }

  bool try_to_unmap(Page* page) override {
    ++calls;
    anon_vma_lock.down_write(Site{"try_to_unmap"});
    EXPECT_TRUE(page->test(PG_locked));
    unmap(page);
    anon_vma_lock.up_write();
    return page->mapcount == 0;
  }

  sched::RwSem anon_vma_lock{"mem_test.anon_vma", sched::LockFlags::TakenByReclaim};
  int calls = 0;

 private:
  Memory& memory_;
};

// Allocates order-0 unmovable pages (not reclaimable) until free pages reach `target`.
inline std::vector<Page*> fill_to(Memory& memory, uint64_t target) {
  std::vector<Page*> pages;
  while (memory.nr_free_pages() > target) {
    Page* page = memory.alloc_pages(gfp::kAtomic, 0, Site{"fill"});
    if (!page) break;
    pages.push_back(page);
  }
  return pages;
}

}  // namespace mmt::mem::testing
