/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The mmtk_ API (tree_api.h) over the kernel's maple tree: each function is one call
 * of the kernel's own API on a tree or cursor this file allocates. Compiled against
 * the kernel's include/linux/maple_tree.h and mmtorture's shim; differences between
 * the supported kernel versions are decided by the build (MMTK_MT_DUMP_FORMAT).
 */
#include <stdio.h>
#include <stdlib.h>

#include <linux/maple_tree.h>

#include "tree_api.h"

#ifndef MMTK_KERNEL_VERSION
#error "the build defines MMTK_KERNEL_VERSION from the kernel tree's Makefile"
#endif

void maple_tree_init(void);

struct mmtk_tree {
	struct maple_tree mt;
};

struct mmtk_state {
	struct ma_state mas;
};

void mmtk_maple_tree_init(void)
{
	static bool done;

	if (done)
		return;
	maple_tree_init();
	done = true;
}

const char *mmtk_kernel_version(void) { return MMTK_KERNEL_VERSION; }

struct mmtk_tree *mmtk_tree_create(unsigned int flags)
{
	struct mmtk_tree *tree = calloc(1, sizeof(*tree));

	if (!tree)
		return NULL;
	mt_init_flags(&tree->mt, (flags & MMTK_TREE_ALLOC_RANGE) ? MT_FLAGS_ALLOC_RANGE : 0);
	if (flags & MMTK_TREE_RCU)
		mt_set_in_rcu(&tree->mt);
	return tree;
}

void mmtk_tree_free(struct mmtk_tree *tree) { free(tree); }

void mmtk_mtree_lock(struct mmtk_tree *tree) { mtree_lock(&tree->mt); }
void mmtk_mtree_unlock(struct mmtk_tree *tree) { mtree_unlock(&tree->mt); }

void *mmtk_mtree_load(struct mmtk_tree *tree, unsigned long index) { return mtree_load(&tree->mt, index); }

void *mmtk_rcu_mas_find(struct mmtk_tree *tree, unsigned long index, unsigned long max, unsigned long *first,
			unsigned long *last)
{
	MA_STATE(mas, &tree->mt, index, index);
	void *entry;

	rcu_read_lock();
	entry = mas_find(&mas, max);
	*first = mas.index;
	*last = mas.last;
	rcu_read_unlock();
	return entry;
}

int mmtk_mtree_store_range(struct mmtk_tree *tree, unsigned long index, unsigned long last, void *entry,
			   unsigned int gfp)
{
	return mtree_store_range(&tree->mt, index, last, entry, gfp);
}

int mmtk_mtree_insert_range(struct mmtk_tree *tree, unsigned long index, unsigned long last, void *entry,
			    unsigned int gfp)
{
	return mtree_insert_range(&tree->mt, index, last, entry, gfp);
}

void *mmtk_mtree_erase(struct mmtk_tree *tree, unsigned long index) { return mtree_erase(&tree->mt, index); }

int mmtk_mtree_alloc_range(struct mmtk_tree *tree, unsigned long *startp, void *entry, unsigned long size,
			   unsigned long min, unsigned long max, unsigned int gfp)
{
	return mtree_alloc_range(&tree->mt, startp, entry, size, min, max, gfp);
}

int mmtk_mtree_alloc_rrange(struct mmtk_tree *tree, unsigned long *startp, void *entry, unsigned long size,
			    unsigned long min, unsigned long max, unsigned int gfp)
{
	return mtree_alloc_rrange(&tree->mt, startp, entry, size, min, max, gfp);
}

void mmtk_mtree_destroy(struct mmtk_tree *tree) { mtree_destroy(&tree->mt); }

/* MMTK_HAVE_MTREE_DUP and MMTK_HAVE_MAS_EXPECTED_ENTRIES come from the build, which
 * looks for the declarations in the tree's include/linux/maple_tree.h. */
#ifdef MMTK_HAVE_MTREE_DUP
int mmtk_have_mtree_dup(void) { return 1; }
int mmtk_mtree_dup(struct mmtk_tree *tree, struct mmtk_tree *new_tree, unsigned int gfp) {
  return mtree_dup(&tree->mt, &new_tree->mt, gfp);
}
int mmtk___mt_dup(struct mmtk_tree *tree, struct mmtk_tree *new_tree, unsigned int gfp) {
  return __mt_dup(&tree->mt, &new_tree->mt, gfp);
}
#else
int mmtk_have_mtree_dup(void) { return 0; }
int mmtk_mtree_dup(struct mmtk_tree *tree, struct mmtk_tree *new_tree, unsigned int gfp) {
  (void)tree;
  (void)new_tree;
  (void)gfp;
  return MMTK_EOPNOTSUPP;
}
int mmtk___mt_dup(struct mmtk_tree *tree, struct mmtk_tree *new_tree, unsigned int gfp) {
  return mmtk_mtree_dup(tree, new_tree, gfp);
}
#endif
unsigned int mmtk_mt_height(struct mmtk_tree *tree) { return mt_height(&tree->mt); }
int mmtk_mt_in_rcu(struct mmtk_tree *tree) { return mt_in_rcu(&tree->mt); }
void mmtk_mt_validate(struct mmtk_tree *tree) { mt_validate(&tree->mt); }

void mmtk_mt_dump(struct mmtk_tree *tree)
{
#ifdef MMTK_MT_DUMP_FORMAT
	mt_dump(&tree->mt, mt_dump_hex);
#else
	mt_dump(&tree->mt);
#endif
}

/* ---- the strict shape check (ours, not the kernel's) ---------------------------------
 * Reads nodes through the layouts include/linux/maple_tree.h declares: an encoded node
 * is the node's address with its type in bits 3-6; ranges and leaves keep their last
 * slot's offset in the metadata unless the node is full; gap-tracking nodes always do. */
#define MMTK_MIN_RANGE64 (MAPLE_RANGE64_SLOTS / 2 - 2) /* as the kernel's mt_min_slots */
#define MMTK_MIN_ARANGE64 (MAPLE_ARANGE64_SLOTS / 2 - 1)

static struct maple_node *mmtk_node(void *enode) {
  return (struct maple_node *)((unsigned long)enode & ~MAPLE_NODE_MASK);
}
static enum maple_type mmtk_type(void *enode) {
  return (enum maple_type)(((unsigned long)enode >> MAPLE_NODE_TYPE_SHIFT) & MAPLE_NODE_TYPE_MASK);
}

/* The offset of the node's last used slot (the kernel's ma_data_end rule). */
static unsigned char mmtk_data_end(struct maple_node *node, enum maple_type type, unsigned long max) {
  unsigned char last_pivot;

  if (type == maple_arange_64) return node->ma64.meta.end;
  last_pivot = MAPLE_RANGE64_SLOTS - 2;
  if (!node->mr64.pivot[last_pivot]) return node->mr64.meta.end;
  return node->mr64.pivot[last_pivot] == max ? last_pivot : last_pivot + 1;
}

struct mmtk_strict {
  unsigned int height;
  char *msg;
  unsigned long len;
};

static int mmtk_strict_node(struct mmtk_strict *check, void *enode, unsigned long min, unsigned long max,
                            unsigned int depth) {
  struct maple_node *node = mmtk_node(enode);
  enum maple_type type = mmtk_type(enode);
  bool leaf = type < maple_range_64;
  unsigned char end, i, min_end;
  unsigned long *pivots;
  void __rcu **slots;
  unsigned long child_min = min;

  if (type != maple_leaf_64 && type != maple_range_64 && type != maple_arange_64) {
    snprintf(check->msg, check->len, "node %p at depth %u [%#lx, %#lx] has type %d", (void *)node, depth, min, max,
             (int)type);
    return -1;
  }
  if (leaf != (depth + 1 == check->height)) {
    snprintf(check->msg, check->len, "%s %p at depth %u [%#lx, %#lx], but the tree's height is %u",
             leaf ? "leaf" : "internal node", (void *)node, depth, min, max, check->height);
    return -1;
  }
  end = mmtk_data_end(node, type, max);
  min_end = type == maple_arange_64 ? MMTK_MIN_ARANGE64 : MMTK_MIN_RANGE64;
  if (depth > 0 && end < min_end) {
    snprintf(check->msg, check->len,
             "%s %p at depth %u [%#lx, %#lx]%s holds %u slots; every node but the root needs %u",
             leaf ? "leaf" : "internal node", (void *)node, depth, min, max,
             max == ULONG_MAX ? " (rightmost, which mt_validate exempts)" : "", end + 1, min_end + 1);
    return -1;
  }
  if (leaf) return 0;
  pivots = type == maple_arange_64 ? node->ma64.pivot : node->mr64.pivot;
  slots = type == maple_arange_64 ? node->ma64.slot : node->mr64.slot;
  for (i = 0; i <= end; i++) {
    unsigned char pivot_count = type == maple_arange_64 ? MAPLE_ARANGE64_SLOTS - 1 : MAPLE_RANGE64_SLOTS - 1;
    unsigned long child_max = (i < pivot_count && i < end) ? pivots[i] : max;

    if (mmtk_strict_node(check, (void *)slots[i], child_min, child_max, depth + 1)) return -1;
    child_min = child_max + 1;
  }
  return 0;
}

int mmtk_mt_check_strict(struct mmtk_tree *tree, char *msg, unsigned long len) {
  struct mmtk_strict check = {mt_height(&tree->mt), msg, len};
  void *root = (void *)tree->mt.ma_root;

  msg[0] = '\0';
  if (!xa_is_node(root)) return 0;
  return mmtk_strict_node(&check, (void *)((unsigned long)root & ~2UL), 0, ULONG_MAX, 0);
}

struct mmtk_state *mmtk_state_create(struct mmtk_tree *tree, unsigned long index, unsigned long last)
{
	struct mmtk_state *state = calloc(1, sizeof(*state));
	MA_STATE(mas, &tree->mt, index, last);

	if (!state)
		return NULL;
	state->mas = mas;
	return state;
}

void mmtk_state_free(struct mmtk_state *mas) { free(mas); }
unsigned long mmtk_mas_index(const struct mmtk_state *mas) { return mas->mas.index; }
unsigned long mmtk_mas_last(const struct mmtk_state *mas) { return mas->mas.last; }
void mmtk_mas_set_range(struct mmtk_state *mas, unsigned long index, unsigned long last)
{
	mas_set_range(&mas->mas, index, last);
}
void mmtk_mas_set_index_last(struct mmtk_state *mas, unsigned long index, unsigned long last) {
  mas->mas.index = index;
  mas->mas.last = last;
}
int mmtk_mas_error(struct mmtk_state *mas) { return mas_is_err(&mas->mas) ? xa_err(mas->mas.node) : 0; }
void mmtk_mas_reset(struct mmtk_state *mas) { mas_reset(&mas->mas); }
void mmtk_mas_pause(struct mmtk_state *mas) { mas_pause(&mas->mas); }
void *mmtk_mas_walk(struct mmtk_state *mas) { return mas_walk(&mas->mas); }
void *mmtk_mas_find(struct mmtk_state *mas, unsigned long max) { return mas_find(&mas->mas, max); }
void *mmtk_mas_next(struct mmtk_state *mas, unsigned long max) { return mas_next(&mas->mas, max); }
void *mmtk_mas_find_rev(struct mmtk_state *mas, unsigned long min) { return mas_find_rev(&mas->mas, min); }
void *mmtk_mas_prev(struct mmtk_state *mas, unsigned long min) { return mas_prev(&mas->mas, min); }

int mmtk_mas_empty_area(struct mmtk_state *mas, unsigned long min, unsigned long max, unsigned long size)
{
	return mas_empty_area(&mas->mas, min, max, size);
}

int mmtk_mas_empty_area_rev(struct mmtk_state *mas, unsigned long min, unsigned long max, unsigned long size)
{
	return mas_empty_area_rev(&mas->mas, min, max, size);
}

int mmtk_mas_preallocate(struct mmtk_state *mas, void *entry, unsigned int gfp)
{
	return mas_preallocate(&mas->mas, entry, gfp);
}

void mmtk_mas_store_prealloc(struct mmtk_state *mas, void *entry) { mas_store_prealloc(&mas->mas, entry); }
int mmtk_mas_store_gfp(struct mmtk_state *mas, void *entry, unsigned int gfp)
{
	return mas_store_gfp(&mas->mas, entry, gfp);
}
void *mmtk_mas_store(struct mmtk_state *mas, void *entry) { return mas_store(&mas->mas, entry); }

#ifdef MMTK_HAVE_MAS_EXPECTED_ENTRIES
int mmtk_have_mas_expected_entries(void) { return 1; }
int mmtk_mas_expected_entries(struct mmtk_state *mas, unsigned long nr_entries) {
  return mas_expected_entries(&mas->mas, nr_entries);
}
#else
int mmtk_have_mas_expected_entries(void) { return 0; }
int mmtk_mas_expected_entries(struct mmtk_state *mas, unsigned long nr_entries) {
  (void)mas;
  (void)nr_entries;
  return MMTK_EOPNOTSUPP;
}
#endif
void *mmtk_mas_erase(struct mmtk_state *mas) { return mas_erase(&mas->mas); }
void mmtk_mas_destroy(struct mmtk_state *mas) { mas_destroy(&mas->mas); }
