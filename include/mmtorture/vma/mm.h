// The VMA manager's objects: the address space (Mm, the kernel's mm_struct) whose VMAs
// live in a maple tree, the VMAs themselves, anon_vmas (reverse mapping of anonymous
// pages) and the per-mm page table of populated pages. VmContext is the world they
// share: simulated memory, the slab caches VMAs and maple nodes come from (so node
// pressure is page pressure), and the global commit counter (Committed_AS).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "mmtorture/core/failure.h"
#include "mmtorture/maple/maple_tree.h"
#include "mmtorture/maple/node_alloc.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/mem/slab.h"
#include "mmtorture/sched/rwsem.h"
#include "mmtorture/sched/spinlock.h"
#include "mmtorture/vma/file.h"
#include "mmtorture/vma/vm_flags.h"
#include "mmtorture/vma/vma_lock.h"

namespace mmt::vma {

class Mm;
struct Vma;

// Reverse mapping for anonymous pages: every VMA that may map a page whose anon_vma
// is this one (the VMA that faulted it, and its copies made by fork, split and
// mremap). Reclaim and migration walk `vmas` under `lock`, a lock class marked as
// taken by reclaim.
//
// As in the kernel, the anon_vmas fork creates form a family with one root, and one
// lock — the root's — covers the whole family (anon_vma->root->rwsem): a walker holding
// it sees no VMA of the family change its bounds.
//
// Memory: each anon_vma holds one object of the context's "anon_vma" slab (so it costs
// memory and its allocation can fail, as anon_vma_alloc() can), counted as the kernel
// counts anon_vma->refcount: one reference while any VMA is linked to it, one per
// anon_vma of its family that names it as root. The object goes back to the slab when
// the count reaches 0. The host object itself lives as long as the context, as the
// kernel's SLAB_TYPESAFE_BY_RCU cache keeps a stale page->anon_vma readable; linking a
// VMA to an anon_vma whose object was freed is a Failure ("anon_vma.use_after_free").
//
// Fork reuses an anon_vma instead of allocating one when the parent VMA's chain holds
// one that no VMA uses as its own any more and that has fewer than two children (the
// kernel's anon_vma_clone rule), so a process that forks and exits generation after
// generation keeps a chain of bounded length instead of one anon_vma per generation.
// `num_children` counts the anon_vmas forked from this one that still have VMAs (a
// root counts itself), as the kernel's anon_vma->num_children.
struct AnonVma {
  AnonVma(uint64_t anon_id, AnonVma* family_parent);
  uint64_t id;
  AnonVma* root;           // itself, or the root of the anon_vma it was forked from
  AnonVma* parent;         // itself for a root, else the anon_vma it was forked from
  unsigned num_children = 0;
  sched::RwSem own_lock;   // used by the family when this is the root
  sched::RwSem& lock;      // the root's lock
  // Every VMA linked to it. An unlink moves the last entry into the leaver's place, so
  // the order is deterministic (it follows the links and unlinks) and each VMA can keep
  // its own position (AnonVmaChain::pos).
  std::vector<Vma*> vmas;
  void* slab_object = nullptr;  // its anon_vma slab object; null once freed
  unsigned refcount = 0;        // see above
  bool linked_ref = false;      // the reference held while VMAs are linked
};

// One link of a VMA's anon_vma chain (the kernel's struct anon_vma_chain): the anon_vma,
// and the VMA's index in anon_vma->vmas.
struct AnonVmaChain {
  AnonVma* anon_vma = nullptr;
  uint32_t pos = 0;
};

// One mapping [vm_start, vm_end). Anonymous: vm_pgoff is the linear page index of
// vm_start (the kernel's rule for anonymous memory). File-backed (vm_file set): vm_pgoff
// is the file offset, in pages, that vm_start maps, and vm_ops the table the file's mmap
// hook installed. Merges require contiguous pgoffs either way, as the kernel does; a
// private file mapping also gets an anon_vma for the pages its write faults copy.
struct Vma {
  unsigned long vm_start = 0;
  unsigned long vm_end = 0;
  unsigned long vm_flags = 0;
  unsigned long vm_pgoff = 0;
  File* vm_file = nullptr;
  const VmOperations* vm_ops = nullptr;
  AnonVma* anon_vma = nullptr;
  // Every anon_vma this VMA is linked into, oldest first, each with where this VMA sits
  // in that anon_vma's list: unlinking and checking a link cost O(1) in a list that may
  // hold every VMA of a fork-heavy family.
  std::vector<AnonVmaChain> anon_vma_chain;
  // Its per-VMA lock when per_vma_locks is on (made and freed with it by the context:
  // the lock outlives the VMA's memory until its RCU free), else null. A pointer as in
  // kernels 6.4 to 6.14, so the per-op checks reach it without a lookup.
  VmaLock* vm_lock = nullptr;
  // Where this VMA sits in its file's i_mmap (with vm_file): the link check is one
  // comparison and an unlink moves the list's last entry into the gap, as for anon_vmas.
  uint32_t i_mmap_pos = 0;
  Mm* vm_mm = nullptr;
  uint64_t id = 0;  // creation order, for dumps and trace hashing

  unsigned long pages() const { return (vm_end - vm_start) >> kPageShift; }
};

struct Pte {
  mem::Page* page = nullptr;
  bool writable = false;
};

struct VmConfig {
  unsigned long task_size = 0x800000000000UL;  // 128 TiB, as x86-64
  unsigned long mmap_min_addr = 0x10000;
  unsigned long mmap_base = 0x7f0000000000UL;  // top-down placement starts below this
  unsigned long brk_start = 0x10000000UL;
  unsigned long max_map_count = 65530;
  // Commit limit in pages (vm.overcommit_memory=2 style); UINT64_MAX = never refuse.
  uint64_t commit_limit_pages = UINT64_MAX;
  // stack_guard_gap (the kernel's boot parameter, 256 pages by default): a VM_GROWSDOWN
  // VMA does not grow to within this many bytes of an accessible mapping below it.
  unsigned long stack_guard_gap = 256UL << kPageShift;
  // RLIMIT_STACK (the kernel's default _STK_LIM, 8 MiB): acct_stack_growth refuses to
  // grow a VM_GROWSDOWN VMA beyond it with -ENOMEM, so a fault far below a stack does
  // not pull the stack down over the address space.
  unsigned long stack_rlimit = 8UL << 20;
  // Per-VMA locks and lock-free fault lookups (vma_lock.h); off: faults take mmap_lock
  // and VMAs are freed at once, as before they existed.
  bool per_vma_locks = false;
  // Simulated files (file.h) mappable with vm_mmap_file; even-numbered ones (0, 2, ...)
  // are SysV-shm-like (open/close hooks), odd ones plain. Each is file_pages long.
  unsigned files = 2;
  unsigned long file_pages = 64;
};

// The world VMAs live in. Installs a maple node allocator backed by its slab for its
// lifetime (the maple tree allocates through one process-wide seam).
class VmContext final : public mem::RmapOps {
 public:
  VmContext(mem::Memory& memory, VmConfig config = {});
  ~VmContext() override;
  VmContext(const VmContext&) = delete;
  VmContext& operator=(const VmContext&) = delete;

  mem::Memory& memory() { return memory_; }
  const VmConfig& config() const { return config_; }
  mem::KmemCache& vma_cache() { return vma_cache_; }
  mem::KmemCache& maple_node_cache() { return maple_node_cache_; }
  mem::KmemCache& anon_vma_cache() { return anon_vma_cache_; }

  // Committed_AS: pages charged by VM_ACCOUNT mappings.
  uint64_t committed_pages() const { return committed_pages_; }
  // security_vm_enough_memory: charges `pages` or returns -ENOMEM.
  int vm_acct_memory(uint64_t pages);
  void vm_unacct_memory(uint64_t pages);
  // vm_acct_memory without the limit check (a charge that must not fail).
  void vm_acct_memory_force(uint64_t pages) { committed_pages_ += pages; }

  // A new anon_vma (GFP_KERNEL from the anon_vma slab), or null when that allocation
  // fails; with `family` (fork), it joins that anon_vma's family as its child. The
  // caller links a VMA to it at once (anon_vma_link), which takes the linked reference.
  AnonVma* anon_vma_alloc(AnonVma* family = nullptr);
  // Drops one reference (put_anon_vma); at 0 the slab object is freed and the root's
  // reference for this member is dropped in turn.
  void put_anon_vma(AnonVma* anon_vma);
  uint64_t next_vma_id() { return ++vma_ids_; }
  uint64_t next_mm_id() { return ++mm_ids_; }
  uint64_t anon_vmas() const { return anon_vmas_.size(); }

  // The context's files (VmConfig::files of them), by index; null past the end.
  File* file(size_t index) { return index < files_.size() ? files_[index].get() : nullptr; }
  size_t file_count() const { return files_.size(); }

  // A failed run's world: its address spaces are abandoned, never torn down through
  // the model (their locks and structures may be half-changed). ~Mm then releases host
  // memory only; the slab pages go back when the caches are destroyed.
  void abandon() { abandoned_ = true; }
  bool abandoned() const { return abandoned_; }
  // The first failure raised while a destructor tore an address space down (a
  // destructor cannot throw it): the world's teardown check reports it.
  const std::optional<Failure>& destructor_failure() const { return destructor_failure_; }
  void note_destructor_failure(const Failure& failure) {
    if (!destructor_failure_) destructor_failure_ = failure;
  }

  // Per-VMA locks (vma_lock.h): made with a VMA when per_vma_locks is on (vma->vm_lock
  // points to it), destroyed when the VMA's RCU free returns it to the slab. The context
  // owns them; keyed by the VMA's address, never read through it.
  VmaLock& add_vma_lock(Vma* vma);
  void remove_vma_lock(const Vma* vma) { vma_locks_.erase(vma); }
  size_t vma_lock_count() const { return vma_locks_.size(); }
  VmaLockStats& vma_lock_stats() { return vma_lock_stats_; }
  const VmaLockStats& vma_lock_stats() const { return vma_lock_stats_; }

  // mem::RmapOps: unmap every pte of `page` (reclaim and migration): through its
  // anon_vma, or for a page-cache page through its file's i_mmap.
  bool try_to_unmap(mem::Page* page) override;
  // mem::RmapOps: drop an unmapped, clean page-cache page from its cache
  // (filemap_remove_page).
  bool remove_mapping(mem::Page* page) override;
  // mem::RmapOps: move every pte of `from` to `to` (page migration; migrate.cpp).
  int try_to_migrate(mem::Page* from, mem::Page* to) override;

 private:
  class SlabNodeAllocator;
  bool try_to_unmap_file(mem::Page* page);

  mem::Memory& memory_;
  VmConfig config_;
  mem::KmemCache vma_cache_;
  mem::KmemCache maple_node_cache_;
  mem::KmemCache anon_vma_cache_;
  std::unique_ptr<SlabNodeAllocator> node_allocator_;
  std::vector<std::unique_ptr<AnonVma>> anon_vmas_;  // live for the context's life
  std::vector<std::unique_ptr<File>> files_;         // by id, live for the context's life
  // VMA -> its lock; looked up, never iterated (pointer order is no run's order).
  std::unordered_map<const Vma*, std::unique_ptr<VmaLock>> vma_locks_;
  VmaLockStats vma_lock_stats_;
  uint64_t committed_pages_ = 0;
  bool abandoned_ = false;
  std::optional<Failure> destructor_failure_;
  uint64_t vma_ids_ = 0;
  uint64_t mm_ids_ = 0;
  uint64_t anon_ids_ = 0;
};

// An address space (mm_struct). The VMA tree is an allocation-range maple tree in RCU
// mode whose lock is the external mmap_lock, as in the kernel (MM_MT_FLAGS).
class Mm {
 public:
  explicit Mm(VmContext& context);
  // Tears the address space down with exit_mmap() unless it has been, except after the
  // run failed (sched::run_failed(), or the context is abandoned): then nothing of the
  // kernel model runs over its half-done state and only host memory is released.
  // Never throws: a failure of that exit_mmap goes to the context (destructor_failure).
  ~Mm();
  Mm(const Mm&) = delete;
  Mm& operator=(const Mm&) = delete;

  VmContext& context() { return *context_; }
  uint64_t id() const { return id_; }

  maple_tree mm_mt{};
  sched::RwSem mmap_lock;
  // Per-VMA locks: advanced by every mmap_write_unlock (vma_end_write_all); a VMA whose
  // vm_lock_seq equals it is write-locked.
  uint64_t mm_lock_seq = 0;
  // The first per-VMA lock rule an mmap write section broke, found at its unlock (which
  // cannot throw): validate_mm reports it.
  std::optional<Failure> vma_lock_violation;
  sched::SpinLock page_table_lock;
  unsigned long map_count = 0;
  unsigned long total_vm = 0;  // pages mapped by VMAs
  unsigned long rss = 0;       // populated anonymous pages
  unsigned long start_brk = 0;
  unsigned long brk = 0;
  std::map<unsigned long, Pte> ptes;  // page number -> present pte
  // page number -> swap entry of a page reclaim wrote to swap (a non-present pte; its
  // count in MM_SWAPENTS). A page number is in at most one of ptes and swap_ptes.
  std::map<unsigned long, mem::SwapEntry> swap_ptes;
  bool exited = false;
  // A fork child whose break moved between dup_mm's copy of it and dup_mmap taking the
  // parent's mmap_lock (the kernel copies the mm_struct before locking, so a brk racing
  // a fork of the same process can leave the child's break off its heap): the world's
  // heap check (world.brk) leaves such an mm, and its children, alone.
  bool brk_raced_fork = false;

 private:
  VmContext* context_;
  uint64_t id_;
};

// The VMA containing addr, or null (find_vma_intersection(addr, addr + 1)).
Vma* vma_lookup(Mm& mm, unsigned long addr);

// The first broken file invariant of the context, over its files: refcount = 1 + the
// VMAs on i_mmap, every VMA on i_mmap live and naming the file, attach = the VMAs on it
// with hooked ops (check vma.file_attach for the last, vma.file otherwise).
std::optional<Failure> validate_files(VmContext& context);

// validate_mm: the tree is valid; every VMA's range equals its tree slot; VMAs are
// ordered and non-overlapping; their count is map_count; total_vm and rss add up;
// flags are consistent (VM_ACCOUNT only on private mappings); every VMA is linked into
// its anon_vma; a file VMA is on its file's i_mmap with the file's vm_ops; every pte lies
// inside a VMA, is writable only in a VM_WRITE mapping and maps a page whose anon_vma is
// on its VMA's chain, or the VMA's file's cache page at the VMA's pgoff (always so in a
// VM_SHARED file mapping); every swap pte lies inside a VMA,
// shares no page number with a present pte and names a slot in use. Returns the first
// violation.
std::optional<Failure> validate_mm(Mm& mm);

// The pages of the mm's VM_ACCOUNT mappings: its share of Committed_AS (the
// committed_accounting checks compare their sum with MmContext::committed_pages).
uint64_t vm_account_pages(Mm& mm);

// What a context still holds once every mm of it has exited: the first of its
// vm_area_structs, anon_vmas and maple nodes still allocated, pages on the LRU, swap
// slots in use, and files still mapped (a reference, an attach or an i_mmap entry beyond
// the file's own), as one line ("3 anon_vmas still allocated"), or nothing. The world's
// teardown leak check and the test worlds' teardown read this one list.
std::optional<std::string> vm_teardown_leak(VmContext& context);

// The mm as text: one line per VMA ("[start-end) rw-p pgoff anon N id N pages P").
std::string dump_mm(Mm& mm);

// The mm's VMA tree as a Graphviz cluster `cluster_<name>` captioned `caption`, each
// VMA slot labelled with its id and flags ("vma#7 rw-p"); the slot ranges are the VMAs'
// (maple/validate.h mt_dump_dot_subgraph). Reads the tree without locking: for
// failure snapshots, where nothing else runs. When `subject` (the failure's) names this
// mm, the cluster is drawn as the failing one, with the node or VMA it names
// highlighted (DotTreeOptions::failing, subject); `whole` draws every node of a large
// tree instead of the path to that node.
std::string dump_mm_dot(Mm& mm, const std::string& name, const std::string& caption,
                        const FailureSubject& subject = {}, bool whole = false);

}  // namespace mmt::vma
