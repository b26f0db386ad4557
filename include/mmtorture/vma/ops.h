// The address-space operations, with the kernel's names, locking and preallocation
// discipline: each takes mmap_lock as the syscall would (write for layout changes,
// read for page faults), reserves maple nodes with GFP_KERNEL before entering sections
// that must not sleep (mas_preallocate), stores with mas_store_prealloc inside them,
// and leaves the mm consistent on every error path, -ENOMEM in the middle of a split,
// merge, fork or mremap included. Errors are the kernel's negative errno values.
#pragma once

#include "mmtorture/vma/mm.h"

namespace mmt::vma {

// mmap of anonymous memory. Returns the address or a negative errno (-EINVAL, -ENOMEM,
// -EPERM below mmap_min_addr, -EEXIST for MAP_FIXED_NOREPLACE over a mapping, -EBADF
// without MAP_ANONYMOUS since there are no files).
long vm_mmap(Mm& mm, unsigned long addr, unsigned long len, unsigned long prot, unsigned long flags);
// mmap of a file (file.h): MAP_SHARED (VM_SHARED | VM_MAYSHARE) or MAP_PRIVATE, mapping
// the file from page `pgoff` on. The new VMA holds a file reference and gets the file's
// vm_ops (its mmap hook: a shm-like file's ->open runs); it merges with a neighbour
// mapping the same file at contiguous offsets. -EBADF without a file, -EINVAL with
// MAP_ANONYMOUS or MAP_GROWSDOWN, -EOVERFLOW when the offset would wrap, else as vm_mmap.
long vm_mmap_file(Mm& mm, File* file, unsigned long addr, unsigned long len, unsigned long prot, unsigned long flags,
                  unsigned long pgoff);
int vm_munmap(Mm& mm, unsigned long start, unsigned long len);
int do_mprotect(Mm& mm, unsigned long start, unsigned long len, unsigned long prot);
// sys_brk: returns the new break, or the old one if the request was refused.
unsigned long do_brk(Mm& mm, unsigned long newbrk);
// Returns the (possibly new) address or a negative errno (-EINVAL, -EFAULT, -ENOMEM).
long do_mremap(Mm& mm, unsigned long old_addr, unsigned long old_len, unsigned long new_len,
               unsigned long flags, unsigned long new_addr);
// A page fault at addr: populates an anonymous page (GFP_KERNEL) or breaks COW on
// write; below a VM_GROWSDOWN VMA, grows it first (expand_downwards, mmap_lock taken
// for write). 0, -EFAULT (no VMA, no permission, a stack that cannot grow) or -ENOMEM.
int handle_mm_fault(Mm& mm, unsigned long addr, bool write);
// fork's dup_mmap: a new mm with copies of every VMA and every present pte (refcount
// raised before mapcount, with a yield point between them). Null and *error set on
// failure, with nothing leaked.
std::unique_ptr<Mm> dup_mm(Mm& parent, int* error);
// Tears the address space down: zap every pte (mapcount dropped first, the page
// references only after the TLB flush), free the VMAs, destroy the tree.
void exit_mmap(Mm& mm);

// expand_downwards (expand_stack_locked): grows the VM_GROWSDOWN vma down to the page of
// `address`, under mmap_lock held for write: 0, -EPERM below mmap_min_addr, or -ENOMEM
// (a stack larger than RLIMIT_STACK, the guard gap to an accessible mapping below, the
// charge, the anon_vma, the tree nodes; nothing changed then). handle_mm_fault calls it for a fault below a stack.
int expand_downwards(Mm& mm, Vma* vma, unsigned long address);

// Unlocked internals, for callers already holding mmap_lock for write.
int do_vmi_munmap(Mm& mm, unsigned long start, unsigned long len);
int do_mprotect_locked(Mm& mm, unsigned long start, unsigned long len, unsigned long prot);
// vm_mmap / vm_mmap_file's work (file null: anonymous, and pgoff unused).
long do_mmap_locked(Mm& mm, File* file, unsigned long addr, unsigned long len, unsigned long prot, unsigned long flags,
                    unsigned long pgoff);

}  // namespace mmt::vma
