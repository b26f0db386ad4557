/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The C boundary between the kernel's lib/maple_tree.c (compiled as C with the shim)
 * and mmtorture's C++: a small mmtk_-prefixed API over opaque trees and cursors. Only
 * these names stay global in the kernel backend's library; every kernel symbol is made
 * local after the link, so the kernel's mtree_load and the model's never meet.
 * Implemented in tree_api.c; used by kernel_tree.cpp. Plain values and pointers only.
 */
#ifndef MMTK_TREE_API_H
#define MMTK_TREE_API_H

#ifdef __cplusplus
extern "C" {
#endif

struct mmtk_tree;
struct mmtk_state;

/* Flags for mmtk_tree_create (the kernel's MT_FLAGS_ALLOC_RANGE, and RCU mode). */
#define MMTK_TREE_ALLOC_RANGE 1u
#define MMTK_TREE_RCU 2u

/* maple_tree_init(): creates the node cache. Idempotent. */
void mmtk_maple_tree_init(void);
/* The version of the kernel tree compiled in (e.g. "6.12.118"). */
const char *mmtk_kernel_version(void);

struct mmtk_tree *mmtk_tree_create(unsigned int flags);
/* Frees the tree itself; its nodes must have been destroyed (mmtk_mtree_destroy). */
void mmtk_tree_free(struct mmtk_tree *tree);

void mmtk_mtree_lock(struct mmtk_tree *tree);
void mmtk_mtree_unlock(struct mmtk_tree *tree);
void *mmtk_mtree_load(struct mmtk_tree *tree, unsigned long index);
/* A lock-free lookup: rcu_read_lock, mas_find from index up to max, rcu_read_unlock;
 * the entry found and its range (*first, *last). */
void *mmtk_rcu_mas_find(struct mmtk_tree *tree, unsigned long index, unsigned long max, unsigned long *first,
			unsigned long *last);
int mmtk_mtree_store_range(struct mmtk_tree *tree, unsigned long index, unsigned long last, void *entry,
			   unsigned int gfp);
int mmtk_mtree_insert_range(struct mmtk_tree *tree, unsigned long index, unsigned long last, void *entry,
			    unsigned int gfp);
void *mmtk_mtree_erase(struct mmtk_tree *tree, unsigned long index);
int mmtk_mtree_alloc_range(struct mmtk_tree *tree, unsigned long *startp, void *entry, unsigned long size,
			   unsigned long min, unsigned long max, unsigned int gfp);
int mmtk_mtree_alloc_rrange(struct mmtk_tree *tree, unsigned long *startp, void *entry, unsigned long size,
			    unsigned long min, unsigned long max, unsigned int gfp);
void mmtk_mtree_destroy(struct mmtk_tree *tree);
unsigned int mmtk_mt_height(struct mmtk_tree *tree);
int mmtk_mt_in_rcu(struct mmtk_tree *tree);
/* The kernel's own checks and dump (CONFIG_DEBUG_MAPLE_TREE). */
void mmtk_mt_validate(struct mmtk_tree *tree);
void mmtk_mt_dump(struct mmtk_tree *tree);

/* A cursor (struct ma_state) over tree covering [index, last]. */
struct mmtk_state *mmtk_state_create(struct mmtk_tree *tree, unsigned long index, unsigned long last);
void mmtk_state_free(struct mmtk_state *mas);
unsigned long mmtk_mas_index(const struct mmtk_state *mas);
unsigned long mmtk_mas_last(const struct mmtk_state *mas);
void mmtk_mas_set_range(struct mmtk_state *mas, unsigned long index, unsigned long last);
void mmtk_mas_reset(struct mmtk_state *mas);
void mmtk_mas_pause(struct mmtk_state *mas);
void *mmtk_mas_walk(struct mmtk_state *mas);
void *mmtk_mas_find(struct mmtk_state *mas, unsigned long max);
void *mmtk_mas_next(struct mmtk_state *mas, unsigned long max);
void *mmtk_mas_find_rev(struct mmtk_state *mas, unsigned long min);
void *mmtk_mas_prev(struct mmtk_state *mas, unsigned long min);
int mmtk_mas_empty_area(struct mmtk_state *mas, unsigned long min, unsigned long max, unsigned long size);
int mmtk_mas_empty_area_rev(struct mmtk_state *mas, unsigned long min, unsigned long max, unsigned long size);
int mmtk_mas_preallocate(struct mmtk_state *mas, void *entry, unsigned int gfp);
void mmtk_mas_store_prealloc(struct mmtk_state *mas, void *entry);
int mmtk_mas_store_gfp(struct mmtk_state *mas, void *entry, unsigned int gfp);
void *mmtk_mas_erase(struct mmtk_state *mas);
void mmtk_mas_destroy(struct mmtk_state *mas);

#ifdef __cplusplus
}
#endif

#endif /* MMTK_TREE_API_H */
