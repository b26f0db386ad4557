// Node allocation is an interface (style.md §7): every maple node the tree allocates
// names a GFP class and a call site, and whoever is installed decides whether it
// succeeds. The default is TestNodeAllocator, modelled on the kernel's userspace test
// harness (tools/testing/shared/linux.c): requests that may not sleep fail unless a
// non-sleeping budget allows them (mt_set_non_kernel), sleeping requests succeed, and
// fail-nth, an after-failure callback and a live-node count are available. The
// simulated slab (mem module) installs its own allocator so node pressure and page
// pressure are one pressure.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "mmtorture/core/gfp.h"
#include "mmtorture/core/site.h"

struct maple_node;
struct ma_state;
enum store_type : int;

namespace mmt::maple {

// The byte a freed node is filled with (the kernel's POISON_FREE) by the allocators
// that keep freed nodes for reuse: a node still linked into a tree after its free reads
// as this pattern until it is handed out again, and mt_validate names it.
inline constexpr unsigned char kNodePoisonFree = 0x6b;

// The nodes of one run's allocator (the maple jobs'): a freed node is filled with
// kNodePoisonFree and handed out again last-freed-first, as a slab's fast path, so a use
// after free reads what this run's own operations left there and fails the same way on
// every replay, in any process. Sanitized builds give freed nodes back to the heap
// instead, so ASan reports the use.
class FreedNodePool {
 public:
  FreedNodePool() = default;
  ~FreedNodePool();
  FreedNodePool(const FreedNodePool&) = delete;
  FreedNodePool& operator=(const FreedNodePool&) = delete;
  maple_node* take();
  void give(maple_node* node);
  // Nodes taken and not yet given back.
  uint64_t live() const { return live_; }

 private:
  std::vector<void*> free_;
  uint64_t live_ = 0;
};

class NodeAllocator {
 public:
  virtual ~NodeAllocator() = default;
  // Returns a 256-byte, 256-byte-aligned node, or nullptr when the allocation fails.
  // The content is unspecified: the tree initialises every node it takes.
  virtual maple_node* alloc_node(gfp_t gfp, Site site) = 0;
  virtual void free_node(maple_node* node) = 0;
  // Nodes handed out and not yet freed.
  virtual uint64_t live_nodes() const = 0;
};

// The harness allocator. Freed nodes are filled with a poison pattern and kept on a
// free list for reuse (a slab's fast path); in sanitizer builds they go straight back
// to the host heap instead, so ASan reports every use after free.
class TestNodeAllocator final : public NodeAllocator {
 public:
  ~TestNodeAllocator() override;
  maple_node* alloc_node(gfp_t gfp, Site site) override;
  void free_node(maple_node* node) override;
  uint64_t live_nodes() const override { return live_; }

  // Non-sleeping requests succeed while this budget lasts (each takes one).
  void set_non_kernel(unsigned budget) { non_kernel_ = budget; }
  unsigned non_kernel() const { return non_kernel_; }
  // Fail the nth allocation attempt from now (1 = the next one), whatever its gfp;
  // 0 turns it off. Counts every attempt, failed or not.
  void set_fail_nth(uint64_t nth) { fail_nth_ = nth; }
  // When true, non-sleeping requests never fail on their own (as in a kernel with free
  // memory); fail-nth still applies.
  void set_nowait_succeeds(bool on) { nowait_succeeds_ = on; }
  // Called on the allocation attempt after a failed one (the harness uses it to
  // simulate a writer racing with mas_nomem's unlocked allocation).
  void set_callback(std::function<void()> callback) { callback_ = std::move(callback); }

  uint64_t attempts() const { return attempts_; }
  uint64_t failures() const { return failures_; }
  void reset_counters() { attempts_ = failures_ = 0; }

 private:
  unsigned non_kernel_ = 0;
  uint64_t fail_nth_ = 0;
  bool nowait_succeeds_ = false;
  bool last_failed_ = false;
  std::function<void()> callback_;
  uint64_t live_ = 0;
  maple_node* free_list_ = nullptr;
  uint64_t attempts_ = 0;
  uint64_t failures_ = 0;
};

// The allocator in force (never null; the default is a process-wide TestNodeAllocator).
NodeAllocator& node_allocator();
TestNodeAllocator& default_test_allocator();
// Installs an allocator (nullptr restores the default). Nodes must be freed by the
// allocator that made them: swap only while no tree holds nodes.
void set_node_allocator(NodeAllocator* allocator);

// The worst-case node count the kernel's mas_prealloc_calc reserves for storing entry
// over [mas->index, mas->last] in the tree as it is now, and the store type it plans
// (wr_split_store, wr_spanning_store, ...). Does not allocate or modify anything.
unsigned long mas_prealloc_request(ma_state* mas, void* entry, store_type* type);

// Allocation sites inside the tree.
inline constexpr Site kSiteMasAllocNodes{"mas_alloc_nodes"};
inline constexpr Site kSiteMtDup{"mt_dup"};

}  // namespace mmt::maple
