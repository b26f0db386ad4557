/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The shim's runtime interface: the types the kernel code shares with mmtorture and
 * the functions mmtk_shim.h's macros call, implemented in C++ by src/kernel/runtime.cpp.
 * Plain C, macro-free apart from the GFP bits, so the C++ side can include it.
 */
#ifndef MMTK_RUNTIME_H
#define MMTK_RUNTIME_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef unsigned int gfp_t;
typedef unsigned int slab_flags_t;

/* Same layout as mmt::RcuHead, so a kernel rcu_head is handed to the backend as is. */
struct rcu_head {
	struct rcu_head *next;
	void (*func)(struct rcu_head *head);
};

/* impl is the scheduler SpinLock; epoch names the environment that made it, so a lock
 * initialised statically or left over from an earlier run gets a fresh SpinLock. */
typedef struct {
	void *impl;
	unsigned long epoch;
} spinlock_t;

struct kmem_cache;

/* ---- GFP (the bit values of mmt::gfp; runtime.cpp asserts they agree) ----------- */
#define __GFP_MOVABLE 0x08u
#define __GFP_HIGH 0x20u
#define __GFP_IO 0x40u
#define __GFP_FS 0x80u
#define __GFP_ZERO 0x100u
#define __GFP_DIRECT_RECLAIM 0x400u
#define __GFP_KSWAPD_RECLAIM 0x800u
#define __GFP_NOWARN 0x2000u
#define __GFP_NOFAIL 0x8000u
#define __GFP_RECLAIM (__GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM)
#define GFP_KERNEL (__GFP_RECLAIM | __GFP_IO | __GFP_FS)
#define GFP_NOWAIT (__GFP_KSWAPD_RECLAIM | __GFP_NOWARN)
#define GFP_ATOMIC (__GFP_HIGH | __GFP_KSWAPD_RECLAIM)
void mmtk_shim_printk(const char *fmt, ...) __attribute__((__format__(__printf__, 1, 2)));
void mmtk_shim_bug(const char *file, int line, const char *func, const char *cond) __attribute__((__noreturn__));
void mmtk_shim_warn(const char *file, int line, const char *func, const char *cond);
void mmtk_shim_dump_stack(void);

void mmtk_shim_spin_lock_init(spinlock_t *lock);
void mmtk_shim_spin_lock(spinlock_t *lock, unsigned int subclass);
void mmtk_shim_spin_unlock(spinlock_t *lock);
int mmtk_shim_spin_is_locked(spinlock_t *lock);

/* RCU access points: the flag the shim's READ_ONCE/WRITE_ONCE test, and the point. */
extern int mmtk_rcu_access_points;
void mmtk_shim_access_point(void);

/* cond_resched(): a voluntary scheduling point. */
void mmtk_shim_cond_resched(void);

void mmtk_shim_rcu_read_lock(void);
void mmtk_shim_rcu_read_unlock(void);
void mmtk_shim_call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *head));
void mmtk_shim_synchronize_rcu(void);
void mmtk_shim_rcu_barrier(void);

struct kmem_cache *mmtk_shim_kmem_cache_create(const char *name, unsigned int size, unsigned int align,
					       slab_flags_t flags, void (*ctor)(void *));
void *mmtk_shim_kmem_cache_alloc(struct kmem_cache *cache, gfp_t gfp);
int mmtk_shim_kmem_cache_alloc_bulk(struct kmem_cache *cache, gfp_t gfp, size_t size, void **p);
void mmtk_shim_kmem_cache_free(struct kmem_cache *cache, void *object);
void mmtk_shim_kmem_cache_free_bulk(struct kmem_cache *cache, size_t size, void **p);

/* The environment of the kernel's userspace test suite (tools/testing/shared), for the
 * conformance runner's tools/testing/radix-tree/maple.c checks. Once on: its slab, where
 * a request that may not sleep fails unless mt_set_non_kernel() granted it (each object
 * taken counts one off the budget; a bulk request the budget does not cover fails
 * whole; after a failed request, the next one first calls mt_set_callback's function),
 * and its spin locks, which are pthread mutexes (holding the tree's lock is not atomic
 * context). Off (every other user): requests succeed as from a kernel slab with free
 * memory, and the tree's lock is a kernel spin lock. */
void mmtk_shim_userspace(int on);
void mmtk_shim_set_non_kernel(unsigned int budget);
/* mt_set_callback/mt_set_private: called with the private pointer on the request after
 * one that failed (the userspace slab's exec_callback). */
void mmtk_shim_set_callback(void (*callback)(void *));
void mmtk_shim_set_private(void *private_data);

#ifdef __cplusplus
}
#endif

#endif /* MMTK_RUNTIME_H */
