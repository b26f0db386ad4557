// The canary defect table and switches (defects.h).
#include "mmtorture/core/defects.h"

namespace mmt {

namespace detail {
uint64_t g_enabled_defects = 0;
}

// Long because it is a table: one entry per defect, its history and what catches it.
const std::vector<DefectInfo>& defect_table() {
  static const std::vector<DefectInfo> table = {
      {Defect::PreallocRedundantWrite, "prealloc-redundant-write", "000",
       "An mprotect merge (vma_modify, merging into prev) performs an extra tree write inside its "
       "preallocation window, consuming the nodes mas_preallocate reserved; mas_store_prealloc then runs short "
       "(the BUG_ON in the 2023 mprotect/GFP_NOWAIT thread). Caught by mas_store_prealloc's one-store-per-"
       "preallocation check even when enough nodes happen to be left."},
      {Defect::GfpKernelUnderRmapLock, "gfp-kernel-under-rmap-lock", "000",
       "A VMA adjustment allocates its maple nodes with GFP_KERNEL while holding the anon_vma lock, the "
       "answer to \"why not GFP_KERNEL?\" in the same thread: reclaim takes that lock. Caught by the "
       "reclaim-safety check (lockdep.reclaim)."},
      {Defect::NommuSplitDoubleCount, "nommu-split-double-count", "001",
       "After splitting a VMA both halves are set up as new, so the original is counted twice in map_count. "
       "Caught by validate_mm (VMA count vs map_count)."},
      {Defect::BrkMunmapShortcut, "brk-munmap-shortcut", "002",
       "brk shrinks the heap VMA in place instead of going through the munmap path, without the anon_vma "
       "lock, so a concurrent reverse-map walker (reclaim) sees the VMA change under it. Caught by the rmap "
       "stability check in try_to_unmap when reclaim runs concurrently."},
      {Defect::MremapAccountLeak, "mremap-account-leak", "003",
       "move_vma's VM_ACCOUNT hand-off assumes the old VMA is gone: when the moved range was part of a larger "
       "VMA it uncharges the moved pages once more (Hugh Dickins' report). Caught by the committed accounting "
       "check (Committed_AS vs VM_ACCOUNT mappings)."},
      {Defect::MremapUaf, "mremap-uaf", "003",
       "move_vma touches the old VMA after do_munmap freed it (the KASAN report). Caught by ASan in sanitizer "
       "builds and by the slab's poison check when the object is reused otherwise."},
      {Defect::TopdownGapMiscalc, "topdown-gap-miscalc", "003",
       "Top-down placement asks the gap search for a page less than the mapping needs, so a new mapping can "
       "overlap the next one. Caught by validate_mm (a VMA no longer matches its tree slot)."},
      {Defect::DestroyFreesLiveNodes, "destroy-frees-live-nodes", "003",
       "After a spanning store the clean-up of replaced nodes also frees a node that is still linked into the "
       "tree (the KASAN report in mas_descend_adopt). Caught by the poisoned-node checks: maple.mt_validate.freed_node "
       "(a child still linked reads as POISON_FREE), its parent checks once the node is reused, and ASan; in an "
       "RCU-mode tree (the world's) the node is first met dead by a walk nothing can interrupt: "
       "maple.dead_node_linked."},
      {Defect::CmaRetryUninterruptible, "cma-retry-uninterruptible", "004",
       "The retry-forever cma_alloc policy sleeps uninterruptibly, so a fatal signal is never honoured while a "
       "page stays pinned. Caught by hang detection naming cma_alloc."},
      {Defect::CmaBitmapLeakOnBusy, "cma-bitmap-leak-on-busy", "004",
       "A range that fails with -EBUSY leaves its bitmap bits set. Caught by the CMA bitmap invariant."},
      {Defect::RcuFreeWithoutGracePeriod, "rcu-free-without-grace-period", "-",
       "A node replaced in an RCU-mode maple tree is freed at once instead of after a grace period (the class of "
       "the 6.x maple-tree fixes that moved node frees behind call_rcu), so a lock-free reader still walking it "
       "reads freed memory. Caught by the maple job's RCU readers: maple.rcu_freed_node (the walk enters a "
       "poisoned node), a reader seeing a value never stored at its index (maple.rcu_reader), and ASan."},
      {Defect::EmptyAreaSkipsLastSlot, "empty-area-skips-last-slot", "upstream",
       "The forward gap search (mas_empty_area) skips the last slot of each leaf, as mas_awalk did before "
       "\"maple_tree: fix mas_empty_area() search\" (6.4): the trailing gap of the tree is never found, so a "
       "search whose only fit is there returns -EBUSY though the range is free. Every answer it gives is still a "
       "free range inside the window; caught by the maple job's gap model (model_diff: -EBUSY while a gap exists)."},
      {Defect::MprotectDropsLateEnomem, "mprotect-drops-late-enomem", "upstream",
       "do_mprotect_pkey loses the error of a VMA after the first (the loop's error handling around "
       "mprotect_fixup, reworked with the VMA iterator in 6.x): an mprotect whose later split cannot allocate "
       "returns 0 with part of the range unchanged. validate_mm is content; caught by the world's per-operation "
       "model (world.result: mprotect returned 0 with pages left at their old protection)."},
      {Defect::MprotectSkipsVmaStartWrite, "mprotect-skips-vma-start-write", "upstream",
       "mprotect changes a VMA's flags in place without vma_start_write, the class of the 6.4 per-VMA-lock fixes "
       "(StackRot's expand_stack, the fork and newly-mapped-VMA races): a page fault holding the VMA read-locked "
       "under lock_vma_under_rcu sees the flags change under it and may install a writable pte in a read-only "
       "VMA. Needs world.per_vma_locks. Caught at the end of the mmap write section "
       "(vma_lock.modified_without_start_write, reported by validate_mm), and by the faulting reader "
       "(vma_lock.changed_under_reader)."},
      {Defect::ExpandStackWithoutVmaLock, "expand-stack-without-vma-lock", "upstream",
       "A stack grows (expand_downwards) without vma_start_write: its bounds and the tree change under page "
       "faults that may hold the VMA read-locked, the locking half of StackRot (CVE-2023-3269, fixed in 6.5 by "
       "growing stacks only under the mmap write lock with the VMA write-locked). Needs world.per_vma_locks. "
       "Caught when the grown VMA is stored into the tree unlocked (vma_lock.not_write_locked)."},
      {Defect::MmapLeaksVmaOnEnomem, "mmap-leaks-vma-on-enomem", "upstream",
       "mmap_region's error unwinding (the class of the maple-tree era fixes to its vma_iter_prealloc and "
       "vma_link failure paths): when mas_preallocate fails for a new mapping, the vm_area_struct already "
       "allocated for it is not freed. The mm stays valid; caught when the world is torn down by the leak check "
       "(leak: vm_area_structs still allocated after every mm exited)."},
      {Defect::MunmapEnomemDropsTotalVm, "munmap-enomem-drops-total-vm", "upstream",
       "munmap counts the pages of the VMAs it gathers for detaching while gathering them, and its error path "
       "does not give them back when the detaching tree store cannot allocate, as in do_vmi_align_munmap before "
       "\"mm/mmap: Fix error path in do_vmi_align_munmap()\" (6.5: the unwinding left VMAs detached and statistics "
       "changed). Caught by validate_mm after the munmap (total_vm vs the VMAs' pages)."},
      {Defect::BrkEnomemMovesBrk, "brk-enomem-moves-brk", "upstream",
       "brk's error path: when the heap cannot grow (its mapping or charge fails), mm->brk is still set to the "
       "new break (the kernel's brk() restores the old one on its way out), so the break and the heap disagree. "
       "Caught by the world's heap model (world.brk: [start_brk, PAGE_ALIGN(brk)) is exactly what brk mapped)."},
      {Defect::MremapEnomemKeepsCharge, "mremap-enomem-keeps-charge", "upstream",
       "mremap charges the growth of a VM_ACCOUNT mapping before moving it, and its error path does not "
       "uncharge it when move_vma fails (the class of mremap accounting fixes on the move and resize error "
       "paths). Caught at the end of the run by the committed accounting check (Committed_AS vs VM_ACCOUNT "
       "mappings)."},
      {Defect::ForkEnomemLeaksCharge, "fork-enomem-leaks-charge", "upstream",
       "dup_mmap's error unwinding (reworked several times in 6.x around the maple tree): when copying a "
       "VM_ACCOUNT VMA fails after its pages were charged, the charge is not given back. Caught at the end of "
       "the run by the committed accounting check."},
      {Defect::MergeKeepsMapCount, "merge-keeps-map-count", "upstream",
       "The three-way merge of mprotect (vma_merge's case 1: prev absorbs the VMA and next) frees two VMAs but "
       "drops map_count by one (the class of vma_merge accounting bugs). Caught by validate_mm after the "
       "mprotect (VMA count vs map_count)."},
      {Defect::PreallocSplitOneShort, "prealloc-split-one-short", "upstream",
       "Node reservation: the worst case mas_preallocate reserves for a split store is one node short (the "
       "class of fixes to the per-store-type node counts of mas_prealloc_calc), so a split that reaches the root "
       "runs out of reserved nodes. Caught by mas_store_prealloc's BUG (preallocated nodes exhausted)."},
      {Defect::NodeReplaceSkipsGapUpdate, "node-replace-skips-gap-update", "upstream",
       "When a store in an RCU-mode tree replaces a leaf by a new node (mas_wr_node_store's copy, published with "
       "mas_replace_node), the parent's gap for that slot is not updated (the class of maple-tree gap-metadata "
       "fixes), so the gap search steers by stale gaps. Caught by mt_validate's gap check (validate_mm after "
       "every world operation; the maple job's validation)."},
      {Defect::SplitSkipsAnonVmaClone, "split-skips-anon-vma-clone", "upstream",
       "__split_vma gives the new VMA its anon_vma pointer but not the anon_vma chain (anon_vma_clone), so rmap "
       "cannot reach the new VMA's pages through it (the class of anon_vma chain bugs on split and merge). Caught "
       "by validate_mm after the operation that split (the VMA is not on its anon_vma's chain)."},
      {Defect::MprotectEnomemKeepsCharge, "mprotect-enomem-keeps-charge", "upstream",
       "mprotect_fixup charges private memory it makes writable before changing the VMA, and its error path "
       "does not uncharge it when the merge or split cannot allocate (the vm_unacct_memory(charged) of its fail "
       "path). Caught at the end of the run by the committed accounting check."},
      {Defect::RebalanceLeavesNodeShort, "rebalance-leaves-node-short", "upstream",
       "The rebalance's sufficiency test (mast_sufficient: more slots than the minimum) is off by one, so a "
       "rebalance or spanning store keeps a node one slot short of the minimum occupancy instead of taking data "
       "from a neighbour (the class of the maple-tree "
       "insufficient-data fixes in mas_spanning_rebalance and mas_rebalance). Caught by mt_validate's occupancy "
       "check (validate_mm after every world operation; the maple job's validation)."},
      {Defect::SpanningStoreMissesNextNode, "spanning-store-misses-next-node", "upstream",
       "A NULL store that ends exactly on a leaf's last pivot is a spanning store because the next leaf may "
       "start with NULL too, and the two must become one range; the right-hand walk goes to mas->last instead of "
       "mas->last + 1, so the next leaf is left out and two NULL ranges meet across the node boundary (the class "
       "of \"maple_tree: correct tree corruption on spanning store\", 6.12). Caught by mt_validate's NULL check "
       "(validate_mm after every world operation: munmap ending on a leaf boundary)."},
      {Defect::ForkSkipsVmaStartWrite, "fork-skips-vma-start-write", "upstream",
       "dup_mmap copies the parent's VMAs and page tables without vma_start_write on each of them, as 6.4 did "
       "before \"fork: lock VMAs of the parent process when forking\" (the memory corruption reports of 6.4): "
       "a page fault under the parent VMA's own lock (lock_vma_under_rcu) runs while fork write-protects and "
       "shares its ptes and reads its anon_vma. Needs world.per_vma_locks. Caught when fork copies the page tables of "
       "a "
       "VMA that is not write-locked (vma_lock.page_tables_not_write_locked, the rule of every page-table copy or "
       "move under mmap_lock: copy_page_range, move_page_tables)."},
      {Defect::RcuNodePublishedBeforePivots, "rcu-node-published-before-pivots", "upstream",
       "A store in an RCU-mode tree links the node that replaces a leaf into its parent before the node's pivots "
       "are written (rcu_assign_pointer before the fill is complete: the class of the maple tree's RCU "
       "publication-order fixes, a node must be whole before it is visible), so a lock-free reader that enters it "
       "meanwhile steers by zero pivots and finds entries at indices that never held them. Caught by the maple "
       "job's RCU readers (maple.rcu_reader: a value the index did not hold at any point of the read)."},
      {Defect::ContigEarlyExitKeepsIsolation, "contig-early-exit-keeps-isolation", "upstream",
       "alloc_contig_range returns -EBUSY straight away when the final test finds pages still in use (\"PFNs "
       "busy\") instead of going through its undo_isolate_page_range exit, so the range's pageblocks stay "
       "MIGRATE_ISOLATE with no call owning them: nothing can allocate from them again (the class of "
       "page-isolation fixes on failure paths, e.g. isolation left set when a later step of "
       "start_isolate_page_range or alloc_contig_range fails). Caught by the CMA check (cma.isolate_leak: an isolated "
       "pageblock "
       "whose isolating call has returned)."},
      {Defect::ContigSkipsPcpDrain, "contig-skips-pcp-drain", "upstream",
       "alloc_contig_range isolates the range's pageblocks but does not drain the per-CPU page lists, so free "
       "frames of the range parked there stay off the buddy lists (and are handed out again, a migration target "
       "even landing back in the range): the final test finds them busy and the candidate fails -EBUSY with "
       "nothing pinned, referenced or unmovable in it (the class of isolation-vs-pcplist fixes, e.g. \"mm, "
       "page_alloc: disable pcplists during memory offline\"). Caught by the completeness check "
       "(cma.unexplained_failure) in a CMA world with per-CPU lists (cma.pcp_batch)."},
      {Defect::MergeRemovesVmaWithClose, "merge-removes-vma-with-close", "upstream",
       "vma_merge's case 7 before fc0c8f9089c2 (\"mm, mmap: fix vma_merge() case 7 with vma_ops->close\"): an "
       "mprotect that makes a whole VMA of a SysV-shm-like file match its predecessor merges it into prev, "
       "removing a VMA whose vm_ops has ->close without calling it, so the segment's attach count (shm_nattch) "
       "leaks. Caught by the file check (vma.file_attach: the attach count against the VMAs with the hooked ops) "
       "in the world's mmap_file op (workload.mix_mmap_file)."},
      {Defect::WpPageSharedSkipsDirty, "wp-page-shared-skips-dirty", "upstream",
       "The write-protect fault of a shared file mapping (wp_page_shared) makes the cache page's pte writable "
       "without marking the page dirty first (the lost-dirty class of the fault_dirty_shared_page / page_mkwrite "
       "fixes): the page is written through a mapping while the kernel believes it clean, so reclaim drops it "
       "without writeback and the write is lost. Caught by validate_mm (vma.validate_mm: a writable pte of a clean "
       "page-cache page) after that fault, in the world's mmap_file op (workload.mix_mmap_file) and its faults."},
  };
  return table;
}

std::optional<Defect> defect_from_name(std::string_view name) {
  for (const DefectInfo& info : defect_table())
    if (name == info.name) return info.defect;
  return std::nullopt;
}

const char* defect_name(Defect defect) {
  for (const DefectInfo& info : defect_table())
    if (info.defect == defect) return info.name;
  return "unknown";
}

void enable_defect(Defect defect, bool on) {
  const uint64_t bit = uint64_t{1} << static_cast<uint32_t>(defect);
  detail::g_enabled_defects = on ? (detail::g_enabled_defects | bit) : (detail::g_enabled_defects & ~bit);
}

void clear_defects() { detail::g_enabled_defects = 0; }

std::vector<Defect> enabled_defects() {
  std::vector<Defect> out;
  for (const DefectInfo& info : defect_table())
    if (defect_enabled(info.defect)) out.push_back(info.defect);
  return out;
}

DefectScope::DefectScope(std::initializer_list<Defect> defects) : saved_(detail::g_enabled_defects) {
  for (Defect defect : defects) enable_defect(defect);
}

DefectScope::~DefectScope() { detail::g_enabled_defects = saved_; }

}  // namespace mmt
