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

/* What an entry point this kernel does not have returns (-EOPNOTSUPP). */
#define MMTK_EOPNOTSUPP (-95)

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
/* Whether the compiled kernel has mtree_dup (6.8 and later) and mas_expected_entries
 * (6.1 and 6.12 both have it): 1 or 0. */
int mmtk_have_mtree_dup(void);
int mmtk_have_mas_expected_entries(void);
/* mtree_dup(tree, new_tree, gfp); MMTK_EOPNOTSUPP where the kernel has no mtree_dup. */
int mmtk_mtree_dup(struct mmtk_tree *tree, struct mmtk_tree *new_tree, unsigned int gfp);
/* __mt_dup: the same without taking the trees' locks (the caller excludes writers by
 * its own means, as fork under mmap_lock); MMTK_EOPNOTSUPP where there is none. */
int mmtk___mt_dup(struct mmtk_tree *tree, struct mmtk_tree *new_tree, unsigned int gfp);
unsigned int mmtk_mt_height(struct mmtk_tree *tree);
int mmtk_mt_in_rcu(struct mmtk_tree *tree);
/* The kernel's own checks and dump (CONFIG_DEBUG_MAPLE_TREE). */
void mmtk_mt_validate(struct mmtk_tree *tree);
void mmtk_mt_dump(struct mmtk_tree *tree);
/* mmtorture's own shape check of the kernel's tree, stricter than mt_validate: every
 * node but the root holds at least the minimum number of slots (the rightmost nodes
 * too, which mt_validate exempts), and every leaf is at depth mt_height - 1. 0 when
 * the tree passes; else -1 with what broke written to msg (NUL-terminated). */
int mmtk_mt_check_strict(struct mmtk_tree *tree, char *msg, unsigned long len);

/* A cursor (struct ma_state) over tree covering [index, last]. */
struct mmtk_state *mmtk_state_create(struct mmtk_tree *tree, unsigned long index, unsigned long last);
void mmtk_state_free(struct mmtk_state *mas);
unsigned long mmtk_mas_index(const struct mmtk_state *mas);
unsigned long mmtk_mas_last(const struct mmtk_state *mas);
void mmtk_mas_set_range(struct mmtk_state *mas, unsigned long index, unsigned long last);
/* mas->index = index; mas->last = last: the fields only, the state (paused, active,
 * ...) kept, as kernel callers set a range before mas_store (dup_mmap in 6.1). */
void mmtk_mas_set_index_last(struct mmtk_state *mas, unsigned long index, unsigned long last);
/* The error the state holds (xa_err of its node when mas_is_err), else 0. */
int mmtk_mas_error(struct mmtk_state *mas);
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
/* mas_store: the entry that was at mas->index; errors stay in the state (mmtk_mas_error). */
void *mmtk_mas_store(struct mmtk_state *mas, void *entry);
/* mas_expected_entries; MMTK_EOPNOTSUPP where the kernel has none. */
int mmtk_mas_expected_entries(struct mmtk_state *mas, unsigned long nr_entries);
void *mmtk_mas_erase(struct mmtk_state *mas);
void mmtk_mas_destroy(struct mmtk_state *mas);

/* Test-only (internal_probe.c, compiled inside the kernel's maple_tree.c): two node
 * requests on one fresh maple state, mas_node_count_gfp(first) then (second), as the
 * tree makes them inside a write; the second's answer, 0 or -ENOMEM. */
int mmtk_probe_two_node_requests(int first, int second, unsigned int gfp);

#ifdef __cplusplus
}
#endif

#endif /* MMTK_TREE_API_H */
