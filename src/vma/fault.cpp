// Page faults (anonymous population and copy-on-write), fork (dup_mm / dup_mmap with
// the kernel's get_page-before-page_dup_rmap window) and exit_mmap (zap with the page
// references dropped only after the TLB flush).
#include <cerrno>

#include <fmt/format.h>

#include "internal.h"
#include "mmtorture/core/defects.h"
#include "mmtorture/maple/kernel_api.h"
#include "mmtorture/sched/yield_point.h"
#include "mmtorture/vma/ops.h"

namespace mmt::vma {

namespace {
constexpr gfp_t kGfpHighUserMovable = gfp::kKernel | gfp::kMovable;
}  // namespace

// anon_vma_prepare: the first fault in a VMA gives it an anon_vma.
// Faults run under mmap_lock held for read, so two threads may race here: the chain
// link is made first (it takes the anon_vma's lock, so not under the page-table lock),
// then the anon_vma is published under the page-table lock; the loser unlinks its own.
// 0, or -ENOMEM when the anon_vma cannot be allocated (the fault then fails with
// VM_FAULT_OOM before any page is allocated).
int anon_vma_prepare(Mm& mm, Vma* vma) {
  if (vma->anon_vma) return 0;
  AnonVma* anon_vma = mm.context().anon_vma_alloc();
  if (!anon_vma) return -ENOMEM;
  anon_vma_link(vma, anon_vma);
  bool published = false;
  {
    sched::SpinGuard guard(mm.page_table_lock, Site{"anon_vma_prepare"});
    if (!vma->anon_vma) {
      vma->anon_vma = anon_vma;
      published = true;
    }
  }
  if (!published) anon_vma_unlink(vma, anon_vma);
  return 0;
}

namespace {

unsigned long linear_page_index(const Vma* vma, unsigned long addr) {
  return vma->vm_pgoff + ((addr - vma->vm_start) >> kPageShift);
}

bool access_error(const Vma* vma, bool write) {
  return write ? !(vma->vm_flags & VM_WRITE) : !(vma->vm_flags & (VM_READ | VM_WRITE | VM_EXEC));
}

// The fault in a VMA found and allowed: reuse, populate or copy the page. `stable` is
// set when the caller holds only the VMA's own read lock (no mmap_lock): the VMA must
// then be as it was when locked whenever the page tables are looked at.
int do_anonymous_fault(Mm& mm, Vma* vma, unsigned long addr, bool write, const VmaReadSnapshot* stable) {
  const unsigned long vpn = addr >> kPageShift;
  mem::Memory& memory = mm.context().memory();
  {
    sched::SpinGuard guard(mm.page_table_lock, Site{"handle_pte_fault"});
    if (stable) vma_check_read_stable(vma, *stable, "handle_pte_fault");
    auto it = mm.ptes.find(vpn);
    if (it != mm.ptes.end()) {
      if (!write || it->second.writable) return 0;
      mem::Page* page = it->second.page;
      // wp_page_reuse: the only user of the page may simply write to it.
      if (page->mapcount == 1 && page->refcount == 1) {
        it->second.writable = true;
        return 0;
      }
    }
  }
  if (anon_vma_prepare(mm, vma)) return -ENOMEM;
  mem::Page* page = memory.alloc_pages(kGfpHighUserMovable, 0, kSiteAnonFault);
  if (!page) return -ENOMEM;
  sched::SpinGuard guard(mm.page_table_lock, Site{"handle_pte_fault"});
  if (stable) vma_check_read_stable(vma, *stable, "do_anonymous_page");
  auto it = mm.ptes.find(vpn);
  if (it != mm.ptes.end()) {
    if (!write || it->second.writable) {  // another thread populated it meanwhile
      memory.put_page(page);
      return 0;
    }
    // wp_page_copy: the new page replaces the shared one in this mm.
    mem::Page* old = it->second.page;
    memory.page_add_anon_rmap(page, vma->anon_vma, linear_page_index(vma, addr));
    memory.lru_add(page);
    it->second = Pte{page, true};
    memory.page_remove_rmap(old);
    memory.put_page(old);
    return 0;
  }
  // do_swap_page: the page number was swapped out (before the fault or while it
  // allocated); the new page is read back from its slot, which loses this reference.
  if (auto swap = mm.swap_ptes.find(vpn); swap != mm.swap_ptes.end()) {
    memory.swap_free(swap->second);
    memory.count_swap_in();
    mm.swap_ptes.erase(swap);
  }
  memory.page_add_anon_rmap(page, vma->anon_vma, linear_page_index(vma, addr));
  memory.lru_add(page);
  mm.ptes.emplace(vpn, Pte{page, write});
  ++mm.rss;
  return 0;
}

// A fault in a file mapping (do_read_fault, do_shared_fault, do_cow_fault and the
// write-protect faults after them). The page comes from the file's cache at the VMA's
// pgoff for addr: a shared mapping maps it (writable on a write fault in a VM_WRITE
// mapping); a private one maps it read-only, and a write copies it to an anonymous page
// of the VMA's anon_vma. What a private mapping already copied (a present anonymous
// page or its swap entry) is the anonymous path's. -EFAULT past the file's end
// (SIGBUS), -ENOMEM when the cache page, the anon_vma or the copy cannot be allocated.
int do_file_fault(Mm& mm, Vma* vma, unsigned long addr, bool write, const VmaReadSnapshot* stable) {
  const unsigned long vpn = addr >> kPageShift;
  const bool shared = vma->vm_flags & VM_SHARED;
  mem::Memory& memory = mm.context().memory();
  bool anonymous = false;
  {
    sched::SpinGuard guard(mm.page_table_lock, Site{"handle_pte_fault"});
    if (stable) vma_check_read_stable(vma, *stable, "handle_pte_fault");
    auto it = mm.ptes.find(vpn);
    if (it != mm.ptes.end()) {
      if (!write || it->second.writable) return 0;
      // wp_page_shared: the cache page becomes writable in place, dirty first
      // (fault_dirty_shared_page), so reclaim writes it back before it drops it.
      if (shared) {
        // CANARY wp-page-shared-skips-dirty: writable, and still clean.
        if (!defect_enabled(Defect::WpPageSharedSkipsDirty)) it->second.page->set(mem::PG_dirty);
        it->second.writable = true;
        return 0;
      }
    }
    anonymous = !shared && (it != mm.ptes.end() ? !it->second.page->mapping : mm.swap_ptes.count(vpn) > 0);
  }
  if (anonymous) return do_anonymous_fault(mm, vma, addr, write, stable);
  File* file = vma->vm_file;
  const unsigned long index = linear_page_index(vma, addr);
  if (index >= file->size_pages) return -EFAULT;
  const bool cow = write && !shared;
  if (cow && anon_vma_prepare(mm, vma)) return -ENOMEM;
  mem::Page* cache = filemap_get_page(mm.context(), file, index);
  if (!cache) return -ENOMEM;
  mem::Page* copy = nullptr;
  if (cow) {
    copy = memory.alloc_pages(kGfpHighUserMovable, 0, kSiteAnonFault);
    if (!copy) {
      memory.put_page(cache);
      return -ENOMEM;
    }
  }
  sched::SpinGuard guard(mm.page_table_lock, Site{"handle_pte_fault"});
  if (stable) vma_check_read_stable(vma, *stable, cow ? "do_cow_fault" : "do_read_fault");
  auto it = mm.ptes.find(vpn);
  // Another thread of the mm got here first while this one allocated (its copy, or a
  // swap entry of it, or the cache page already mapped as asked): nothing left to do.
  const bool done = mm.swap_ptes.count(vpn) > 0 ||
                    (it != mm.ptes.end() && (!cow || it->second.writable || !it->second.page->mapping));
  if (done) {
    if (it != mm.ptes.end() && write && shared) {
      it->second.page->set(mem::PG_dirty);
      it->second.writable = true;
    }
    if (copy) memory.put_page(copy);
    memory.put_page(cache);
    return 0;
  }
  if (!cow) {
    // The lookup's reference becomes the pte's; a shared write dirties the page.
    if (write && shared) cache->set(mem::PG_dirty);
    memory.page_add_file_rmap(cache);
    mm.ptes.emplace(vpn, Pte{cache, write && shared});
    ++mm.rss;
    return 0;
  }
  memory.page_add_anon_rmap(copy, vma->anon_vma, index);
  memory.lru_add(copy);
  if (it != mm.ptes.end()) {
    // The read-only cache page this mapping had gives way to the copy.
    mem::Page* old = it->second.page;
    it->second = Pte{copy, true};
    memory.page_remove_rmap(old);
    memory.put_page(old);
  } else {
    mm.ptes.emplace(vpn, Pte{copy, true});
    ++mm.rss;
  }
  memory.put_page(cache);
  return 0;
}

// The fault in a VMA found and allowed, by the VMA's kind.
int do_fault(Mm& mm, Vma* vma, unsigned long addr, bool write, const VmaReadSnapshot* stable) {
  return vma->vm_file ? do_file_fault(mm, vma, addr, write, stable) : do_anonymous_fault(mm, vma, addr, write, stable);
}

}  // namespace

int handle_mm_fault(Mm& mm, unsigned long addr, bool write) {
  // As do_user_addr_fault since 6.4: the VMA under RCU and its own lock first; an access
  // error there is final, anything else that stops it falls back to mmap_lock.
  if (mm.context().config().per_vma_locks) {
    if (Vma* vma = lock_vma_under_rcu(mm, addr)) {
      struct EndRead {
        Vma* vma;
        ~EndRead() { vma_end_read(vma); }
      } end_read{vma};
      if (access_error(vma, write)) return -EFAULT;
      const VmaReadSnapshot snapshot = vma_read_snapshot(vma);
      return do_fault(mm, vma, addr, write, &snapshot);
    }
  }
  mm.mmap_lock.down_read(Site{"lock_mm_and_find_vma"});
  struct Unlock {
    Mm& mm;
    bool write = false;
    ~Unlock() {
      if (write) mmap_write_unlock(mm);
      else mm.mmap_lock.up_read(Site{"mmap_read_unlock"});
    }
  } unlock{mm};
  Vma* vma = find_vma(mm, addr);
  if (!vma) return -EFAULT;
  if (addr < vma->vm_start) {
    // lock_mm_and_find_vma (6.5 on, after StackRot): a stack grows only under mmap_lock
    // for write. The read lock is dropped, the write lock taken and the VMA found again
    // (anything may have happened in between), then the lock goes back to read.
    if (!(vma->vm_flags & VM_GROWSDOWN)) return -EFAULT;
    mm.mmap_lock.up_read(Site{"lock_mm_and_find_vma"});
    mmap_write_lock(mm, Site{"lock_mm_and_find_vma"});
    unlock.write = true;
    vma = find_vma(mm, addr);
    if (!vma) return -EFAULT;
    if (addr < vma->vm_start && (!(vma->vm_flags & VM_GROWSDOWN) || expand_downwards(mm, vma, addr))) return -EFAULT;
    mmap_write_downgrade(mm, Site{"lock_mm_and_find_vma"});
    unlock.write = false;
  }
  if (access_error(vma, write)) return -EFAULT;
  return do_fault(mm, vma, addr, write, nullptr);
}

// fork's dup_mm() and dup_mmap(). Long because it follows the kernel's dup_mmap() step
// by step, error unwinding included, so the two read side by side.
std::unique_ptr<Mm> dup_mm(Mm& parent, int* error) {
  VmContext& context = parent.context();
  auto child = std::make_unique<Mm>(context);
  child->start_brk = parent.start_brk;
  child->brk = parent.brk;
  int ret = 0;
  uint64_t charged = 0;
  {
  // RAII: a thread unwound at the end of a run must not leave the locks held.
  struct WriteLocks {
    Mm& parent;
    Mm& child;
    WriteLocks(Mm& p, Mm& c) : parent(p), child(c) {
      mmap_write_lock(parent, Site{"dup_mmap"});
      mmap_write_lock_nested(child, 1, Site{"dup_mmap"});
    }
    ~WriteLocks() {
      mmap_write_unlock(child, Site{"dup_mmap"});
      mmap_write_unlock(parent, Site{"dup_mmap"});
    }
  } locks(parent, *child);
  child->brk_raced_fork = parent.brk_raced_fork || child->brk != parent.brk;
  MA_STATE(mas, &parent.mm_mt, 0, 0);
  void* entry;
  mas_for_each(&mas, entry, ULONG_MAX) {
    auto* vma = static_cast<Vma*>(entry);
    // Since 6.4 (after the fork/fault memory-corruption reports): no fault may change the
    // parent's VMA under its own lock while its page tables are copied.
    // CANARY fork-skips-vma-start-write: the parent's VMA is copied unlocked.
    if (!defect_enabled(Defect::ForkSkipsVmaStartWrite)) vma_start_write(vma);
    if (vma->vm_flags & VM_ACCOUNT) {
      if ((ret = context.vm_acct_memory(vma->pages()))) break;
      charged += vma->pages();
    }
    Vma* copy = vma_alloc(*child);
    if (!copy) {
      ret = -ENOMEM;
      break;
    }
    copy->vm_start = vma->vm_start;
    copy->vm_end = vma->vm_end;
    copy->vm_flags = vma->vm_flags;
    copy->vm_pgoff = vma->vm_pgoff;
    vma_start_write(copy);
    vma_mark_attached(copy);
    MA_STATE(cmas, &child->mm_mt, copy->vm_start, copy->vm_end - 1);
    if ((ret = mas_store_gfp(&cmas, copy, gfp::kKernel))) {
      vma_free(*child, copy);
      break;
    }
    // dup_mmap: the copy holds its own file reference and is opened.
    if (vma->vm_file) {
      copy->vm_file = vma->vm_file;
      copy->vm_ops = vma->vm_ops;
      vma_link_file(copy);
    }
    ++child->map_count;
    child->total_vm += copy->pages();
    charged -= copy->vm_flags & VM_ACCOUNT ? copy->pages() : 0;  // now owned by the copy
    if (vma->anon_vma) {
      // anon_vma_fork: the child joins the parent's chain and reuses an abandoned
      // anon_vma of it, or gets its own. If that cannot be allocated the copy is
      // already in the child's tree and goes with the rest of the child in the
      // unwinding below.
      anon_vma_clone_for_fork(copy, vma);
      if (!copy->anon_vma) {
        AnonVma* own = context.anon_vma_alloc(vma->anon_vma);
        if (!own) {
          ret = -ENOMEM;
          break;
        }
        copy->anon_vma = own;
        anon_vma_link(copy, own);
      }
    }
    // copy_page_range: every present pte is shared copy-on-write.
    vma_assert_page_tables_locked(vma, "copy_page_range");
    sched::SpinGuard parent_ptl(parent.page_table_lock, Site{"copy_pte_range"});
    for (auto it = parent.ptes.lower_bound(vma->vm_start >> kPageShift);
         it != parent.ptes.end() && it->first < (vma->vm_end >> kPageShift); ++it) {
      mem::Page* page = it->second.page;
      context.memory().get_page(page);
      // The fork window: the reference is taken, the mapping not yet counted, so the
      // page looks pinned (refcount > mapcount) to a concurrent migration.
      sched::yield_point(kSiteForkWindow);
      context.memory().page_dup_rmap(page);
      if (!(vma->vm_flags & VM_SHARED)) it->second.writable = false;
      child->ptes.emplace(it->first, Pte{page, it->second.writable});
      ++child->rss;
    }
    // copy_nonpresent_pte: a swap pte is shared by bumping its slot's count.
    for (auto it = parent.swap_ptes.lower_bound(vma->vm_start >> kPageShift);
         it != parent.swap_ptes.end() && it->first < (vma->vm_end >> kPageShift); ++it) {
      context.memory().swap_duplicate(it->second);
      child->swap_ptes.emplace(it->first, it->second);
    }
  }
  }
  if (ret) {
    // CANARY fork-enomem-leaks-charge: the charge of the VMA whose copy failed stays.
    if (charged && !defect_enabled(Defect::ForkEnomemLeaksCharge)) context.vm_unacct_memory(charged);
    exit_mmap(*child);
    *error = ret;
    return nullptr;
  }
  *error = 0;
  return child;
}

void exit_mmap(Mm& mm) {
  if (mm.exited) return;
  struct WriteLock {
    Mm& mm;
    explicit WriteLock(Mm& m) : mm(m) { mmap_write_lock(mm, Site{"exit_mmap"}); }
    ~WriteLock() { mmap_write_unlock(mm, Site{"exit_mmap"}); }
  } lock(mm);
  std::vector<Vma*> vmas;
  {
    MA_STATE(mas, &mm.mm_mt, 0, 0);
    void* entry;
    mas_for_each(&mas, entry, ULONG_MAX) vmas.push_back(static_cast<Vma*>(entry));
  }
  if (mm.context().config().per_vma_locks) {
    for (Vma* vma : vmas) {
      // A freed VMA left in the tree is named before its fields are read.
      mm.context().vma_cache().check_free(vma, "remove_vma");
      vma_start_write(vma);
      vma_mark_detached(vma);
    }
  }
  remove_vmas(mm, vmas);
  __mt_destroy(&mm.mm_mt);
  mm.exited = true;
}

}  // namespace mmt::vma
