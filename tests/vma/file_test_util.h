// What the file-mapping tests share (file_test.cpp, file_reclaim_test.cpp): the
// World's two files and a MAP_FIXED file mapping by page numbers.
#pragma once

#include "vma_test_util.h"

namespace mmt::vma::testing {

inline constexpr unsigned long kRW = PROT_READ | PROT_WRITE;
inline constexpr unsigned long kSharedFixed = MAP_SHARED | MAP_FIXED;
inline constexpr unsigned long kPrivateFixed = MAP_PRIVATE | MAP_FIXED;

// The context's files: index 0 is shm-like (open/close hooks), index 1 plain.
inline File* shm(World& w) { return w.context.file(0); }
inline File* plain(World& w) { return w.context.file(1); }

// Maps `pages` pages of `file` from `pgoff` at page `page` (page 0 is kBase).
inline long map(Mm& mm, File* file, unsigned long page, unsigned long pages, unsigned long pgoff,
                unsigned long flags = kSharedFixed, unsigned long prot = kRW) {
  return vm_mmap_file(mm, file, page_at(page), pages * kPageSize, prot, flags, pgoff);
}

}  // namespace mmt::vma::testing
