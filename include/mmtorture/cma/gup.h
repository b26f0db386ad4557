// GUP pins (mm/gup.c): pin_user_pages on an address space, with FOLL_LONGTERM's
// handling of pages in CMA memory chosen by CmaOptions::longterm_pin
// (notes/cma-and-pins.md §3):
//   PinInPlace           the page is pinned where it is — possibly inside a CMA area,
//                        where it blocks every cma_alloc that needs it for as long as
//                        the pin is held (the VFIO case David Hildenbrand raised).
//   MigrateOrPinInPlace  v5.10 check_and_migrate_cma_pages: unpin, migrate the CMA pages
//                        to non-CMA memory, pin again; if the migration fails, pin in
//                        CMA anyway (migrate_allow = false).
//   MigrateFirst         v5.13+ check_and_migrate_movable_pages: the same, but a failed
//                        migration fails the pin with -ENOMEM; success retries the pin.
// A pin adds GUP_PIN_COUNTING_BIAS (1024) to the page's refcount
// (mem::Memory::pin_user_page), which is what makes the page unmigratable.
#pragma once

#include <vector>

#include "mmtorture/cma/cma.h"
#include "mmtorture/vma/mm.h"

namespace mmt::cma {

inline constexpr unsigned FOLL_WRITE = 0x01;
inline constexpr unsigned FOLL_LONGTERM = 0x100;

// Pins the nr_pages pages from `start` (page-aligned) in `mm`, faulting in what is not
// present (a write fault, breaking COW, with FOLL_WRITE). Appends the pages to `pages`
// and returns nr_pages, or returns a negative errno with nothing pinned: -EFAULT (no
// VMA or no permission), -ENOMEM (a fault could not allocate, or a FOLL_LONGTERM
// migration failed under MigrateFirst), -EINTR (fatal signal). May sleep.
long pin_user_pages(Cma& cma, vma::Mm& mm, unsigned long start, unsigned long nr_pages, unsigned gup_flags,
                    std::vector<mem::Page*>& pages);
// unpin_user_pages: drops the pins pin_user_pages took (pass the same gup_flags) and
// empties `pages`.
void unpin_user_pages(Cma& cma, std::vector<mem::Page*>& pages, unsigned gup_flags);

}  // namespace mmt::cma
