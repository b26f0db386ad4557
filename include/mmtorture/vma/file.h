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
#include <vector>

#include "mmtorture/mem/memory.h"

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
  // The page cache: index -> page, each holding one reference of its own. Pages are
  // GFP_KERNEL (unmovable) and kept off the LRU: reclaim and migration leave them alone,
  // as the kernel's unevictable ramfs pages (the cache lives as long as the context).
  std::map<unsigned long, mem::Page*> cache;
};

// get_file / fput on a VMA's file reference.
void get_file(File* file);
void fput(File* file);

// A new VMA maps vma->vm_file (set, with vm_ops, by the caller): get_file, link into
// i_mmap, then ->open. No yield point inside, so the file's counts and its i_mmap agree
// at every point another thread can run.
void vma_link_file(Vma* vma);
// The VMA stops mapping its file: ->close when `call_close` (removal), unlink from
// i_mmap, fput. A merge removes a VMA without ->close (the rule keeps such VMAs). A VMA
// that is not where its i_mmap_pos says is a Failure (vma.file).
void vma_unlink_file(Vma* vma, bool call_close);

// The page of `file` at `index` from its cache, allocated (GFP_KERNEL, site
// filemap_fault) on a miss, with a reference for the caller; null when the allocation
// fails. May sleep.
mem::Page* filemap_get_page(VmContext& context, File* file, unsigned long index);

}  // namespace mmt::vma
