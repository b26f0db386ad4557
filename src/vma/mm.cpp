// VmContext and Mm: the shared world (slab-backed maple nodes, commit accounting, the
// reverse-mapping hook reclaim calls), VMA allocation, tree-store helpers, anon_vma
// linking, and validate_mm / dump_mm.
#include <algorithm>
#include <cerrno>
#include <new>

#include <fmt/format.h>

#include "internal.h"
#include "mmtorture/core/defects.h"
#include "mmtorture/core/thread_local_spare.h"
#include "mmtorture/maple/kernel_api.h"
#include "mmtorture/maple/validate.h"
#include "mmtorture/sched/rcu.h"
#include "mmtorture/sched/scheduler.h"
#include "mmtorture/sched/yield_point.h"
#include "mmtorture/vma/ops.h"

namespace mmt::vma {

// Maple nodes come from a 256-byte slab on the simulated pages: node pressure and
// page pressure are one pressure, as in the kernel.
class VmContext::SlabNodeAllocator final : public maple::NodeAllocator {
 public:
  explicit SlabNodeAllocator(mem::KmemCache& cache) : cache_(cache) {}
  maple_node* alloc_node(gfp_t flags, Site site) override {
    return static_cast<maple_node*>(cache_.alloc(flags, site));
  }
  void free_node(maple_node* node) override { cache_.free(node); }
  uint64_t live_nodes() const override { return cache_.live_objects(); }

 private:
  mem::KmemCache& cache_;
};

AnonVma::AnonVma(uint64_t anon_id, AnonVma* family_parent)
    : id(anon_id),
      root(family_parent ? family_parent->root : this),
      parent(family_parent ? family_parent : this),
      own_lock("anon_vma", sched::LockFlags::TakenByReclaim),
      lock(root->own_lock) {}

VmContext::VmContext(mem::Memory& memory, VmConfig config)
    : memory_(memory),
      config_(config),
      vma_cache_(memory, "vm_area_struct", sizeof(Vma), alignof(Vma)),
      maple_node_cache_(memory, "maple_node", sizeof(maple_node), alignof(maple_node)),
      // The kernel's struct anon_vma is about 88 bytes on x86-64.
      anon_vma_cache_(memory, "anon_vma", 88, 8),
      node_allocator_(std::make_unique<SlabNodeAllocator>(maple_node_cache_)) {
  maple::set_node_allocator(node_allocator_.get());
  memory_.set_rmap_ops(this);
  for (unsigned i = 0; i < config_.files; ++i) {
    files_.push_back(std::make_unique<File>());
    File& file = *files_.back();
    file.id = i + 1;
    file.mmap_ops = i % 2 == 0 ? &kShmVmOps : &kGenericFileVmOps;
    file.size_pages = config_.file_pages;
  }
}

VmContext::~VmContext() {
  // Node frees deferred by RCU go to this context's slab: run them while it exists.
  try {
    rcu_backend().rcu_barrier();
  } catch (const FailureError&) {
  }
  memory_.set_rmap_ops(nullptr);
  maple::set_node_allocator(nullptr);
  // The page caches go with the files (truncate on the last close). A failed run's
  // ptes may still map them: its pages stay with the Memory, which goes away as a whole.
  if (abandoned_) return;
  for (auto& file : files_) {
    for (auto& [index, page] : file->cache) {
      if (page->mapcount != 0) continue;
      page->mapping = nullptr;
      memory_.put_page(page);  // the last reference: the page leaves the LRU, freed
    }
    file->cache.clear();
  }
}

int VmContext::vm_acct_memory(uint64_t pages) {
  if (config_.commit_limit_pages != UINT64_MAX && committed_pages_ + pages > config_.commit_limit_pages)
    return -ENOMEM;
  committed_pages_ += pages;
  return 0;
}

void VmContext::vm_unacct_memory(uint64_t pages) {
  if (pages > committed_pages_)
    raise_failure("vma.committed_accounting", "vm_unacct_memory",
                  fmt::format("uncharging {} pages with only {} committed", pages, committed_pages_));
  committed_pages_ -= pages;
}

AnonVma* VmContext::anon_vma_alloc(AnonVma* family) {
  void* object = anon_vma_cache_.alloc(gfp::kKernel, kSiteAnonVmaAlloc);
  if (!object) return nullptr;
  anon_vmas_.push_back(std::make_unique<AnonVma>(++anon_ids_, family));
  AnonVma* anon_vma = anon_vmas_.back().get();
  anon_vma->slab_object = object;
  anon_vma->refcount = 1;  // the linked reference, taken by the link that follows
  anon_vma->linked_ref = true;
  ++anon_vma->parent->num_children;                            // a root's self-parent link, or its parent's child
  if (anon_vma->root != anon_vma) ++anon_vma->root->refcount;  // get_anon_vma(anon_vma->root)
  return anon_vma;
}

void VmContext::put_anon_vma(AnonVma* anon_vma) {
  if (anon_vma->refcount == 0 || !anon_vma->slab_object)
    raise_failure("anon_vma.refcount", "put_anon_vma",
                  fmt::format("anon_vma {} put with no reference left", anon_vma->id));
  if (--anon_vma->refcount != 0) return;
  if (anon_vma->num_children != 0)
    raise_failure("anon_vma.num_children", "put_anon_vma",
                  fmt::format("anon_vma {} freed with {} children counted", anon_vma->id, anon_vma->num_children));
  anon_vma_cache_.free(anon_vma->slab_object);
  anon_vma->slab_object = nullptr;
  if (anon_vma->root != anon_vma) put_anon_vma(anon_vma->root);
}

// rmap_walk_file for try_to_unmap: every VMA on the file's i_mmap whose range holds the
// page's index, under i_mmap_rwsem for read — shared mappings, and private ones whose
// pte still maps the cache page (one a write copied maps its anonymous copy there).
bool VmContext::try_to_unmap_file(mem::Page* page) {
  File* file = static_cast<File*>(page->mapping);
  IMmapReadLock read_lock(file, Site{"try_to_unmap"});
  // By index: the list cannot change under the read lock, and if a writer broke that
  // rule the walk must not run over a reallocated vector.
  for (size_t i = 0; i < file->i_mmap.size() && page->mapcount > 0; ++i) {
    Vma* vma = file->i_mmap[i];
    if (page->index < vma->vm_pgoff || page->index - vma->vm_pgoff >= vma->pages()) continue;
    const unsigned long vpn = (vma->vm_start >> kPageShift) + (page->index - vma->vm_pgoff);
    const unsigned long vm_start = vma->vm_start, vm_end = vma->vm_end, vm_pgoff = vma->vm_pgoff;
    Mm& mm = *vma->vm_mm;
    sched::SpinGuard guard(mm.page_table_lock, Site{"try_to_unmap_one"});
    // i_mmap_rwsem keeps every VMA of the file still while rmap walks it (taking the
    // page-table lock above was a point where others ran).
    if (vma->vm_start != vm_start || vma->vm_end != vm_end || vma->vm_pgoff != vm_pgoff)
      raise_failure(FailureSubject::entry(vma->vm_start, vma->vm_end - 1, mm.id()), "rmap.unstable_vma", "try_to_unmap",
                    fmt::format("vma#{} of mm {} (file {}) changed from [{:#x}-{:#x}) pgoff {:#x} to [{:#x}-{:#x}) "
                                "pgoff {:#x} under i_mmap_rwsem",
                                vma->id, mm.id(), file->id, vm_start, vm_end, vm_pgoff, vma->vm_start, vma->vm_end,
                                vma->vm_pgoff));
    auto it = mm.ptes.find(vpn);
    if (it == mm.ptes.end() || it->second.page != page) continue;
    mm.ptes.erase(it);
    --mm.rss;
    memory_.page_remove_rmap(page);
    memory_.put_page(page);  // never the last: the cache's and reclaim's remain
  }
  return page->mapcount == 0;
}

bool VmContext::remove_mapping(mem::Page* page) { return filemap_remove_page(*this, page); }

bool VmContext::try_to_unmap(mem::Page* page) {
  auto* anon_vma = static_cast<AnonVma*>(page->anon_vma);
  if (page->mapcount == 0) return true;
  if (page->mapping) return try_to_unmap_file(page);
  if (!anon_vma) return false;
  const sched::RwSemReadGuard read_lock(&anon_vma->lock, Site{"try_to_unmap"}, Site{"try_to_unmap"});
  for (Vma* vma : anon_vma->vmas) {
    if (page->index < vma->vm_pgoff || page->index - vma->vm_pgoff >= vma->pages()) continue;
    const unsigned long addr = vma->vm_start + ((page->index - vma->vm_pgoff) << kPageShift);
    const unsigned long vm_start = vma->vm_start, vm_end = vma->vm_end;
    Mm& mm = *vma->vm_mm;
    sched::SpinGuard guard(mm.page_table_lock, Site{"try_to_unmap_one"});
    // The anon_vma lock keeps every VMA of the family still while rmap walks it (taking
    // the page-table lock above was a point where others ran).
    if (vma->vm_start != vm_start || vma->vm_end != vm_end)
      raise_failure(FailureSubject::entry(vma->vm_start, vma->vm_end - 1, mm.id()), "rmap.unstable_vma",
                    "try_to_unmap",
                    fmt::format("vma#{} of mm {} changed from [{:#x}-{:#x}) to [{:#x}-{:#x}) under the anon_vma lock",
                                vma->id, mm.id(), vm_start, vm_end, vma->vm_start, vma->vm_end));
    auto it = mm.ptes.find(addr >> kPageShift);
    if (it == mm.ptes.end() || it->second.page != page) continue;
    mm.ptes.erase(it);
    --mm.rss;
    // The contents are in the page's swap slot now: the pte becomes a swap pte.
    if (page->test(mem::PG_swapcache)) {
      mm.swap_ptes.emplace(addr >> kPageShift, page->swap);
      memory_.swap_duplicate(page->swap);
    }
    memory_.page_remove_rmap(page);
    memory_.put_page(page);
    if (page->mapcount == 0) break;
  }
  return page->mapcount == 0;
}

Mm::Mm(VmContext& context)
    : mmap_lock("mmap_lock"), page_table_lock("page_table_lock"), context_(&context), id_(context.next_mm_id()) {
  mt_init_flags(&mm_mt, MT_FLAGS_ALLOC_RANGE | MT_FLAGS_LOCK_EXTERN | MT_FLAGS_USE_RCU);
  start_brk = brk = context.config().brk_start;
}

Mm::~Mm() {
  if (exited || context_->abandoned() || sched::run_failed()) return;
  try {
    exit_mmap(*this);
  } catch (const FailureError& error) {
    // Half torn down: nothing may run over it again.
    context_->note_destructor_failure(error.failure());
    context_->abandon();
  }
}

// ---- VMA allocation ----------------------------------------------------------------------

VmaLock& VmContext::add_vma_lock(Vma* vma) {
  std::unique_ptr<VmaLock>& lock = vma_locks_[vma];
  lock = std::make_unique<VmaLock>(vma, this);
  vma->vm_lock = lock.get();
  return *lock;
}

Vma* vma_alloc(Mm& mm) {
  void* memory = mm.context().vma_cache().alloc(gfp::kKernel, kSiteVmAreaAlloc);
  if (!memory) return nullptr;
  Vma* vma = new (memory) Vma;
  vma->vm_mm = &mm;
  vma->id = mm.context().next_vma_id();
  if (mm.context().config().per_vma_locks) mm.context().add_vma_lock(vma);
  return vma;
}

namespace {

// The RCU callback of vm_area_free: no reader can reach the VMA any more.
void vm_area_free_rcu(RcuHead* head) {
  auto* lock = static_cast<VmaLock*>(head);
  Vma* vma = lock->vma;
  VmContext& context = *lock->context;
  if (lock->lock.is_locked())
    raise_failure("vma_lock.freed_while_locked", "vm_area_free_rcu_cb",
                  fmt::format("vma#{} freed while its per-VMA lock is held", vma->id));
  const VmaReadSnapshot now = vma_read_snapshot(vma);
  const VmaReadSnapshot& then = lock->freed_as;
  if (now.vm_start != then.vm_start || now.vm_end != then.vm_end || now.vm_flags != then.vm_flags ||
      now.vm_pgoff != then.vm_pgoff || now.anon_vma != then.anon_vma)
    raise_failure("vma.use_after_free", "vm_area_free_rcu_cb",
                  fmt::format("vma#{} was written after vm_area_free: [{:#x}-{:#x}) flags {:#x} pgoff {:#x} when "
                              "freed, [{:#x}-{:#x}) flags {:#x} pgoff {:#x} at the end of its grace period",
                              vma->id, then.vm_start, then.vm_end, then.vm_flags, then.vm_pgoff, now.vm_start,
                              now.vm_end, now.vm_flags, now.vm_pgoff));
  vma->~Vma();
  context.vma_cache().free(vma);
  context.remove_vma_lock(vma);  // destroys *lock
}

}  // namespace

void vma_free(Mm& mm, Vma* vma) {
  // A second free is named before ~Vma would run over the poison.
  mm.context().vma_cache().check_free(vma, "vm_area_free");
  // With per-VMA locks the tree is read without mmap_lock: the VMA goes back to the
  // slab only after every reader that may have found it has left rcu_read_lock.
  if (VmaLock* lock = vma->vm_lock) {
    if (lock->free_pending)
      raise_failure("slab.double_free", "vm_area_free",
                    fmt::format("vma#{} freed twice (its first free waits for a grace period)", vma->id));
    lock->free_pending = true;
    lock->freed_as = vma_read_snapshot(vma);
    sched::call_rcu(lock, vm_area_free_rcu);
    return;
  }
  vma->~Vma();
  mm.context().vma_cache().free(vma);
}

Vma* find_vma(Mm& mm, unsigned long addr) {
  MA_STATE(mas, &mm.mm_mt, addr, addr);
  return static_cast<Vma*>(mas_find(&mas, ULONG_MAX));
}

Vma* vma_lookup(Mm& mm, unsigned long addr) { return static_cast<Vma*>(mtree_load(&mm.mm_mt, addr)); }

Vma* vma_prev(Mm& mm, const Vma* vma) {
  if (vma->vm_start == 0) return nullptr;
  MA_STATE(mas, &mm.mm_mt, vma->vm_start - 1, vma->vm_start - 1);
  return static_cast<Vma*>(mas_find_rev(&mas, 0));
}

Vma* vma_next(Mm& mm, const Vma* vma) {
  MA_STATE(mas, &mm.mm_mt, vma->vm_end, vma->vm_end);
  return static_cast<Vma*>(mas_find(&mas, ULONG_MAX));
}

int vma_prealloc(Mm& mm, ma_state& mas, unsigned long start, unsigned long end, void* entry) {
  mas.tree = &mm.mm_mt;
  mas_set_range(&mas, start, end - 1);
  return mas_preallocate(&mas, entry, gfp::kKernel);
}

void vma_store(Mm&, ma_state& mas, unsigned long start, unsigned long end, void* entry) {
  // A VMA goes into the tree write-locked: a lock-free reader may find it at once.
  if (entry) vma_mark_attached(static_cast<Vma*>(entry));
  mas_set_range(&mas, start, end - 1);
  mas_store_prealloc(&mas, entry);
}

// The chain lists change only under the anon_vma's write lock: rmap walkers (reclaim,
// migration) hold it for read across the whole walk, which has yield points in it.
void anon_vma_link(Vma* vma, AnonVma* anon_vma) {
  for (const AnonVmaChain& link : vma->anon_vma_chain)
    if (link.anon_vma == anon_vma) return;
  if (!anon_vma->slab_object || !anon_vma->linked_ref)
    raise_failure("anon_vma.use_after_free", "anon_vma_chain_link",
                  fmt::format("vma#{} linked to anon_vma {}, which {}", vma->id, anon_vma->id,
                              anon_vma->slab_object ? "no VMA holds any more" : "was freed"));
  anon_vma->lock.down_write(Site{"anon_vma_chain_link"});
  vma->anon_vma_chain.push_back({anon_vma, static_cast<uint32_t>(anon_vma->vmas.size())});
  anon_vma->vmas.push_back(vma);
  anon_vma->lock.up_write(Site{"anon_vma_chain_link"});
}

void anon_vma_clone(Vma* dst, const Vma* src) {
  for (const AnonVmaChain& link : src->anon_vma_chain) anon_vma_link(dst, link.anon_vma);
}

namespace {

// Some VMA uses `anon_vma` as its own (the kernel's num_active_vmas != 0). Every such
// VMA is linked to it, so its list holds them all.
bool has_active_vma(const AnonVma* anon_vma) {
  for (const Vma* vma : anon_vma->vmas)
    if (vma->anon_vma == anon_vma) return true;
  return false;
}

}  // namespace

void anon_vma_clone_for_fork(Vma* dst, const Vma* src) {
  // Oldest first, as the kernel walks the chain: the root is never taken (it counts
  // itself as a child), so the first candidate is the oldest abandoned generation.
  for (size_t i = 0; i < src->anon_vma_chain.size(); ++i) {
    AnonVma* anon_vma = src->anon_vma_chain[i].anon_vma;
    anon_vma_link(dst, anon_vma);
    if (!dst->anon_vma && anon_vma->num_children < 2 && !has_active_vma(anon_vma)) dst->anon_vma = anon_vma;
  }
}

namespace {

// The index of `anon_vma` in vma's chain (the caller knows it is there).
size_t chain_index(const Vma* vma, const AnonVma* anon_vma) {
  size_t i = 0;
  while (i < vma->anon_vma_chain.size() && vma->anon_vma_chain[i].anon_vma != anon_vma) ++i;
  return i;
}

}  // namespace

void anon_vma_unlink(Vma* vma, AnonVma* anon_vma) {
  anon_vma->lock.down_write(Site{"unlink_anon_vmas"});
  // Both sides of the link change inside the lock: a reader of either never sees half.
  const size_t link = chain_index(vma, anon_vma);
  if (link == vma->anon_vma_chain.size()) {
    anon_vma->lock.up_write(Site{"unlink_anon_vmas"});
    return;
  }
  auto& vmas = anon_vma->vmas;
  const uint32_t pos = vma->anon_vma_chain[link].pos;
  if (pos >= vmas.size() || vmas[pos] != vma) {
    anon_vma->lock.up_write(Site{"unlink_anon_vmas"});
    raise_failure("anon_vma.chain", "unlink_anon_vmas",
                  fmt::format("vma#{} is not where its chain says in anon_vma {}'s list", vma->id, anon_vma->id));
  }
  Vma* moved = vmas.back();
  vmas[pos] = moved;
  vmas.pop_back();
  if (moved != vma) moved->anon_vma_chain[chain_index(moved, anon_vma)].pos = pos;
  vma->anon_vma_chain.erase(vma->anon_vma_chain.begin() + static_cast<ptrdiff_t>(link));
  const bool unused = vmas.empty();
  // No VMA left: it is no longer its parent's child (a root stops counting itself).
  if (unused && anon_vma->linked_ref) --anon_vma->parent->num_children;
  anon_vma->lock.up_write(Site{"unlink_anon_vmas"});
  // The last VMA gone: the linked reference goes (unlink_anon_vmas' put_anon_vma).
  if (unused && anon_vma->linked_ref) {
    anon_vma->linked_ref = false;
    vma->vm_mm->context().put_anon_vma(anon_vma);
  }
}

void unlink_anon_vmas(Vma* vma) {
  while (!vma->anon_vma_chain.empty()) anon_vma_unlink(vma, vma->anon_vma_chain.back().anon_vma);
}

bool can_merge_after(const Vma* prev, unsigned long flags, const File* file, const AnonVma* anon_vma,
                     unsigned long pgoff) {
  if (!prev || prev->vm_flags != flags || prev->vm_file != file) return false;
  if (prev->anon_vma && anon_vma && prev->anon_vma != anon_vma) return false;
  return prev->vm_pgoff + prev->pages() == pgoff;
}

bool can_merge_before(const Vma* next, unsigned long flags, const File* file, const AnonVma* anon_vma,
                      unsigned long pgoff, unsigned long pages) {
  if (!next || next->vm_flags != flags || next->vm_file != file) return false;
  if (next->anon_vma && anon_vma && next->anon_vma != anon_vma) return false;
  return pgoff + pages == next->vm_pgoff;
}

int split_vma(Mm& mm, Vma* vma, unsigned long addr, bool new_below) {
  if (mm.map_count >= mm.context().config().max_map_count) return -ENOMEM;
  Vma* fresh = vma_alloc(mm);
  if (!fresh) return -ENOMEM;
  const unsigned long start = new_below ? vma->vm_start : addr;
  const unsigned long end = new_below ? addr : vma->vm_end;
  MA_STATE(mas, &mm.mm_mt, start, end - 1);
  // CANARY gfp-kernel-under-rmap-lock (seed 000): the nodes for the store are reserved
  // with GFP_KERNEL inside the anon_vma lock instead of before taking it.
  const bool alloc_under_lock = defect_enabled(Defect::GfpKernelUnderRmapLock);
  if (!alloc_under_lock && vma_prealloc(mm, mas, start, end, fresh)) {
    vma_free(mm, fresh);
    return -ENOMEM;
  }
  fresh->vm_start = start;
  fresh->vm_end = end;
  fresh->vm_flags = vma->vm_flags;
  fresh->vm_pgoff = vma->vm_pgoff + (new_below ? 0 : (addr - vma->vm_start) >> kPageShift);
  fresh->anon_vma = vma->anon_vma;
  fresh->vm_file = vma->vm_file;
  fresh->vm_ops = vma->vm_ops;
  // CANARY split-skips-anon-vma-clone: the new VMA gets the anon_vma but not its chain.
  if (!defect_enabled(Defect::SplitSkipsAnonVmaClone)) anon_vma_clone(fresh, vma);
  // Both halves write-locked before the anon_vma lock (the order lock-free faults,
  // which take VMA locks and then, in reclaim, anon_vma locks, rely on).
  vma_start_write(vma);
  vma_start_write(fresh);
  bool reserved = !alloc_under_lock;
  {
    RmapWriteLocks lock(vma->vm_file, vma->anon_vma);
    if (!reserved) reserved = vma_prealloc(mm, mas, start, end, fresh) == 0;
    if (reserved) {
      if (new_below) {
        vma->vm_pgoff += (addr - vma->vm_start) >> kPageShift;
        vma->vm_start = addr;
      } else {
        vma->vm_end = addr;
      }
      vma_store(mm, mas, start, end, fresh);
    }
  }
  if (!reserved) {
    unlink_anon_vmas(fresh);
    vma_free(mm, fresh);
    return -ENOMEM;
  }
  // __split_vma: the new part holds its own file reference and is opened.
  if (fresh->vm_file) vma_link_file(fresh);
  ++mm.map_count;
  // CANARY nommu-split-double-count (seed 001): both halves set up as new VMAs.
  if (defect_enabled(Defect::NommuSplitDoubleCount)) ++mm.map_count;
  return 0;
}

void zap_page_range(Mm& mm, unsigned long start, unsigned long end) {
  std::vector<mem::Page*> gathered;
  {
    sched::SpinGuard guard(mm.page_table_lock, Site{"zap_pte_range"});
    auto it = mm.ptes.lower_bound(start >> kPageShift);
    while (it != mm.ptes.end() && it->first < (end >> kPageShift)) {
      mem::Page* page = it->second.page;
      mm.context().memory().page_remove_rmap(page);  // the mapping is gone...
      gathered.push_back(page);
      it = mm.ptes.erase(it);
      --mm.rss;
    }
    // Swap ptes hold no page, only their slot's count (free_swap_and_cache).
    auto swap = mm.swap_ptes.lower_bound(start >> kPageShift);
    while (swap != mm.swap_ptes.end() && swap->first < (end >> kPageShift)) {
      mm.context().memory().swap_free(swap->second);
      swap = mm.swap_ptes.erase(swap);
    }
  }
  // ...but the reference is dropped only when the TLB batch is flushed: another window
  // where a page looks pinned (refcount > mapcount) to a concurrent CMA allocation.
  if (!gathered.empty()) sched::yield_point(kSiteZapWindow);
  for (mem::Page* page : gathered) mm.context().memory().put_page(page);
}

void remove_vmas(Mm& mm, const std::vector<Vma*>& vmas) {
  for (Vma* vma : vmas) {
    // A VMA freed already (a use after free left it in the tree) is named before its
    // poisoned fields are read.
    mm.context().vma_cache().check_free(vma, "remove_vma");
    zap_page_range(mm, vma->vm_start, vma->vm_end);
    if (vma->vm_flags & VM_ACCOUNT) mm.context().vm_unacct_memory(vma->pages());
    mm.total_vm -= vma->pages();
    --mm.map_count;
    unlink_anon_vmas(vma);
    // remove_vma: ->close, then the file reference goes.
    if (vma->vm_file) vma_unlink_file(vma, true);
    vma_free(mm, vma);
  }
}

// ---- validate_mm ------------------------------------------------------------------------------

namespace {
std::string flags_text(unsigned long flags) {
  std::string text;
  text += flags & VM_READ ? 'r' : '-';
  text += flags & VM_WRITE ? 'w' : '-';
  text += flags & VM_EXEC ? 'x' : '-';
  text += flags & VM_SHARED ? 's' : 'p';
  if (flags & VM_ACCOUNT) text += " acct";
  return text;
}
}  // namespace

std::string dump_mm(Mm& mm) {
  std::string out = fmt::format("mm {}: map_count {} total_vm {} rss {} brk [{:#x}-{:#x})\n", mm.id(), mm.map_count,
                                mm.total_vm, mm.rss, mm.start_brk, mm.brk);
  MA_STATE(mas, &mm.mm_mt, 0, 0);
  void* entry;
  mas_for_each(&mas, entry, ULONG_MAX) {
    auto* vma = static_cast<Vma*>(entry);
    // The dump is printed with the failure that may be exactly this: a slot holding a
    // freed VMA is named, never read.
    if (!mm.context().vma_cache().is_live(vma)) {
      out += fmt::format("  [{:#x}-{:#x}] {}\n", mas.index, mas.last + 1,
                         mm.context().vma_cache().describe_object(vma));
      continue;
    }
    out += fmt::format(
        "  [{:#x}-{:#x}) {} pgoff {:#x} anon {} vma#{} ({} pages){}\n", vma->vm_start, vma->vm_end,
        flags_text(vma->vm_flags), vma->vm_pgoff, vma->anon_vma ? vma->anon_vma->id : 0, vma->id, vma->pages(),
        vma->vm_file ? fmt::format(" file {} {}", vma->vm_file->id, vma->vm_ops ? vma->vm_ops->name : "no vm_ops")
                     : std::string());
  }
  return out;
}

std::string dump_mm_dot(Mm& mm, const std::string& name, const std::string& caption, const FailureSubject& subject,
                        bool whole) {
  maple::DotTreeOptions options;
  options.name = name;
  options.label = caption;
  if (whole) options.collapse_above_nodes = 0;
  if (subject.mm_id && subject.mm_id == mm.id()) {
    options.failing = true;
    options.subject = subject;
  }
  options.entry_label = [&mm](const void* entry) {
    if (!mm.context().vma_cache().is_live(entry)) return mm.context().vma_cache().describe_object(entry);
    const auto* vma = static_cast<const Vma*>(entry);
    return fmt::format("vma#{} {}", vma->id, flags_text(vma->vm_flags));
  };
  return maple::mt_dump_dot_subgraph(&mm.mm_mt, options);
}

uint64_t vm_account_pages(Mm& mm) {
  uint64_t pages = 0;
  MA_STATE(mas, &mm.mm_mt, 0, 0);
  void* entry;
  mas_for_each(&mas, entry, ULONG_MAX) {
    auto* vma = static_cast<Vma*>(entry);
    if (vma->vm_flags & VM_ACCOUNT) pages += vma->pages();
  }
  return pages;
}

std::optional<std::string> vm_teardown_leak(VmContext& context) {
  if (const uint64_t live = context.vma_cache().live_objects())
    return fmt::format("{} vm_area_structs still allocated", live);
  if (const uint64_t live = context.anon_vma_cache().live_objects())
    return fmt::format("{} anon_vmas still allocated", live);
  if (const uint64_t live = context.maple_node_cache().live_objects())
    return fmt::format("{} maple nodes still allocated", live);
  // Page-cache pages stay on the LRU with their files (the context's): any other page
  // there is a leak.
  uint64_t cached = 0;
  for (size_t i = 0; i < context.file_count(); ++i)
    for (const auto& [index, page] : context.file(i)->cache) cached += page->test(mem::PG_lru) ? 1 : 0;
  if (const uint64_t lru = context.memory().lru_size(); lru > cached)
    return fmt::format("{} pages still on the LRU", lru - cached);
  if (const uint64_t used = context.memory().swap_slots_used()) return fmt::format("{} swap slots still in use", used);
  for (size_t i = 0; i < context.file_count(); ++i) {
    const File& file = *context.file(i);
    if (file.refcount != 1 || file.attach != 0 || !file.i_mmap.empty())
      return fmt::format("file {} still mapped: refcount {} (1 is its own), attach count {}, {} VMAs on i_mmap",
                         file.id, file.refcount, file.attach, file.i_mmap.size());
  }
  return std::nullopt;
}

std::optional<Failure> validate_files(VmContext& context) {
  for (size_t i = 0; i < context.file_count(); ++i) {
    const File& file = *context.file(i);
    auto fail = [&](const char* check, const std::string& what) {
      std::string dump;
      for (const Vma* vma : file.i_mmap)
        dump += fmt::format("  i_mmap: vma#{} of mm {} [{:#x}-{:#x}) pgoff {:#x}\n", vma->id, vma->vm_mm->id(),
                            vma->vm_start, vma->vm_end, vma->vm_pgoff);
      return Failure{
          check, "validate_files", fmt::format("file {} ({}): {}", file.id, file.mmap_ops->name, what), dump, 0, 0};
    };
    long hooked = 0;
    for (size_t pos = 0; pos < file.i_mmap.size(); ++pos) {
      const Vma* vma = file.i_mmap[pos];
      if (!context.vma_cache().is_live(vma))
        return fail("vma.file",
                    fmt::format("i_mmap holds a freed vm_area_struct ({})", context.vma_cache().describe_object(vma)));
      if (vma->vm_file != &file)
        return fail("vma.file", fmt::format("i_mmap lists vma#{}, which maps another file", vma->id));
      if (vma->i_mmap_pos != pos)
        return fail("vma.file",
                    fmt::format("vma#{} is at position {} of i_mmap but says {}", vma->id, pos, vma->i_mmap_pos));
      hooked += vma->vm_ops && vma->vm_ops->open ? 1 : 0;
    }
    if (file.refcount != 1 + static_cast<long>(file.i_mmap.size()))
      return fail("vma.file",
                  fmt::format("refcount {} but {} VMAs map it (+1, its own)", file.refcount, file.i_mmap.size()));
    if (file.attach != hooked)
      return fail("vma.file_attach",
                  fmt::format("attach count {} but {} VMAs with {} map it", file.attach, hooked, kShmVmOps.name));
  }
  return std::nullopt;
}

namespace {
// With per-VMA locks, what is wrong with the lock state of a VMA found in the tree.
const char* vma_lock_problem(Mm& mm, const Vma* vma) {
  if (!mm.context().config().per_vma_locks) return nullptr;
  const VmaLock* lock = vma->vm_lock;
  if (!lock) return "has no per-VMA lock";
  if (lock->free_pending) return "is being freed";
  if (lock->detached) return "is marked detached";
  return nullptr;
}
}  // namespace

namespace {

// A file VMA must be on its file's i_mmap with the ops its file's mmap installs; an
// anonymous one has no ops.
std::optional<std::string> file_vma_problem(const Vma* vma) {
  if (!vma->vm_file) {
    if (vma->vm_ops) return fmt::format("vma#{} is anonymous but has vm_ops {}", vma->id, vma->vm_ops->name);
    return std::nullopt;
  }
  // One comparison: the VMA keeps its position (a fork-heavy family's copies all sit on
  // one file's i_mmap).
  const auto& i_mmap = vma->vm_file->i_mmap;
  if (vma->i_mmap_pos >= i_mmap.size() || i_mmap[vma->i_mmap_pos] != vma)
    return fmt::format("vma#{} maps file {} but is not on its i_mmap (position {} of {})", vma->id, vma->vm_file->id,
                       vma->i_mmap_pos, i_mmap.size());
  if (vma->vm_ops != vma->vm_file->mmap_ops)
    return fmt::format("vma#{} of file {} has vm_ops {}, its file's mmap installs {}", vma->id, vma->vm_file->id,
                       vma->vm_ops ? vma->vm_ops->name : "none", vma->vm_file->mmap_ops->name);
  return std::nullopt;
}

// A file page's pte (or any pte of a shared file mapping) maps the VMA's file's cache
// page at the VMA's pgoff for its address.
std::optional<std::string> file_pte_problem(const Vma* vma, unsigned long vpn, const Pte& pte) {
  const unsigned long index = vma->vm_pgoff + (vpn - (vma->vm_start >> kPageShift));
  const File* file = vma->vm_file;
  if (file && pte.page->mapping == file) {
    auto cached = file->cache.find(index);
    if (cached != file->cache.end() && cached->second == pte.page) {
      // A writable pte of a clean page: a write reclaim would drop unwritten (the write
      // fault marks the page dirty before it maps it writable).
      if (pte.writable && !pte.page->test(mem::PG_dirty))
        return fmt::format("writable pte at {:#x} of vma#{} maps file {}'s page {:#x} (pfn {}), which is not dirty",
                           vpn << kPageShift, vma->id, file->id, index, pte.page->pfn);
      return std::nullopt;
    }
  }
  if (file && !pte.page->mapping && !pte.page->anon_vma)
    return fmt::format("pte at {:#x} of vma#{} maps pfn {}, which is no longer in file {}'s cache (index {:#x})",
                       vpn << kPageShift, vma->id, pte.page->pfn, file->id, index);
  return fmt::format("pte at {:#x} of vma#{} ({}) maps pfn {}, not {} page {:#x}", vpn << kPageShift, vma->id,
                     file ? fmt::format("file {} pgoff {:#x}", file->id, vma->vm_pgoff) : "anonymous", pte.page->pfn,
                     file ? fmt::format("file {}'s cache", file->id) : "an anonymous", index);
}

// How rmap finds the page a pte maps: a file page (or any page of a shared file
// mapping) as the file's cache page at the VMA's pgoff, an anonymous one through an
// anon_vma on the VMA's chain.
std::optional<std::string> pte_rmap_problem(const Vma* vma, unsigned long vpn, const Pte& pte) {
  if (pte.page->mapping || (vma->vm_file && ((vma->vm_flags & VM_SHARED) || !pte.page->anon_vma)))
    return file_pte_problem(vma, vpn, pte);
  for (const AnonVmaChain& link : vma->anon_vma_chain)
    if (link.anon_vma == pte.page->anon_vma) return std::nullopt;
  return fmt::format("pfn {} mapped at {:#x} cannot be found by rmap from vma#{}", pte.page->pfn, vpn << kPageShift,
                     vma->id);
}

// The tree's entries as validate_tree's walk reads them, leaves left to right: the VMA
// checks go through them instead of walking the tree a second time (a mas_find per VMA
// was a sixth of a smoke campaign's instructions). The vector's storage is kept per OS
// thread between calls, as validate_mm runs after every operation.
struct TreeEntries final : maple::LeafVisitor {
  struct Slot {
    unsigned long first;
    unsigned long last;
    void* entry;
  };
  struct Spare;  // the storage's tag
  std::vector<Slot> slots;
  bool any_leaf = false;

  TreeEntries() { take_spare_storage<Spare>(slots, 64); }
  ~TreeEntries() override { keep_spare_storage<Spare>(slots, 4096); }
  TreeEntries(const TreeEntries&) = delete;
  TreeEntries& operator=(const TreeEntries&) = delete;

  void leaf(unsigned long, unsigned long) override { any_leaf = true; }
  void entry(unsigned long first, unsigned long last, void* entry) override { slots.push_back({first, last, entry}); }
};

// validate_mm's second half: every swap pte and pte against the VMAs (`in_order`, the
// tree's entries, already checked to be live VMAs, ordered and disjoint). `fail` makes
// validate_mm's Failure.
template <typename Fail>
std::optional<Failure> validate_page_tables(Mm& mm, const std::vector<TreeEntries::Slot>& in_order, Fail& fail) {
  // The VMA covering a page, for page numbers asked in increasing order: the ptes are
  // walked alongside the tree's slots (each a VMA's range, already checked) instead of a
  // tree lookup per pte.
  struct Cursor {
    const TreeEntries::Slot* next;
    const TreeEntries::Slot* end;
    Vma* covering(unsigned long vpn) {
      const unsigned long addr = vpn << kPageShift;
      while (next != end && next->last < addr) ++next;
      return next != end && next->first <= addr ? static_cast<Vma*>(next->entry) : nullptr;
    }
  };
  // A failure's subject, the page at vpn: built only when one fails.
  auto page = [](unsigned long vpn) { return FailureSubject::entry(vpn << kPageShift, ((vpn + 1) << kPageShift) - 1); };
  const TreeEntries::Slot* const slots_end = in_order.data() + in_order.size();
  Cursor swap_cursor{in_order.data(), slots_end};
  auto present = mm.ptes.begin();  // walked alongside: both maps are in vpn order
  for (const auto& [vpn, entry] : mm.swap_ptes) {
    Vma* vma = swap_cursor.covering(vpn);
    if (!vma) return fail(fmt::format("swap pte at {:#x} lies outside every VMA", vpn << kPageShift), page(vpn));
    while (present != mm.ptes.end() && present->first < vpn) ++present;
    if (present != mm.ptes.end() && present->first == vpn)
      return fail(fmt::format("{:#x} has both a present pte and a swap pte", vpn << kPageShift), page(vpn));
    if (mm.context().memory().swap_count(entry) == 0)
      return fail(fmt::format("swap pte at {:#x} names swap entry {}, which no count holds", vpn << kPageShift, entry),
                  page(vpn));
  }
  Cursor pte_cursor{in_order.data(), slots_end};
  for (const auto& [vpn, pte] : mm.ptes) {
    Vma* vma = pte_cursor.covering(vpn);
    if (!vma) return fail(fmt::format("pte at {:#x} lies outside every VMA", vpn << kPageShift), page(vpn));
    if (pte.writable && !(vma->vm_flags & VM_WRITE))
      return fail(fmt::format("writable pte at {:#x} in a read-only VMA vma#{}", vpn << kPageShift, vma->id),
                  page(vpn));
    if (pte.page->mapcount <= 0 || pte.page->refcount < pte.page->mapcount)
      return fail(fmt::format("pte at {:#x} maps pfn {} with refcount {} mapcount {}", vpn << kPageShift, pte.page->pfn,
                              pte.page->refcount, pte.page->mapcount),
                  page(vpn));
    if (auto problem = pte_rmap_problem(vma, vpn, pte)) return fail(*problem, page(vpn));
  }
  return std::nullopt;
}

}  // namespace

std::optional<Failure> validate_mm(Mm& mm) {
  // A failure names the tree slot it is about (replay --dump-tree draws it), or the mm.
  auto fail = [&](const std::string& what, FailureSubject subject = {}) {
    subject.mm_id = mm.id();
    Failure failure{"vma.validate_mm", "validate_mm", fmt::format("mm {}: {}", mm.id(), what), dump_mm(mm), 0, 0};
    failure.subject = subject;
    return failure;
  };
  TreeEntries tree;
  if (auto failure = maple::validate_tree(&mm.mm_mt, &tree)) {
    failure->dump = dump_mm(mm) + failure->dump;
    failure->subject.mm_id = mm.id();
    return failure;
  }
  // A per-VMA lock rule an mmap write section broke (found at its unlock).
  if (mm.vma_lock_violation) return mm.vma_lock_violation;
  // No node, so no leaf was visited: the tree is empty or holds its one entry in the
  // root, which for_each_entry reads.
  if (!tree.any_leaf) maple::for_each_entry(&mm.mm_mt, tree);
  unsigned long count = 0, total = 0, prev_end = 0;
  for (const TreeEntries::Slot& tree_slot : tree.slots) {
    auto* vma = static_cast<Vma*>(tree_slot.entry);
    const FailureSubject slot = FailureSubject::entry(tree_slot.first, tree_slot.last);
    if (!mm.context().vma_cache().is_live(vma))
      return fail(fmt::format("tree slot [{:#x}-{:#x}] holds a freed vm_area_struct ({})", tree_slot.first,
                              tree_slot.last, mm.context().vma_cache().describe_object(vma)),
                  slot);
    if (vma->vm_mm != &mm) return fail(fmt::format("vma#{} belongs to another mm", vma->id), slot);
    if (const char* problem = vma_lock_problem(mm, vma))
      return fail(fmt::format("vma#{} is in the tree but {}", vma->id, problem), slot);
    if (vma->vm_start != tree_slot.first || vma->vm_end - 1 != tree_slot.last)
      return fail(fmt::format("vma#{} [{:#x}-{:#x}) sits in tree slot [{:#x}-{:#x}]", vma->id, vma->vm_start,
                              vma->vm_end, tree_slot.first, tree_slot.last),
                  slot);
    if (vma->vm_start >= vma->vm_end || !page_aligned(vma->vm_start) || !page_aligned(vma->vm_end))
      return fail(fmt::format("vma#{} has a bad range [{:#x}-{:#x})", vma->id, vma->vm_start, vma->vm_end), slot);
    if (count && vma->vm_start < prev_end) return fail(fmt::format("vma#{} overlaps its predecessor", vma->id), slot);
    if ((vma->vm_flags & VM_ACCOUNT) && (vma->vm_flags & VM_SHARED))
      return fail(fmt::format("vma#{} is shared but VM_ACCOUNT", vma->id), slot);
    if (vma->anon_vma) {
      bool linked = false;
      for (const AnonVmaChain& link : vma->anon_vma_chain) linked |= link.anon_vma == vma->anon_vma;
      if (!linked) return fail(fmt::format("vma#{} is not on its anon_vma's chain", vma->id), slot);
    }
    for (const auto& [anon_vma, pos] : vma->anon_vma_chain) {
      if (pos >= anon_vma->vmas.size() || anon_vma->vmas[pos] != vma)
        return fail(fmt::format("anon_vma {} does not list vma#{}", anon_vma->id, vma->id), slot);
    }
    if (auto problem = file_vma_problem(vma)) return fail(*problem, slot);
    prev_end = vma->vm_end;
    total += vma->pages();
    ++count;
  }
  if (count != mm.map_count) return fail(fmt::format("{} VMAs in the tree, map_count says {}", count, mm.map_count));
  if (total != mm.total_vm) return fail(fmt::format("VMAs span {} pages, total_vm says {}", total, mm.total_vm));
  if (mm.ptes.size() != mm.rss) return fail(fmt::format("{} ptes, rss says {}", mm.ptes.size(), mm.rss));
  return validate_page_tables(mm, tree.slots, fail);
}

}  // namespace mmt::vma
