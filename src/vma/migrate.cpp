// Page migration's reverse-map step for anonymous pages (VmContext::try_to_migrate,
// mem::RmapOps): the kernel's try_to_migrate + migrate_folio_move + remove_migration_ptes
// collapsed into one step. The kernel replaces each pte with a migration entry, freezes
// the old page's refcount at what it expects (only the isolating caller's reference),
// and then points the entries at the new page — or back at the old one when the freeze
// fails. We have no migration entries, so instead nothing changes until every check has
// passed, and from the freeze check to the last pte moved nothing yields: no other
// thread can see a page half-moved.
//
// Like try_to_unmap (mm.cpp) it walks the page's anon_vma under its read lock, so the
// chain and the VMA bounds cannot change under the walk.
#include <cerrno>
#include <vector>

#include "mmtorture/sched/rwsem.h"
#include "mmtorture/vma/mm.h"

namespace mmt::vma {

int VmContext::try_to_migrate(mem::Page* from, mem::Page* to) {
  if (from->mapcount == 0) return from->refcount == 1 ? 0 : -EAGAIN;  // nothing to move, or held
  auto* anon_vma = static_cast<AnonVma*>(from->anon_vma);
  if (!anon_vma) return -EAGAIN;
  const sched::RwSemReadGuard read_lock(&anon_vma->lock, Site{"try_to_migrate"}, Site{"try_to_migrate"});

  // From here on nothing yields. The freeze: every reference must be a mapping's or the
  // caller's. A fork between get_page and page_dup_rmap, a zap before its TLB flush, a
  // GUP pin or an LRU batch each hold one more.
  if (from->refcount != from->mapcount + 1 || from->anon_vma != anon_vma) return -EAGAIN;
  struct Mapping {
    Mm* mm;
    unsigned long vpn;
  };
  std::vector<Mapping> mappings;
  for (Vma* vma : anon_vma->vmas) {
    if (from->index < vma->vm_pgoff || from->index - vma->vm_pgoff >= vma->pages()) continue;
    const unsigned long vpn = (vma->vm_start >> kPageShift) + (from->index - vma->vm_pgoff);
    Mm& mm = *vma->vm_mm;
    auto it = mm.ptes.find(vpn);
    if (it == mm.ptes.end() || it->second.page != from) continue;
    // Taking the page-table lock would wait for its holder (a fork copying this mm's
    // ptes, a fault, a zap); waiting would yield, so treat it as the kernel treats a
    // folio it cannot lock right now: try again in a later pass.
    if (mm.page_table_lock.is_locked()) return -EAGAIN;
    mappings.push_back(Mapping{&mm, vpn});
  }
  // A mapping the walk cannot reach would keep the old page mapped after the move.
  if (mappings.size() != static_cast<size_t>(from->mapcount)) return -EAGAIN;

  for (size_t i = 0; i < mappings.size(); ++i) {
    mappings[i].mm->ptes.at(mappings[i].vpn).page = to;
    if (i == 0) {
      memory_.page_add_anon_rmap(to, anon_vma, from->index);
    } else {
      memory_.page_dup_rmap(to);
    }
    memory_.get_page(to);
    memory_.page_remove_rmap(from);
    memory_.put_page(from);  // never the last: the caller's reference remains
  }
  to->flags |= from->flags & mem::PG_dirty;
  return 0;
}

}  // namespace mmt::vma
