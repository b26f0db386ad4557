// The nommu address space (nommu/mm.h): regions from alloc_pages_exact, VMAs in a
// maple tree keyed by physical address, do_mmap with either preallocation order,
// do_munmap with nommu's shrink and split, exit_mmap, and the checks over all of it.
// Written from the behaviour described in seed 001 and mm/nommu.c's documented
// contract; no kernel code.
#include "mmtorture/nommu/mm.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <new>
#include <utility>

#include "mmtorture/core/defects.h"
#include "mmtorture/maple/kernel_api.h"
#include "mmtorture/maple/validate.h"
#include "mmtorture/sched/scheduler.h"

namespace mmt::nommu {

namespace {

constexpr Site kSiteRegionJar{"vm_region_jar"};
constexpr Site kSiteVmAreaAlloc{"vm_area_alloc"};
constexpr Site kSiteRegionPages{"do_mmap_private: alloc_pages_exact"};
// What the "before" reservation plans for: the VMA does not exist yet (the kernel
// passed a null vma) and its address is unknown until the pages are there.
void* const kPlanningEntry = xa_mk_value(1);

// The range the "before" reservation plans a store of `len` bytes for. The thread's
// kernel reserved the worst case of any store (1 + 3 x height); ours reserves exactly
// what the planned store needs, so the plan is a store of the same length one page past
// the highest mapping: it cuts a gap in two in the rightmost leaf, the most a new
// mapping can add to a leaf, so for trees of one leaf (boot-time processes) it covers
// the real store; a taller tree may need a top-up after the region (counted as late).
std::pair<unsigned long, unsigned long> planning_range(NommuMm& mm, unsigned long len) {
  MA_STATE(probe, &mm.mm_mt, ULONG_MAX, ULONG_MAX);
  const auto* last = static_cast<const NommuVma*>(mas_find_rev(&probe, 0));
  const unsigned long start = (last ? last->vm_end : kPhysBase) + mem::kPageSize;
  return {start, start + len - 1};
}

static_assert(sizeof(NommuVma) <= sizeof(vma::Vma), "nommu VMAs come from the vm_area_struct slab");

unsigned long page_align(unsigned long len) { return (len + mem::kPageSize - 1) & ~(mem::kPageSize - 1); }

unsigned long pfn_to_phys(uint64_t pfn) { return kPhysBase + (static_cast<unsigned long>(pfn) << mem::kPageShift); }

NommuVma* vma_alloc(NommuMm& mm) {
  void* object = mm.context().vm().vma_cache().alloc(gfp::kKernel, kSiteVmAreaAlloc);
  if (!object) return nullptr;
  auto* vma = new (object) NommuVma;
  vma->vm_mm = &mm;
  vma->id = mm.context().next_id();
  return vma;
}

void vma_free(NommuMm& mm, NommuVma* vma) {
  vma->~NommuVma();
  mm.context().vm().vma_cache().free(vma);
}

// Frees the frames of [start, end) (physical addresses): each is an order-0 page of
// its own since alloc_pages_exact split the block.
void free_page_series(mem::Memory& memory, unsigned long start, unsigned long end) {
  for (unsigned long addr = start; addr < end; addr += mem::kPageSize)
    memory.free_pages(memory.pfn_to_page((addr - kPhysBase) >> mem::kPageShift), 0);
}

// delete_vma + the region's pages: the VMA is already out of the tree.
void delete_vma(NommuMm& mm, NommuVma* vma) {
  NommuContext& context = mm.context();
  if (VmRegion* region = vma->region) {
    free_page_series(context.memory(), region->vm_start, region->vm_end);
    context.region_free(region);
  }
  vma_free(mm, vma);
}

}  // namespace

const char* prealloc_order_name(PreallocOrder order) {
  return order == PreallocOrder::Before ? "before" : "after";
}

// ---- NommuContext -------------------------------------------------------------------

NommuContext::NommuContext(mem::Memory& memory, PreallocOrder order)
    : memory_(memory),
      vm_(memory),
      region_cache_(memory, "vm_region_jar", sizeof(VmRegion), alignof(VmRegion)),
      order_(order) {}

NommuContext::~NommuContext() {
  // Deferred node frees go to this context's slab; a destructor never throws (after a
  // failed run a callback may trip over the corruption that failed it).
  try {
    rcu_barrier();
  } catch (const FailureError&) {
  }
}

VmRegion* NommuContext::region_struct_alloc() {
  void* object = region_cache_.alloc(gfp::kKernel, kSiteRegionJar);
  if (!object) return nullptr;
  auto* region = new (object) VmRegion;
  region->id = next_id();
  return region;
}

void NommuContext::region_link(VmRegion* region) {
  region->prev = regions_tail_;
  (regions_tail_ ? regions_tail_->next : regions_head_) = region;
  regions_tail_ = region;
  region->linked = true;
  ++live_regions_;
}

void NommuContext::region_free(VmRegion* region) {
  if (region->linked) {
    (region->prev ? region->prev->next : regions_head_) = region->next;
    (region->next ? region->next->prev : regions_tail_) = region->prev;
    --live_regions_;
  }
  region->~VmRegion();
  region_cache_.free(region);
}

bool NommuContext::in_live_tail(uint64_t pfn) const {
  for (const VmRegion* region = regions_head_; region; region = region->next)
    if (pfn >= region->tail_pfn && pfn < region->block_pfn + region->block_pages) return true;
  return false;
}

int NommuContext::preallocate_nodes(ma_state& mas, void* entry) {
  mem::KmemCache& cache = vm_.maple_node_cache();
  const uint64_t slabs_before = cache.stats().slabs_allocated;
  const int ret = mas_preallocate(&mas, entry, gfp::kKernel);
  const uint64_t added = cache.stats().slabs_allocated - slabs_before;
  if (added) {
    // New slabs are appended: the newest `added` are this reservation's (a failed
    // reservation may have given some back; count the ones still there).
    const std::vector<uint64_t> pfns = cache.slab_pfns();
    for (size_t i = pfns.size() - std::min<size_t>(added, pfns.size()); i < pfns.size(); ++i)
      if (in_live_tail(pfns[i])) ++stats_.node_slab_pages_in_tail;
    stats_.node_slab_pages += added;
  }
  return ret;
}

// ---- NommuMm --------------------------------------------------------------------------

NommuMm::NommuMm(NommuContext& context) : context_(&context), id_(context.next_id()) {
  mt_init_flags(&mm_mt, MT_FLAGS_ALLOC_RANGE | MT_FLAGS_LOCK_EXTERN | MT_FLAGS_USE_RCU);
}

NommuMm::~NommuMm() {
  // As vma::Mm: no kernel-model teardown after the run failed, and never a throw.
  if (exited || context_->vm().abandoned() || sched::run_failed()) return;
  try {
    exit_mmap(*this);
  } catch (const FailureError& error) {
    context_->vm().note_destructor_failure(error.failure());
    context_->vm().abandon();
  }
}

// ---- do_mmap --------------------------------------------------------------------------

long do_mmap(NommuMm& mm, unsigned long len) {
  len = page_align(len);
  if (len == 0 || len > (mem::kPageSize << mem::kMaxOrder)) return -EINVAL;
  NommuContext& context = mm.context();
  mem::Memory& memory = context.memory();
  const bool before = context.prealloc_order() == PreallocOrder::Before;
  MA_STATE(mas, &mm.mm_mt, 0, 0);
  // Liam's order: the tree's nodes first, while the large free blocks are still whole.
  if (before) {
    const auto [plan_start, plan_last] = planning_range(mm, len);
    mas_set_range(&mas, plan_start, plan_last);
    if (context.preallocate_nodes(mas, kPlanningEntry)) return -ENOMEM;
  }
  const unsigned long reserved = mas_allocated(&mas);
  VmRegion* region = context.region_struct_alloc();
  if (!region) {
    mas_destroy(&mas);
    return -ENOMEM;
  }
  NommuVma* vma = vma_alloc(mm);
  if (!vma) {
    context.region_free(region);
    mas_destroy(&mas);
    return -ENOMEM;
  }
  mem::Page* page = memory.alloc_pages_exact(len, gfp::kKernel, kSiteRegionPages);
  if (!page) {
    if (auto why = unexplained_alloc_failure(memory, mem::get_order(len)))
      raise_failure("nommu.unexplained_enomem", kSiteRegionPages.name, *why);
    vma_free(mm, vma);
    context.region_free(region);
    mas_destroy(&mas);
    return -ENOMEM;
  }
  const uint64_t used = len >> mem::kPageShift;
  uint64_t block = 1;
  while (block < used) block <<= 1;
  region->vm_start = pfn_to_phys(page->pfn);
  region->vm_end = region->vm_start + len;
  region->block_pfn = page->pfn;
  region->block_pages = block;
  region->tail_pfn = page->pfn + used;
  context.region_link(region);
  context.mutable_stats().regions_allocated += 1;
  context.mutable_stats().tail_pages_freed += block - used;
  vma->vm_start = region->vm_start;
  vma->vm_end = region->vm_end;
  vma->region = region;
  // Mainline before the fix: add_vma_to_mm preallocates here, after the tail went back
  // to the free lists. With "before" this only tops the reservation up if the real
  // store needs more than the planned one (counted: a late allocation).
  mas_set_range(&mas, vma->vm_start, vma->vm_end - 1);
  if (context.preallocate_nodes(mas, vma)) {
    delete_vma(mm, vma);
    return -ENOMEM;
  }
  if (before && mas_allocated(&mas) > reserved) context.mutable_stats().late_node_allocations += 1;
  mas_store_prealloc(&mas, vma);
  ++mm.map_count;
  mm.total_vm += used;
  return static_cast<long>(vma->vm_start);
}

// ---- do_munmap ------------------------------------------------------------------------

namespace {

// split_vma with new_below: a new VMA and region take [vm_start, addr), the old ones
// keep [addr, vm_end). One store: the new VMA over the lower part of the old one's slot.
int split_vma(NommuMm& mm, NommuVma* vma, unsigned long addr) {
  NommuContext& context = mm.context();
  VmRegion* region = context.region_struct_alloc();
  if (!region) return -ENOMEM;
  NommuVma* fresh = vma_alloc(mm);
  if (!fresh) {
    context.region_free(region);
    return -ENOMEM;
  }
  MA_STATE(mas, &mm.mm_mt, vma->vm_start, addr - 1);
  if (context.preallocate_nodes(mas, fresh)) {
    vma_free(mm, fresh);
    context.region_free(region);
    return -ENOMEM;
  }
  const VmRegion& old = *vma->region;
  region->vm_start = old.vm_start;
  region->vm_end = addr;
  region->block_pfn = old.block_pfn;
  region->block_pages = old.block_pages;
  region->tail_pfn = old.tail_pfn;
  context.region_link(region);
  vma->region->vm_start = addr;
  fresh->vm_start = vma->vm_start;
  fresh->vm_end = addr;
  fresh->region = region;
  vma->vm_start = addr;
  mas_store_prealloc(&mas, fresh);
  ++mm.map_count;
  // CANARY nommu-split-double-count (seed 001): both halves set up as new VMAs, so the
  // original is counted a second time.
  if (defect_enabled(Defect::NommuSplitDoubleCount)) ++mm.map_count;
  context.mutable_stats().splits += 1;
  return 0;
}

// shrink_vma: [from, to) is the head or the tail of the VMA; it leaves the tree and its
// pages go back.
int shrink_vma(NommuMm& mm, NommuVma* vma, unsigned long from, unsigned long to) {
  NommuContext& context = mm.context();
  MA_STATE(mas, &mm.mm_mt, from, to - 1);
  if (context.preallocate_nodes(mas, nullptr)) return -ENOMEM;
  if (from > vma->vm_start)
    vma->vm_end = from;
  else
    vma->vm_start = to;
  mas_store_prealloc(&mas, nullptr);
  vma->region->vm_start = vma->vm_start;
  vma->region->vm_end = vma->vm_end;
  free_page_series(context.memory(), from, to);
  mm.total_vm -= (to - from) >> mem::kPageShift;
  context.mutable_stats().shrinks += 1;
  return 0;
}

}  // namespace

int do_munmap(NommuMm& mm, unsigned long start, unsigned long len) {
  len = page_align(len);
  if (len == 0 || (start & (mem::kPageSize - 1)) != 0) return -EINVAL;
  auto* vma = static_cast<NommuVma*>(mtree_load(&mm.mm_mt, start));
  const unsigned long end = start + len;
  if (!vma || end > vma->vm_end) return -EINVAL;
  if (start == vma->vm_start && end == vma->vm_end) {
    MA_STATE(mas, &mm.mm_mt, vma->vm_start, vma->vm_end - 1);
    if (mm.context().preallocate_nodes(mas, nullptr)) return -ENOMEM;
    mas_store_prealloc(&mas, nullptr);
    --mm.map_count;
    mm.total_vm -= vma->region->pages();
    delete_vma(mm, vma);
    return 0;
  }
  if (start != vma->vm_start && end != vma->vm_end) {
    if (const int ret = split_vma(mm, vma, start)) return ret;
  }
  return shrink_vma(mm, vma, start, end);
}

// ---- exit_mmap ------------------------------------------------------------------------

std::vector<NommuVma*> nommu_vmas(NommuMm& mm) {
  std::vector<NommuVma*> vmas;
  MA_STATE(mas, &mm.mm_mt, 0, 0);
  void* entry;
  mas_for_each(&mas, entry, ULONG_MAX) vmas.push_back(static_cast<NommuVma*>(entry));
  return vmas;
}

void exit_mmap(NommuMm& mm) {
  if (mm.exited) return;
  for (NommuVma* vma : nommu_vmas(mm)) {
    mm.total_vm -= vma->region->pages();
    --mm.map_count;
    delete_vma(mm, vma);
  }
  __mt_destroy(&mm.mm_mt);
  mm.exited = true;
}

// ---- checks ---------------------------------------------------------------------------

std::string dump_nommu_mm(NommuMm& mm) {
  std::string out = fmt::format("nommu mm {}: map_count {}, total_vm {}\n", mm.id(), mm.map_count, mm.total_vm);
  for (NommuVma* vma : nommu_vmas(mm)) {
    const VmRegion* region = vma->region;
    out += fmt::format("  [{:#x}-{:#x}) vma#{} region#{} block pfn {}+{} tail at {}\n", vma->vm_start, vma->vm_end,
                       vma->id, region ? region->id : 0, region ? region->block_pfn : 0,
                       region ? region->block_pages : 0, region ? region->tail_pfn : 0);
  }
  return out;
}

std::optional<Failure> validate_nommu_mm(NommuMm& mm) {
  auto fail = [&mm](std::string what) {
    return Failure{
        "nommu.validate_mm", "validate_mm", fmt::format("nommu mm {}: {}", mm.id(), what), dump_nommu_mm(mm), 0, 0};
  };
  if (auto failure = maple::validate_tree(&mm.mm_mt)) {
    failure->dump = dump_nommu_mm(mm) + failure->dump;
    return failure;
  }
  MA_STATE(mas, &mm.mm_mt, 0, 0);
  void* entry;
  unsigned long count = 0, total = 0;
  mas_for_each(&mas, entry, ULONG_MAX) {
    auto* vma = static_cast<NommuVma*>(entry);
    if (vma->vm_mm != &mm) return fail(fmt::format("vma#{} belongs to another mm", vma->id));
    if (vma->vm_start != mas.index || vma->vm_end - 1 != mas.last)
      return fail(fmt::format("vma#{} [{:#x}-{:#x}) sits in tree slot [{:#x}-{:#x}]", vma->id, vma->vm_start,
                              vma->vm_end, mas.index, mas.last));
    const VmRegion* region = vma->region;
    if (!region || !region->linked) return fail(fmt::format("vma#{} has no live region", vma->id));
    if (region->vm_start != vma->vm_start || region->vm_end != vma->vm_end)
      return fail(fmt::format("vma#{} [{:#x}-{:#x}) but its region#{} is [{:#x}-{:#x})", vma->id, vma->vm_start,
                              vma->vm_end, region->id, region->vm_start, region->vm_end));
    total += vma->region->pages();
    ++count;
  }
  if (count != mm.map_count) return fail(fmt::format("{} VMAs in the tree, map_count says {}", count, mm.map_count));
  if (total != mm.total_vm) return fail(fmt::format("VMAs span {} pages, total_vm says {}", total, mm.total_vm));
  return std::nullopt;
}

std::optional<std::string> unexplained_alloc_failure(const mem::Memory& memory, unsigned order) {
  if (order > mem::kPageblockOrder) return std::nullopt;
  const uint64_t frames = memory.nr_pages();
  auto usable_block = [&](uint64_t pfn) {
    const mem::MigrateType type = memory.pageblock_migratetype(pfn);
    return type != mem::MigrateType::Isolate && type != mem::MigrateType::Cma;
  };
  // free[pfn]: the frame lies in a free buddy block of a pageblock the request may use.
  std::vector<uint8_t> free(frames, 0);
  uint64_t usable = 0;
  for (uint64_t pfn = 0; pfn < frames;) {
    const mem::Page& page = *memory.pfn_to_page(pfn);
    const uint64_t size = page.test(mem::PG_buddy) || page.test(mem::PG_allocated) ? uint64_t{1} << page.order : 1;
    if (page.test(mem::PG_buddy)) {
      for (uint64_t i = pfn; i < pfn + size && i < frames; ++i) {
        if (!usable_block(i)) continue;
        free[i] = 1;
        ++usable;
      }
    }
    pfn += size;
  }
  const uint64_t need = uint64_t{1} << order;
  if (usable < need || usable - need < memory.min_pages()) return std::nullopt;  // the watermark refuses
  for (uint64_t start = 0; start + need <= frames; start += need) {
    uint64_t run = 0;
    while (run < need && free[start + run]) ++run;
    if (run == need)
      return fmt::format(
          "an order-{} request failed while pfns [{}, {}) were free in usable pageblocks and {} "
          "usable frames were free (min watermark {})",
          order, start, start + need, usable, memory.min_pages());
  }
  return std::nullopt;
}

std::optional<Failure> check_regions(NommuContext& context) {
  mem::Memory& memory = context.memory();
  auto fail = [](std::string what) { return Failure{"nommu.regions", "check_regions", std::move(what), {}, 0, 0}; };
  std::vector<uint64_t> owner(memory.nr_pages(), 0);  // region id per frame, 0 = none
  uint64_t count = 0;
  for (const VmRegion* region = context.regions(); region; region = region->next) {
    ++count;
    if (region->vm_start >= region->vm_end || region->first_pfn() < region->block_pfn ||
        region->first_pfn() + region->pages() > region->tail_pfn ||
        region->tail_pfn > region->block_pfn + region->block_pages)
      return fail(fmt::format("region#{} [{:#x}-{:#x}) does not fit its block pfn {}+{} (tail at {})", region->id,
                              region->vm_start, region->vm_end, region->block_pfn, region->block_pages,
                              region->tail_pfn));
    for (uint64_t pfn = region->first_pfn(); pfn < region->first_pfn() + region->pages(); ++pfn) {
      const mem::Page* page = memory.pfn_to_page(pfn);
      if (!page || !page->test(mem::PG_allocated) || page->test(mem::PG_buddy) || page->test(mem::PG_slab) ||
          page->order != 0 || page->refcount != 1)
        return fail(fmt::format("region#{} pfn {} is not an allocated order-0 page it owns: {}", region->id, pfn,
                                page ? memory.describe_page(*page) : std::string("out of range")));
      if (owner[pfn] != 0)
        return fail(fmt::format("pfn {} belongs to region#{} and region#{}", pfn, owner[pfn], region->id));
      owner[pfn] = region->id;
    }
  }
  if (count != context.live_regions())
    return fail(fmt::format("{} regions on the list, the count says {}", count, context.live_regions()));
  return std::nullopt;
}

}  // namespace mmt::nommu
