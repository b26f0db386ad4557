// The VMA manager's allocation sites: the labels its slab and page requests carry, which
// the fault plan's rules name and the campaign's coverage registry counts.
#pragma once

#include "mmtorture/core/site.h"

namespace mmt::vma {

inline constexpr Site kSiteVmAreaAlloc{"vm_area_alloc"};      // vm_area_struct, GFP_KERNEL
inline constexpr Site kSiteAnonVmaAlloc{"anon_vma_alloc"};    // anon_vma, GFP_KERNEL
inline constexpr Site kSiteAnonFault{"do_anonymous_page"};    // the page of an anonymous or COW fault
inline constexpr Site kSiteFilemapFault{"filemap_fault"};     // a file's page-cache page, GFP_KERNEL

}  // namespace mmt::vma
