// Maple node allocation: the NodeAllocator seam and its harness implementation, the
// per-cursor reservation (mas_alloc_nodes / mas_pop_node / mas_destroy), mas_nomem,
// and node freeing (immediate, or deferred through RCU in RCU mode).
#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <new>

#include <fmt/format.h>

#include "internal.h"
#include "mmtorture/core/defects.h"
#include "mmtorture/core/failure.h"

namespace mmt::maple {

namespace {
constexpr unsigned char kFreedPoison = kNodePoisonFree;

TestNodeAllocator default_allocator;
NodeAllocator* current_allocator = &default_allocator;
}  // namespace

maple_node* TestNodeAllocator::alloc_node(gfp_t gfp, Site) {
  ++attempts_;
  if (last_failed_ && callback_) {
    last_failed_ = false;
    callback_();
  }
  bool fail = false;
  if (fail_nth_ != 0 && --fail_nth_ == 0) fail = true;
  if (!fail && !gfp::allows_blocking(gfp) && !nowait_succeeds_) {
    if (non_kernel_ == 0) fail = true;
    else --non_kernel_;
  }
  if (fail) {
    ++failures_;
    // As the kernel harness's exec_callback: armed only while a callback is installed,
    // so a failure from before set_callback() cannot fire it later (under a lock).
    last_failed_ = static_cast<bool>(callback_);
    return nullptr;
  }
  ++live_;
  if (maple_node* node = free_list_) {
    free_list_ = *reinterpret_cast<maple_node**>(node);
    return node;
  }
  return static_cast<maple_node*>(::operator new(sizeof(maple_node), std::align_val_t{alignof(maple_node)}));
}

TestNodeAllocator::~TestNodeAllocator() {
  while (maple_node* node = free_list_) {
    free_list_ = *reinterpret_cast<maple_node**>(node);
    ::operator delete(static_cast<void*>(node), std::align_val_t{alignof(maple_node)});
  }
}

void TestNodeAllocator::free_node(maple_node* node) {
  if (live_ == 0) raise_failure("maple.node_accounting", "kmem_cache_free", "free of a maple node with none live");
  --live_;
  std::memset(static_cast<void*>(node), kFreedPoison, sizeof(maple_node));
#ifdef MMT_SANITIZED
  ::operator delete(static_cast<void*>(node), std::align_val_t{alignof(maple_node)});
#else
  *reinterpret_cast<maple_node**>(node) = free_list_;
  free_list_ = node;
#endif
}

FreedNodePool::~FreedNodePool() {
  for (void* node : free_) ::operator delete (node, std::align_val_t{alignof(maple_node)});
}

maple_node* FreedNodePool::take() {
  ++live_;
  if (free_.empty())
    return static_cast<maple_node*>(::operator new (sizeof(maple_node), std::align_val_t{alignof(maple_node)}));
  void* node = free_.back();
  free_.pop_back();
  return static_cast<maple_node*>(node);
}

void FreedNodePool::give(maple_node* node) {
  --live_;
#ifdef MMT_SANITIZED
  ::operator delete (static_cast<void*>(node), std::align_val_t{alignof(maple_node)});
#else
  std::memset(static_cast<void*>(node), kNodePoisonFree, sizeof(maple_node));
  free_.push_back(node);
#endif
}

NodeAllocator& node_allocator() { return *current_allocator; }
TestNodeAllocator& default_test_allocator() { return default_allocator; }
void set_node_allocator(NodeAllocator* allocator) {
  current_allocator = allocator ? allocator : &default_allocator;
}

maple_node* mas_pop_node(ma_state* mas) {
  maple_node* node = mas->alloc;
  if (!node) return nullptr;
  mas->alloc = reinterpret_cast<maple_node*>(node->parent);
  --mas->alloc_count;
  std::memset(static_cast<void*>(node), 0, sizeof(maple_node));
  return node;
}

namespace {
void mas_push_node(ma_state* mas, maple_node* node) {
  node->parent = reinterpret_cast<maple_pnode*>(mas->alloc);
  mas->alloc = node;
  ++mas->alloc_count;
}

void rcu_free_node(mmt::RcuHead* head) {
  static_assert(offsetof(maple_dead, rcu) == 8, "rcu head sits after the parent pointer");
  auto* node = reinterpret_cast<maple_node*>(reinterpret_cast<char*>(head) - offsetof(maple_dead, rcu));
  node_allocator().free_node(node);
}
}  // namespace

// Tops the reservation up to node_request with gfp. A failure leaves -ENOMEM in the
// state and keeps what was obtained (the next mas_nomem asks only for the rest).
void mas_alloc_nodes(ma_state* mas, gfp_t gfp) {
  while (mas->alloc_count < mas->node_request) {
    maple_node* node = node_allocator().alloc_node(gfp, kSiteMasAllocNodes);
    if (!node) {
      mas_set_err(mas, -ENOMEM);
      return;
    }
    mas_push_node(mas, node);
  }
}

// Asks for `count` nodes in total with GFP_NOWAIT | __GFP_NOWARN, as the kernel's
// store paths do under the tree lock.
void mas_node_count_gfp(ma_state* mas, unsigned long count, gfp_t gfp) {
  if (mas->alloc_count >= count) return;
  mas->node_request = count;
  mas_alloc_nodes(mas, gfp);
}

void mt_free_node(maple_tree* mt, maple_node* node) {
  ma_set_node_dead(node);
  // CANARY rcu-free-without-grace-period: readers may still be inside the node.
  if (mt_in_rcu(mt) && !mmt::defect_enabled(mmt::Defect::RcuFreeWithoutGracePeriod)) {
    mmt::rcu_backend().call_rcu(&node->dead.rcu, rcu_free_node);
  } else {
    node_allocator().free_node(node);
  }
}

void mt_destroy_walk(maple_tree* mt, maple_enode* enode, unsigned long max) {
  maple_node* node = mte_to_node(enode);
  const maple_type type = mte_node_type(enode);
  if (!ma_is_leaf(type)) {
    const unsigned end = ma_data_end(node, type, max);
    void** slots = ma_slots(node, type);
    for (unsigned i = 0; i <= end; ++i)
      mt_destroy_walk(mt, static_cast<maple_enode*>(slots[i]), ma_slot_max(node, type, i, max));
  }
  mt_free_node(mt, node);
}

}  // namespace mmt::maple

using namespace mmt::maple;

unsigned long mas_allocated(const ma_state* mas) { return mas->alloc_count; }

void mas_destroy(ma_state* mas) {
  while (mas->alloc) {
    maple_node* node = mas->alloc;
    mas->alloc = reinterpret_cast<maple_node*>(node->parent);
    node_allocator().free_node(node);
  }
  mas->alloc_count = 0;
  mas->node_request = 0;
  mas->mas_flags &= ~(MA_STATE_PREALLOC | MA_STATE_BULK);
  mas->stores_in_prealloc = 0;
}

int mas_expected_entries(ma_state* mas, unsigned long nr_entries) {
  // The kernel's estimate: each entry may come with a gap before it and one trailing
  // gap (2n + 1 ranges, n when that overflows), leaves filled to two slots short of
  // full (room to grow), one parent per eight (allocation trees) or fourteen children,
  // and three more for a split and its new parents.
  const unsigned long internal_capacity = mt_is_alloc(mas->tree) ? MAPLE_ARANGE64_SLOTS - 2 : MAPLE_RANGE64_SLOTS - 2;
  const unsigned long ranges = std::max(nr_entries, nr_entries * 2 + 1);
  unsigned long nodes = (ranges + MAPLE_RANGE64_SLOTS - 3) / (MAPLE_RANGE64_SLOTS - 2);
  nodes += (nodes + internal_capacity - 1) / internal_capacity;
  mas->mas_flags |= MA_STATE_BULK;
  mas_node_count_gfp(mas, nodes + 3, mmt::gfp::kKernel);
  if (mas->status != ma_error) return 0;
  const int error = mas_error(mas);
  mas_destroy(mas);
  mas->status = ma_start;
  mas->node = nullptr;
  return error;
}

bool mas_nomem(ma_state* mas, mmt::gfp_t gfp) {
  if (mas->status != ma_error || xa_err(mas->node) != -ENOMEM) return false;
  const bool drop_lock = mmt::gfp::allows_blocking(gfp) && !mt_external_lock(mas->tree);
  if (drop_lock) mtree_unlock(mas->tree);  // a yield point: another writer may get in here
  mas->status = ma_start;  // the error is consumed; allocation may set it again
  mas_alloc_nodes(mas, gfp);
  if (drop_lock) mtree_lock(mas->tree);
  // Unlike the kernel (which retries after a partial allocation) a retry is asked for
  // only when the whole request was met: with injected GFP_KERNEL failures a partial
  // success would otherwise retry forever.
  if (mas->status == ma_error) return false;
  mas->status = ma_start;
  mas->node = nullptr;
  return true;
}
