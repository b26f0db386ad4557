// Simulated files for file-backed mappings: a few per VmContext, each with a reference
// count (get_file/fput), the list of VMAs mapping it (i_mmap, in the order links and
// unlinks leave it, so every walk is deterministic), a page cache, and the vm_operations its mmap hook installs.
//
// Two kinds of file, as the merge rules care about them: plain files (generic_file_vm_ops:
// no open/close hooks) and SysV-shm-like files (shm_vm_ops: ->open and ->close keep an
// attach count, shm_nattch, which only those hooks change). The kernel never removes a
// VMA whose ops have ->close by merging it away (the 6.7-era rule, fixed for vma_merge's
// case 7 in fc0c8f9089c2): a merge does not call ->close, so the count would leak.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "mmtorture/core/failure.h"
#include "mmtorture/core/site.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/sched/rwsem.h"

namespace mmt::vma {

struct Vma;
class VmContext;

// A VMA's vm_ops: a static table, shared by every VMA of its kind.
struct VmOperations {
  const char* name;
  void (*open)(Vma* vma);   // a new VMA maps the file (mmap, split, fork, mremap's copy)
  void (*close)(Vma* vma);  // a VMA of the file goes away (munmap, exit, mremap's old one)
};

// generic_file_vm_ops: no hooks.
extern const VmOperations kGenericFileVmOps;
// shm_vm_ops: shm_open / shm_close count attaches (File::attach).
extern const VmOperations kShmVmOps;

inline bool vma_has_close(const VmOperations* ops) { return ops && ops->close; }

struct File {
  uint64_t id = 0;                         // 1-based, in creation order
  const VmOperations* mmap_ops = nullptr;  // what its mmap hook installs
  unsigned long size_pages = 0;            // faults at or beyond it are SIGBUS (-EFAULT)
  // One reference is the context's own (the open file); each VMA mapping it holds one.
  long refcount = 1;
  // shm_nattch: changed only by kShmVmOps' hooks.
  long attach = 0;
  // Every VMA with vm_file == this. An unlink moves the last entry into the leaver's
  // place, so the order is deterministic (it follows the links and unlinks) and each VMA
  // keeps its own position (Vma::i_mmap_pos).
  std::vector<Vma*> i_mmap;
  // i_mmap_rwsem: taken for write by every change of i_mmap (link, unlink) and of the
  // range or pgoff of a VMA on it, for read by the reverse-map walk of a file page
  // (reclaim's try_to_unmap), which therefore sees every VMA's range stable. A class
  // reclaim takes: no sleeping allocation under it. Order (mm/rmap.c): mmap_lock, VMA
  // write lock, i_mmap_rwsem, anon_vma lock, page-table lock.
  sched::RwSem i_mmap_rwsem{"i_mmap_rwsem", sched::LockFlags::TakenByReclaim};
  // The page cache: index -> page, each holding one reference of its own. Pages are
  // GFP_KERNEL (unmovable) and on the LRU: reclaim unmaps a page through i_mmap, writes
  // it back if a shared mapping dirtied it (PG_dirty, set by the write fault), and drops
  // it from here (filemap_remove_page); a later fault reads it in again.
  std::map<unsigned long, mem::Page*> cache;
  uint64_t dropped = 0;  // pages reclaim dropped from the cache
};

// i_mmap_lock_read / i_mmap_lock_write for one scope; the write lock of a null file (an
// anonymous VMA) is no lock.
class IMmapReadLock : public sched::RwSemReadGuard {
 public:
  IMmapReadLock(File* file, Site site) : sched::RwSemReadGuard(&file->i_mmap_rwsem, site, Site{"i_mmap_unlock_read"}) {}
};
class IMmapWriteLock : public sched::RwSemWriteGuard {
 public:
  IMmapWriteLock(File* file, Site site)
      : sched::RwSemWriteGuard(file ? &file->i_mmap_rwsem : nullptr, site, Site{"i_mmap_unlock_write"}) {}
};

// get_file / fput on a VMA's file reference.
void get_file(File* file);
void fput(File* file);

// A new VMA maps vma->vm_file (set, with vm_ops, by the caller): get_file, link into
// i_mmap, then ->open, under i_mmap_rwsem for write. No yield point between the first
// change and the last, so the file's counts and its i_mmap agree at every point another
// thread can run.
void vma_link_file(Vma* vma);
// The VMA stops mapping its file: ->close when `call_close` (removal), unlink from
// i_mmap (under i_mmap_rwsem for write), fput. A merge removes a VMA without ->close (the rule keeps such VMAs). A VMA
// that is not where its i_mmap_pos says is a Failure (vma.file).
void vma_unlink_file(Vma* vma, bool call_close);

// The page of `file` at `index` from its cache, allocated (GFP_KERNEL, site
// filemap_fault) on a miss and put on the LRU, with a reference for the caller; null
// when the allocation fails. May sleep.
mem::Page* filemap_get_page(VmContext& context, File* file, unsigned long index);

// __remove_mapping for reclaim: drops `page` from its file's cache if nothing but the
// cache and the caller (reclaim's isolation) holds it and it is clean (the refcount
// freeze); its cache reference goes, never the last. True if dropped. Does not yield.
bool filemap_remove_page(VmContext& context, mem::Page* page);

// The first broken page-cache invariant of the context (check vma.file_cache): every
// cache page names its file and index, is allocated, on the LRU or isolated by reclaim,
// with refcount >= its cache reference + its mappings (+ reclaim's); every allocated
// frame naming a file is that file's cache page at its index. O(frames): for the
// every-N checks.
std::optional<Failure> validate_file_caches(VmContext& context);

}  // namespace mmt::vma
