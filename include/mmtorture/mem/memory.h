// Memory: the simulated physical memory of one world — its page frames, the buddy
// page allocator with GFP semantics and watermarks, the LRU (anonymous and page-cache
// pages) and reclaim
// (kswapd and direct reclaim), and the consistency check over all of it
// (design.md §3 mem).
//
// Allocation (alloc_pages), as the kernel's __alloc_pages():
//   1. might_alloc(gfp): a sleeping allocation in atomic context, or one that may enter
//      reclaim while holding a lock class reclaim takes, is a Failure; then a yield
//      point (allocation entry is where another CPU may interleave).
//   2. The fault plan decides once (fault_plan.h); an injected failure returns null at
//      once, as should_fail_alloc_page() does.
//   3. Fast path at the low watermark. Below it, __GFP_KSWAPD_RECLAIM wakes kswapd and
//      the request retries at min (__GFP_HIGH halves min, and a non-blocking __GFP_HIGH
//      request — GFP_ATOMIC — takes another quarter off, the kernel's reserves).
//   4. A request that may not sleep fails there (stats.nowait_failures).
//   5. One that may: up to reclaim_retries direct-reclaim rounds, each throttled by
//      reclaim_sleep_ms of virtual time (when on a green thread), then one LRU pass,
//      then a retry at min.
//   6. Then: the OOM hook if oom_kill is configured and the order is not costly (and
//      retry from 5 while it frees pages); __GFP_NOFAIL keeps looping (sleeping each
//      round; with no green thread to wait for, that is a Failure "mem.nofail_stuck");
//      otherwise null.
// Free counts the watermarks see exclude Isolate pageblocks, and CMA ones unless the
// request is __GFP_MOVABLE (the buddy allocator lends CMA only to movable requests).
//
// Determinism: free lists are FIFO/LIFO lists of frames (head = next handed out); the
// LRU is an intrusive list in the order pages were added; nothing is ordered by host
// pointer values; the only randomness is the fault plan's draws on the ChoiceSource.
//
// Not thread-safe in the host sense: one world per OS thread. Green threads switch
// only at yield points and blocking calls, and the allocator's list operations contain
// neither, so they are atomic as if under zone->lock.
#pragma once

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <vector>

#include "mmtorture/core/choice.h"
#include "mmtorture/core/failure.h"
#include "mmtorture/core/gfp.h"
#include "mmtorture/core/site.h"
#include "mmtorture/core/trace_hash.h"
#include "mmtorture/mem/config.h"
#include "mmtorture/mem/fault_plan.h"
#include "mmtorture/mem/page.h"
#include "mmtorture/sched/wait_queue.h"

namespace mmt::sched {
class Scheduler;
class Thread;
}  // namespace mmt::sched

namespace mmt::mem {

// "GFP_NOWAIT", "GFP_KERNEL|__GFP_NOFAIL", ...: the flags as the kernel spells them,
// for event logs and messages.
std::string gfp_text(gfp_t flags);

// Reverse mapping, implemented by the vma layer and called by reclaim.
class RmapOps {
 public:
  virtual ~RmapOps() = default;
  // Unmaps every pte mapping `page` (taking the anon_vma lock, a class marked "taken by
  // reclaim"); each pte removed drops its mapcount and its reference. True if mapcount
  // reached 0. May sleep. Reclaim holds its own reference across the call, so the page
  // cannot be freed under it.
  virtual bool try_to_unmap(Page* page) = 0;
  // __remove_mapping for a page-cache page (page->mapping set) that nothing maps: drops
  // it from its owner's cache when the caller's isolation reference and the cache's are
  // the only ones and it is clean, putting the cache's reference. True if dropped. Does
  // not yield. This default knows no caches.
  virtual bool remove_mapping(Page* page) {
    (void)page;
    return false;
  }
  // Migration's rmap step: moves every pte mapping `from` to `to`, each pte taking its
  // mapcount and its reference along. `from` is isolated (off the LRU) with one
  // reference held by the caller; `to` is a fresh page (refcount 1, unmapped). The
  // kernel's refcount freeze: a reference on `from` that neither its mappings nor the
  // caller explain (a pin, a fork or zap window, an LRU batch) means -EAGAIN with
  // nothing changed. 0 on success, after which `from` holds only the caller's
  // reference. May sleep. This default knows no mappings: it can only "migrate" a page
  // that nothing maps or holds (0), anything else is -EAGAIN.
  virtual int try_to_migrate(Page* from, Page* to) {
    (void)to;
    return from->mapcount == 0 && from->refcount == 1 ? 0 : -EAGAIN;
  }
};

class Memory {
 public:
  // Throws ConfigError for a configuration that cannot work. `choices` (and `plan`, if
  // given) must outlive the Memory. Every frame starts free, every pageblock Movable.
  Memory(const MemConfig& config, ChoiceSource& choices, FaultPlan* plan = nullptr);
  Memory(const Memory&) = delete;
  Memory& operator=(const Memory&) = delete;

  // ---- The page allocator (page_alloc.cpp) ----

  // 2^order contiguous frames, or null. The head frame gets refcount 1 (the tail frames
  // 0, as a non-compound kernel allocation) and PG_allocated with its order. Order above
  // kMaxOrder fails (counted, never a Failure: the kernel only warns).
  Page* alloc_pages(gfp_t gfp, unsigned order, Site site);
  // Drops the head's reference; at 0 the block returns to the buddy lists. `order` must
  // be the one it was allocated with: a mismatch, a tail frame or a free frame is a
  // Failure "mem.bad_free". Null is ignored. (The kernel frees the tail frames at once
  // when others hold the head; we free the whole block at the last put.)
  void free_pages(Page* page, unsigned order);
  // The smallest 2^order >= bytes, split into order-0 pages, with the pages past
  // `bytes` freed at once (make_alloc_exact). bytes must be 1..4 MiB.
  Page* alloc_pages_exact(size_t bytes, gfp_t gfp, Site site);
  // Frees the ceil(bytes/4096) order-0 pages alloc_pages_exact returned.
  void free_pages_exact(Page* page, size_t bytes);
  // A reference on an allocated page (refcount must already be > 0: "mem.bad_ref").
  void get_page(Page* page);
  // Drops a reference; at 0 the page's block is freed (and leaves the LRU if on it).
  void put_page(Page* page);
  // FOLL_PIN: refcount += kGupPinCountingBias, pincount += 1; and its undo.
  void pin_user_page(Page* page);
  void unpin_user_page(Page* page);
  // Reverse-map bookkeeping for the vma layer: a pte now maps the page (mapcount + 1;
  // the pte's reference is the caller's to take or hand over), and its removal.
  void page_add_anon_rmap(Page* page, void* anon_vma, unsigned long index);
  void page_dup_rmap(Page* page);
  // A pte now maps the file page `page` (page->mapping set by its owner): mapcount + 1.
  void page_add_file_rmap(Page* page);
  void page_remove_rmap(Page* page);

  // Null when pfn is out of range.
  Page* pfn_to_page(uint64_t pfn);
  const Page* pfn_to_page(uint64_t pfn) const;
  uint64_t page_to_pfn(const Page* page) const { return page->pfn; }

  uint64_t nr_pages() const { return pages_.size(); }
  // Frames on the buddy free lists, every migratetype.
  uint64_t nr_free_pages() const { return nr_free_; }
  uint64_t nr_free_pages(MigrateType type) const { return nr_free_by_type_[index_of(type)]; }
  uint64_t nr_free_blocks(unsigned order, MigrateType type) const;
  // Free frames on the per-CPU lists (pcp.cpp; 0 without them).
  uint64_t nr_pcp_pages() const { return pcp_lists_[0].size() + pcp_lists_[1].size(); }
  // drain_all_pages: every per-CPU list back to the buddy lists, where the frames merge.
  void drain_all_pages();
  uint64_t min_pages() const { return config_.min_pages; }
  uint64_t low_pages() const { return config_.low_pages; }
  uint64_t high_pages() const { return config_.high_pages; }
  const MemConfig& config() const { return config_; }
  FaultPlan* fault_plan() const { return plan_; }
  ChoiceSource& choices() const { return choices_; }

  // ---- Pageblocks (buddy.cpp) ----

  MigrateType pageblock_migratetype(uint64_t pfn) const;
  // Sets the type of the pageblock holding pfn and moves its free blocks to the new
  // type's lists (move_freepages_block), splitting a free block that spans two
  // pageblocks first. Allocated frames are untouched.
  void set_pageblock_migratetype(uint64_t pfn, MigrateType type);
  // test_pages_isolated + isolate_freepages_range, the last step of alloc_contig_range:
  // if every frame of [start, end) is free and on an Isolate pageblock, takes them off
  // the buddy lists (the parts of a free block outside the range stay free) and makes
  // each an allocated order-0 page with refcount 1, then returns `end`. Otherwise it
  // changes nothing and returns the first frame that is not (the kernel's "PFNs busy").
  // Does not yield: the test and the take are one step, as under zone->lock.
  uint64_t isolate_freepages_range(uint64_t start, uint64_t end);

  // ---- LRU and reclaim (reclaim.cpp) ----

  // Puts an allocated page at the head (newest end) of the anonymous LRU.
  void lru_add(Page* page);
  // Takes it off again (no-op if it is not on the LRU).
  void lru_del(Page* page);
  uint64_t lru_size() const { return lru_size_; }
  void set_rmap_ops(RmapOps* ops) { rmap_ops_ = ops; }
  // Spawns the kswapd daemon on `scheduler` (before or during its run) or on
  // Scheduler::running() (from a green thread). It sleeps until an allocation takes
  // free pages below the low watermark, then reclaims until free pages reach high or a
  // pass frees nothing. The Memory must outlive that scheduler's run.
  void start_kswapd(sched::Scheduler& scheduler);
  void start_kswapd();
  // Wakes kswapd (no-op without one, when it is already awake, or after 16 passes in a
  // row freed nothing — until some reclaim frees a page again, as the kernel's
  // pgdat->kswapd_failures).
  void wakeup_kswapd();
  // Called when a GFP_KERNEL allocation of order <= kCostlyOrder still fails after
  // direct reclaim and oom_kill is configured: returns true if it killed something.
  // The allocation retries (reclaim rounds included) while a call returns true and free
  // pages grew; otherwise it fails (or, with __GFP_NOFAIL, keeps looping).
  void set_oom_hook(std::function<bool()> hook) { oom_hook_ = std::move(hook); }
  // One reclaim pass over the LRU, oldest first, until `nr_to_reclaim` pages were freed
  // or every page was looked at once: unmaps through RmapOps and frees pages nobody
  // else references; pages with extra references (pins, transient gets) rotate to the
  // head. A page-cache page (page->mapping) holds its cache's reference besides: once
  // unmapped it is written back if dirty (PG_writeback for the write, a yield point,
  // then clean) and dropped from its cache through RmapOps::remove_mapping. May sleep in
  // RmapOps and in writeback. Returns the pages freed.
  uint64_t shrink_lru(uint64_t nr_to_reclaim, Site site);

  // ---- Swap (swap.cpp) ----
  //
  // The swap device: config().swap_pages slots. Each slot in use carries the number of
  // swap ptes that refer to it (the kernel's swap_map count) and whether the swap cache
  // holds it; it is free again when both are gone. Slots are handed out from the
  // most recently freed, then from a high-water mark: deterministic, and O(1) without
  // touching the 16M slots of the default (effectively unlimited) device.

  // add_to_swap: gives an anonymous page a slot and puts it in the swap cache
  // (PG_swapcache, page->swap), so try_to_unmap can turn its ptes into swap ptes.
  // False (nothing changed) when every slot is in use.
  bool add_to_swap(Page* page);
  // The page leaves the swap cache; its slot is freed unless swap ptes refer to it.
  void delete_from_swap_cache(Page* page);
  // One more swap pte refers to `entry` (try_to_unmap, fork's copy_nonpresent_pte).
  void swap_duplicate(SwapEntry entry);
  // One fewer (zap, swap-in); the slot is freed at 0 unless the swap cache holds it.
  // A count going below 0, or a slot that is not in use, is a Failure "mem.bad_swap".
  void swap_free(SwapEntry entry);
  // The swap pte count of `entry` (0 for a free or out-of-range slot).
  uint32_t swap_count(SwapEntry entry) const;
  uint64_t nr_swap_pages() const { return config_.swap_pages - swap_used_; }  // free slots
  uint64_t swap_slots_used() const { return swap_used_; }
  // The sum of every slot's swap pte count (O(slots handed out), for end-of-run checks).
  uint64_t swap_references() const;
  // do_swap_page read `entry` back into a fresh page (statistics only).
  void count_swap_in() { ++stats_.swap_ins; }

  // Where alloc/free events are folded (default: the running scheduler's trace).
  void set_trace(TraceHash* trace) { trace_ = trace; }

  struct Stats {
    uint64_t allocs = 0;            // successful alloc_pages (any order)
    uint64_t alloc_failures = 0;    // alloc_pages that returned null, any reason
    ClassCounts failures_by_class;  // alloc_failures per GFP class, slab refills excluded (the slab counts them)
    uint64_t nowait_failures = 0;   // non-sleeping requests that failed on the watermark
    uint64_t injected_failures = 0; // failed by the fault plan
    uint64_t direct_reclaims = 0;   // direct-reclaim rounds
    uint64_t kswapd_wakeups = 0;    // times kswapd was woken from sleep
    uint64_t kswapd_runs = 0;       // balancing passes kswapd started
    uint64_t pages_scanned = 0;
    uint64_t pages_reclaimed = 0;
    uint64_t pages_rotated = 0;
    uint64_t swap_outs = 0;         // anonymous pages reclaimed by writing them to a swap slot
    uint64_t swap_ins = 0;          // swap ptes faulted back in
    uint64_t swap_full = 0;         // anonymous pages reclaim kept because swap was full
    uint64_t file_dropped = 0;      // page-cache pages reclaim dropped from their cache
    uint64_t file_writebacks = 0;   // dirty page-cache pages reclaim wrote back first
    uint64_t oom_kills = 0;         // OOM hook calls that killed something and freed pages
    uint64_t nofail_rounds = 0;     // extra rounds __GFP_NOFAIL looped after giving up
    uint64_t frees = 0;             // blocks freed (to the buddy or a per-CPU list)
    uint64_t pcp_drains = 0;        // drain_all_pages calls that found frames on the lists
  };
  const Stats& stats() const { return stats_; }

  // Every frame is exactly one of: the head or a tail of a free block (on exactly one
  // buddy list of its pageblock's type, aligned, not mergeable with its buddy), or
  // allocated; free frames have no references, mappings, pins or LRU membership;
  // allocated ones have refcount >= mapcount + pins; counts, per-type counts and the
  // LRU add up. Returns the first violation, naming the check ("mem.<what>"), the pfn
  // and the frame's state.
  std::optional<Failure> check_consistency() const;
  // The per-frame part of check_consistency for one frame (O(kMaxOrder), no list
  // walks): for incremental checks of the frames an operation touched, with a full
  // check_consistency() every N operations.
  std::optional<Failure> check_page(uint64_t pfn) const;
  // One line describing a frame, for failure messages.
  std::string describe_page(const Page& page) const;

 private:
  friend class KmemCache;
  // check_consistency's passes, in order. `listed` marks each frame as the pass over the
  // lists found it: 0 on no list, 1 the head of a free block, 2 inside one, 3 on a
  // per-CPU list.
  std::optional<Failure> check_free_lists(std::vector<uint8_t>& listed) const;
  std::optional<Failure> check_pcp_lists(std::vector<uint8_t>& listed) const;
  std::optional<Failure> check_frames(const std::vector<uint8_t>& listed, uint64_t& on_lru) const;
  std::optional<Failure> check_free_frame(const Page& page, const std::vector<uint8_t>& listed) const;
  std::optional<Failure> check_swap_slots() const;
  std::optional<Failure> check_lru(uint64_t on_lru) const;
  struct FreeList {
    Page* head = nullptr;
    Page* tail = nullptr;
    uint64_t count = 0;
  };
  static constexpr unsigned index_of(MigrateType type) { return static_cast<unsigned>(type); }

  // buddy.cpp
  void add_to_free_list(Page* page, unsigned order, MigrateType type, bool to_tail);
  void del_from_free_list(Page* page, unsigned order);
  void free_one_block(uint64_t pfn, unsigned order, bool to_tail);
  void expand(Page* page, unsigned low, unsigned high, MigrateType type);
  Page* rmqueue_smallest(unsigned order, MigrateType type);
  Page* rmqueue_fallback(unsigned order, MigrateType start_type);
  Page* rmqueue(unsigned order, MigrateType type);
  void move_freepages_block(uint64_t block);
  void split_free_block_at(uint64_t block);
  uint64_t free_pages_in_pageblock(uint64_t block) const;
  const Page* free_block_containing(uint64_t pfn) const;

  // page_alloc.cpp
  Page* alloc_pages_internal(gfp_t gfp, unsigned order, Site site, bool from_slab);
  Page* get_page_from_freelist(gfp_t gfp, unsigned order, uint64_t mark);
  bool watermark_ok(gfp_t gfp, unsigned order, uint64_t mark) const;
  Page* alloc_slowpath(gfp_t gfp, unsigned order, Site site);
  void prep_new_page(Page* page, unsigned order);
  void free_block(Page* page, bool to_tail);
  void check_allocated_head(const Page* page, const char* op) const;
  void trace_event(TraceEvent event, uint64_t a, uint64_t b, uint64_t c);

  // pcp.cpp
  static constexpr unsigned pcp_index(MigrateType type) { return type == MigrateType::Unmovable ? 0 : 1; }
  Page* rmqueue_pcplist(MigrateType type);
  bool free_to_pcp(Page* page);
  void free_pcppages_bulk(uint64_t count);

  // swap.cpp
  struct SwapSlot {
    uint32_t count = 0;   // swap ptes referring to it
    bool cached = false;  // held by the swap cache
    bool in_use() const { return count > 0 || cached; }
  };
  SwapSlot& swap_slot(SwapEntry entry, const char* op);
  void swap_slot_release(SwapEntry entry);

  // reclaim.cpp
  void lru_list_add(Page* page);
  void lru_list_del(Page* page);
  void kswapd_main();
  bool reclaim_round(gfp_t gfp, unsigned order, Site site);

  MemConfig config_;
  ChoiceSource& choices_;
  FaultPlan* plan_;
  TraceHash* trace_ = nullptr;
  std::vector<Page> pages_;
  std::vector<MigrateType> pageblock_types_;
  std::array<std::array<FreeList, kMigrateTypes>, kMaxOrder + 1> free_area_{};
  uint64_t nr_free_ = 0;
  std::array<uint64_t, kMigrateTypes> nr_free_by_type_{};
  // The per-CPU lists: [0] unmovable, [1] movable (CMA frames included, as the kernel
  // files them); the front is the head (freed last, handed out first).
  std::array<std::deque<Page*>, 2> pcp_lists_;
  unsigned pcp_drain_next_ = 0;  // the list free_pcppages_bulk starts at (round robin)

  Page* lru_head_ = nullptr;  // newest
  Page* lru_tail_ = nullptr;  // oldest: reclaim starts here
  uint64_t lru_size_ = 0;
  RmapOps* rmap_ops_ = nullptr;

  sched::Thread* kswapd_ = nullptr;
  const sched::Scheduler* kswapd_scheduler_ = nullptr;  // compared, never dereferenced
  sched::WaitQueue kswapd_wait_{"kswapd_wait"};
  bool kswapd_pending_ = false;  // woken and not yet started a pass
  bool kswapd_active_ = false;   // inside a balancing pass
  unsigned kswapd_failures_ = 0;  // balancing passes in a row that freed nothing
  std::function<bool()> oom_hook_;
  std::vector<SwapSlot> swap_slots_;        // up to the high-water mark
  std::vector<SwapEntry> swap_free_slots_;  // released below the high-water mark, LIFO
  uint64_t swap_used_ = 0;
  Stats stats_;
};

}  // namespace mmt::mem
