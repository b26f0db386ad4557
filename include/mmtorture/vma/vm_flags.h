// The kernel's user-visible mapping constants (PROT_*, MAP_*, MREMAP_*) and the VMA
// flags the VMA manager keeps (VM_*), with the kernel's values so dumps read the same.
#pragma once

namespace mmt::vma {

inline constexpr unsigned long kPageShift = 12;
inline constexpr unsigned long kPageSize = 1UL << kPageShift;
inline constexpr unsigned long kPageMask = ~(kPageSize - 1);

inline constexpr unsigned long page_align(unsigned long addr) { return (addr + kPageSize - 1) & kPageMask; }
inline constexpr bool page_aligned(unsigned long addr) { return (addr & (kPageSize - 1)) == 0; }
inline constexpr unsigned long pages_of(unsigned long bytes) { return bytes >> kPageShift; }

// mmap/mprotect arguments.
inline constexpr unsigned long PROT_NONE = 0x0;
inline constexpr unsigned long PROT_READ = 0x1;
inline constexpr unsigned long PROT_WRITE = 0x2;
inline constexpr unsigned long PROT_EXEC = 0x4;
inline constexpr unsigned long MAP_SHARED = 0x01;
inline constexpr unsigned long MAP_PRIVATE = 0x02;
inline constexpr unsigned long MAP_FIXED = 0x10;
inline constexpr unsigned long MAP_ANONYMOUS = 0x20;
inline constexpr unsigned long MAP_GROWSDOWN = 0x0100;  // a stack: grows down on faults below it
inline constexpr unsigned long MAP_NORESERVE = 0x4000;
inline constexpr unsigned long MAP_FIXED_NOREPLACE = 0x100000;
inline constexpr unsigned long MREMAP_MAYMOVE = 1;
inline constexpr unsigned long MREMAP_FIXED = 2;

// vm_flags.
inline constexpr unsigned long VM_READ = 0x00000001;
inline constexpr unsigned long VM_WRITE = 0x00000002;
inline constexpr unsigned long VM_EXEC = 0x00000004;
inline constexpr unsigned long VM_SHARED = 0x00000008;
inline constexpr unsigned long VM_MAYREAD = 0x00000010;
inline constexpr unsigned long VM_MAYWRITE = 0x00000020;
inline constexpr unsigned long VM_MAYEXEC = 0x00000040;
inline constexpr unsigned long VM_MAYSHARE = 0x00000080;
inline constexpr unsigned long VM_GROWSDOWN = 0x00000100;
inline constexpr unsigned long VM_ACCOUNT = 0x00100000;
inline constexpr unsigned long VM_NORESERVE = 0x00200000;
inline constexpr unsigned long VM_SOFTDIRTY = 0x08000000;

inline constexpr unsigned long VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC;

inline constexpr unsigned long calc_vm_prot_bits(unsigned long prot) {
  return (prot & PROT_READ ? VM_READ : 0) | (prot & PROT_WRITE ? VM_WRITE : 0) | (prot & PROT_EXEC ? VM_EXEC : 0);
}

}  // namespace mmt::vma
