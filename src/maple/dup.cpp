// Whole-tree operations: duplication (mtree_dup / __mt_dup, the fork path) and
// destruction. Duplication allocates every node before copying anything, so -ENOMEM
// leaves the new tree empty and nothing leaked.
#include <cerrno>
#include <vector>

#include "internal.h"
#include "mmtorture/maple/validate.h"

using namespace mmt::maple;

namespace {

// Copies the subtree under enode into nodes taken from `pool`; returns the new enode.
maple_enode* copy_subtree(maple_enode* enode, unsigned long max, std::vector<maple_node*>& pool) {
  maple_node* node = mte_to_node(enode);
  const maple_type type = mte_node_type(enode);
  maple_node* copy = pool.back();
  pool.pop_back();
  std::memcpy(static_cast<void*>(copy), node, sizeof(maple_node));
  maple_enode* copy_enode = mt_mk_node(copy, type);
  if (!ma_is_leaf(type)) {
    const unsigned end = ma_data_end(node, type, max);
    void** slots = ma_slots(copy, type);
    for (unsigned i = 0; i <= end; ++i) {
      maple_enode* child = copy_subtree(static_cast<maple_enode*>(slots[i]), ma_slot_max(node, type, i, max), pool);
      slots[i] = child;
      mte_set_parent(child, copy, i);
    }
  }
  return copy_enode;
}

}  // namespace

// As 6.12's mas_dup_build: the two trees must have the same attributes (every flag but
// the height: gap tracking, RCU mode, lock type) and the target must be empty, or
// -EINVAL leaves the target untouched. A copy takes the source's flags whole, height
// included, so both trees read the same.
int __mt_dup(maple_tree* mt, maple_tree* new_mt, mmt::gfp_t gfp) {
  if (mt_attr(mt) != mt_attr(new_mt) || new_mt->ma_root) return -EINVAL;
  maple_enode* root = mt_root_enode(mt);
  if (!root) {
    new_mt->ma_root = mt->ma_root;
    new_mt->ma_flags = mt->ma_flags;
    return 0;
  }
  const unsigned long needed = count_tree_nodes(mt);
  std::vector<maple_node*> pool;
  pool.reserve(needed);
  for (unsigned long i = 0; i < needed; ++i) {
    maple_node* node = node_allocator().alloc_node(gfp, kSiteMtDup);
    if (!node) {
      for (maple_node* n : pool) node_allocator().free_node(n);
      return -ENOMEM;
    }
    pool.push_back(node);
  }
  maple_enode* copy = copy_subtree(root, ULONG_MAX, pool);
  new_mt->ma_flags = mt->ma_flags;
  mte_set_root_parent(copy, new_mt);
  new_mt->ma_root = mte_mk_root(copy);
  return 0;
}

int mtree_dup(maple_tree* mt, maple_tree* new_mt, mmt::gfp_t gfp) {
  mtree_lock(new_mt);
  mtree_lock(mt);
  const int ret = __mt_dup(mt, new_mt, gfp);
  mtree_unlock(mt);
  mtree_unlock(new_mt);
  return ret;
}

void __mt_destroy(maple_tree* mt) {
  maple_enode* root = mt_root_enode(mt);
  if (root) mt_destroy_walk(mt, root, ULONG_MAX);
  mt->ma_root = nullptr;
  mt_set_height(mt, 0);
}

void mtree_destroy(maple_tree* mt) {
  mtree_lock(mt);
  __mt_destroy(mt);
  mtree_unlock(mt);
}
