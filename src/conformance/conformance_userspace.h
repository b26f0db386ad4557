/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the kernel's userspace maple tree suite (tools/testing/radix-tree/maple.c) has
 * that a kernel test module has not, for its checks that use only the tree's public
 * and advanced API: included by split_userspace.py's copy of maple.c right after the
 * lib/test_maple_tree.c it includes, for both trees under test.
 *
 *   mt_set_non_kernel(n)      the userspace slab's budget of requests that may not sleep
 *                             (test_maple_tree.c makes it do nothing in a kernel build;
 *                             here it is the suite's: without a budget such a request
 *                             fails, which check_nomem tests). The kernel's tree: the
 *                             shim's userspace slab (mmtk_runtime.h); the model: its
 *                             harness allocator's budget (kernel_api.h).
 *   mt_zero_nr_tallocated()   resets the slab's counters (nothing reads them here)
 *   mt_set_callback(fn), mt_set_private(p)  the slab calls fn(p) on the request after
 *                             one that failed (check_nomem_writer_race races a second
 *                             writer with mas_nomem's unlocked allocation with it)
 *   rcu_register_thread() ... liburcu's thread registration: one thread, nothing to do
 *   mmtk_conformance_userspace_init()  maple_tree_init() and, for the kernel's tree, the
 *                             userspace suite's environment (its slab and its locks, which
 *                             are pthread mutexes: mmtk_runtime.h's mmtk_shim_userspace)
 *
 * No kernel code or text is in this file.
 */
#ifndef MMTK_CONFORMANCE_USERSPACE_H
#define MMTK_CONFORMANCE_USERSPACE_H

#include <assert.h>

#undef mt_set_non_kernel
#undef mt_zero_nr_tallocated
#define rcu_register_thread() do { } while (0)
#define rcu_unregister_thread() do { } while (0)

#ifdef __cplusplus
/* The model: kernel_api.h's mt_set_non_kernel over its harness allocator, which fails
 * a request that may not sleep unless a budget allows it (its default). */
static void (*mmtk_userspace_callback)(void *);
static void *mmtk_userspace_private;
static inline void mt_set_private(void *private_data) { mmtk_userspace_private = private_data; }
static inline void mt_set_callback(void (*callback)(void *))
{
	mmtk_userspace_callback = callback;
	if (callback)
		mmt::maple::default_test_allocator().set_callback(
			[] { mmtk_userspace_callback(mmtk_userspace_private); });
	else
		mmt::maple::default_test_allocator().set_callback(nullptr);
}
static inline void mmtk_conformance_userspace_init(void)
{
	mmt::maple::default_test_allocator().set_nowait_succeeds(false);
}
#else
/* The kernel's tree on mmtorture's shim. */
static inline void mt_set_non_kernel(unsigned int budget) { mmtk_shim_set_non_kernel(budget); }
static inline void mt_zero_nr_tallocated(void) { }
static inline void mt_set_callback(void (*callback)(void *)) { mmtk_shim_set_callback(callback); }
static inline void mt_set_private(void *private_data) { mmtk_shim_set_private(private_data); }
static inline void mmtk_conformance_userspace_init(void)
{
	maple_tree_init();
	mmtk_shim_userspace(1);
}
#endif

#endif /* MMTK_CONFORMANCE_USERSPACE_H */
