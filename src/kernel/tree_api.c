/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The mmtk_ API (tree_api.h) over the kernel's maple tree: each function is one call
 * of the kernel's own API on a tree or cursor this file allocates. Compiled against
 * the kernel's include/linux/maple_tree.h and mmtorture's shim; differences between
 * the supported kernel versions are decided by the build (MMTK_MT_DUMP_FORMAT).
 */
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
void *mmtk_mas_erase(struct mmtk_state *mas) { return mas_erase(&mas->mas); }
void mmtk_mas_destroy(struct mmtk_state *mas) { mas_destroy(&mas->mas); }
