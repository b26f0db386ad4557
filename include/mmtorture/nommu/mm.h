// The nommu address space (mm/nommu.c, seed 001): without an MMU a mapping is not a
// set of page-table entries but one physically contiguous block of pages, a vm_region,
// allocated with alloc_pages_exact() (the smallest 2^order block that holds it, split
// into order-0 pages, the pages past the mapping's end freed at once). A VMA's address
// is the physical address of its region, so every process's VMA tree is keyed by
// physical addresses. The VMA tree is a maple tree whose nodes come from the maple_node
// slab, and slab pages come from the same buddy lists the regions' freed tails went to:
// a node slab page can land in the tail of a region and stay there after the region is
// gone, so the 2^order block never reassembles (Matthew Wilcox's diagnosis in the
// thread). That is what PreallocOrder is about:
//
//   After   mainline before Liam's fix: region first (alloc_pages_exact frees its tail),
//           then add_vma_to_mm preallocates the nodes — a new slab page takes the
//           freshly freed tail page.
//   Before  Liam's "mm/nommu: Move preallocations and limit other allocations": the
//           nodes are preallocated before the vm_region, the VMA and the pages.
//
// Single OS thread, no scheduler: nommu boards of that era are uniprocessor and this
// model is about placement, not interleaving, so there is no mmap_lock.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mmtorture/core/failure.h"
#include "mmtorture/maple/maple_tree.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/mem/slab.h"
#include "mmtorture/vma/mm.h"

namespace mmt::nommu {

// Where the board's DRAM starts (many ARM boards): physical address of pfn 0, so no
// mapping ever sits at address 0.
inline constexpr unsigned long kPhysBase = 0x40000000UL;

enum class PreallocOrder : uint8_t { After = 0, Before = 1 };
const char* prealloc_order_name(PreallocOrder order);

// The kernel's vm_region: the contiguous pages backing a mapping. [vm_start, vm_end)
// are physical addresses; the pages were one alloc_pages_exact() block of
// block_pages frames starting at block_pfn, of which the ones past the mapping were
// freed at allocation time (the "tail"). A split gives each half a region of its own
// (same block_*), a shrink frees pages at either end.
struct VmRegion {
  unsigned long vm_start = 0;
  unsigned long vm_end = 0;
  uint64_t block_pfn = 0;
  uint64_t block_pages = 0;
  uint64_t tail_pfn = 0;  // first frame alloc_pages_exact freed (block end when none)
  uint64_t id = 0;
  VmRegion* prev = nullptr;  // the context's list of live regions, in creation order
  VmRegion* next = nullptr;
  bool linked = false;

  uint64_t first_pfn() const { return (vm_start - kPhysBase) >> mem::kPageShift; }
  uint64_t pages() const { return (vm_end - vm_start) >> mem::kPageShift; }
};

class NommuMm;

// One mapping of a process: [vm_start, vm_end) inside its region. Allocated from the
// world's vm_area_struct slab.
struct NommuVma {
  unsigned long vm_start = 0;
  unsigned long vm_end = 0;
  VmRegion* region = nullptr;
  NommuMm* vm_mm = nullptr;
  uint64_t id = 0;
};

// The world nommu address spaces share: memory, the slabs (vm_area_struct and maple
// nodes from vma::VmContext, vm_region from vm_region_jar), the live regions and the
// statistics the seed-001 experiment reads.
class NommuContext {
 public:
  NommuContext(mem::Memory& memory, PreallocOrder order);
  ~NommuContext();
  NommuContext(const NommuContext&) = delete;
  NommuContext& operator=(const NommuContext&) = delete;

  mem::Memory& memory() { return memory_; }
  vma::VmContext& vm() { return vm_; }
  mem::KmemCache& region_cache() { return region_cache_; }
  PreallocOrder prealloc_order() const { return order_; }
  const VmRegion* regions() const { return regions_head_; }
  uint64_t live_regions() const { return live_regions_; }

  struct Stats {
    uint64_t regions_allocated = 0;
    uint64_t tail_pages_freed = 0;        // pages alloc_pages_exact gave back at once
    uint64_t node_slab_pages = 0;         // new maple_node slab pages
    uint64_t node_slab_pages_in_tail = 0; // ... that landed in a live region's freed tail
    uint64_t late_node_allocations = 0;   // "before" preallocations topped up after the region
    uint64_t splits = 0;
    uint64_t shrinks = 0;
  };
  const Stats& stats() const { return stats_; }

  // Internals for mm.cpp. A vm_region from vm_region_jar (zeroed, not yet on the list;
  // null on failure), putting it on the live list, and taking it off (if on) and freeing
  // it — its pages are the caller's.
  VmRegion* region_struct_alloc();
  void region_link(VmRegion* region);
  void region_free(VmRegion* region);
  uint64_t next_id() { return ++ids_; }
  // mas_preallocate with GFP_KERNEL, counting the maple_node slab pages it took and
  // whether each landed in a live region's freed tail.
  int preallocate_nodes(ma_state& mas, void* entry);
  Stats& mutable_stats() { return stats_; }

 private:
  bool in_live_tail(uint64_t pfn) const;

  mem::Memory& memory_;
  vma::VmContext vm_;
  mem::KmemCache region_cache_;
  PreallocOrder order_;
  VmRegion* regions_head_ = nullptr;
  VmRegion* regions_tail_ = nullptr;
  uint64_t live_regions_ = 0;
  uint64_t ids_ = 0;
  Stats stats_;
};

// One process's address space. The tree is an allocation-range maple tree in RCU mode
// with an external lock, as the kernel's MM_MT_FLAGS.
class NommuMm {
 public:
  explicit NommuMm(NommuContext& context);
  // Must have been torn down with exit_mmap().
  ~NommuMm();
  NommuMm(const NommuMm&) = delete;
  NommuMm& operator=(const NommuMm&) = delete;

  NommuContext& context() { return *context_; }
  uint64_t id() const { return id_; }

  maple_tree mm_mt{};
  unsigned long map_count = 0;
  unsigned long total_vm = 0;  // pages
  bool exited = false;

 private:
  NommuContext* context_;
  uint64_t id_;
};

// do_mmap of a private anonymous (or copied file) mapping of `len` bytes: vm_region,
// VMA, alloc_pages_exact, VMA tree store, with the node preallocation where the
// context's PreallocOrder puts it. Returns the (physical) address, or -ENOMEM with
// nothing leaked. All allocations are GFP_KERNEL; the caller decides what an -ENOMEM
// means (at boot: the board ran out of memory).
long do_mmap(NommuMm& mm, unsigned long len);
// do_munmap: [start, start + len) must lie inside one VMA (nommu refuses anything
// else with -EINVAL). The whole VMA goes (its region freed), or its head or tail is cut
// off (shrink_vma: the region's pages there are freed), or the middle: split_vma first,
// then shrink. 0 or a negative errno (-ENOMEM with the mm unchanged).
int do_munmap(NommuMm& mm, unsigned long start, unsigned long len);
// Every VMA and region freed, the tree destroyed.
void exit_mmap(NommuMm& mm);

// The mm's VMAs in address order.
std::vector<NommuVma*> nommu_vmas(NommuMm& mm);

// validate_mm for nommu: mt_validate; each VMA's tree range is its [vm_start, vm_end);
// each VMA lies inside its region and has its whole region (no sharing here); the count
// is map_count; total_vm adds up. First violation.
std::optional<Failure> validate_nommu_mm(NommuMm& mm);
// Every live region's pages are allocated order-0 frames with one reference, not
// slab, owned by no other region; the region list and count agree. First violation.
std::optional<Failure> check_regions(NommuContext& context);

// The model behind the board's -ENOMEM: with nothing reclaimable (no swap, a ramfs page
// cache), an unmovable order-`order` request may fail only when the min watermark refuses
// it or no naturally aligned run of 2^order free frames lies in pageblocks it may use
// (not Isolate, not CMA). Null when that explains the failure, else what the frames
// offered. The frames are read block by block from their own flags (a free block's head
// PG_buddy, an allocated one's PG_allocated, each with its order), never from the buddy
// lists the allocator keeps, so a free block the allocator lost or left unmerged is
// named. Orders above a pageblock are not judged (merging across pageblocks of
// different types is the allocator's choice).
std::optional<std::string> unexplained_alloc_failure(const mem::Memory& memory, unsigned order);
// One line per VMA: "[start-end) region#N block pfn P+B".
std::string dump_nommu_mm(NommuMm& mm);

}  // namespace mmt::nommu
