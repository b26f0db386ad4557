/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mmtorture's kernel shim: the kernel facilities lib/maple_tree.c (and the
 * include/linux/maple_tree.h it includes) needs, written for mmtorture from the
 * documented semantics of each facility, mapped onto mmtorture's own:
 *
 *   spinlock_t        -> the scheduler's SpinLock (lock/unlock are yield points and
 *                        lockdep-lite sees them), created on first use
 *   rcu_*, call_rcu   -> the RCU backend in force (the scheduler's: grace periods in
 *                        virtual time)
 *   kmem_cache_*      -> a mem::KmemCache (GFP semantics, the fault plan: every request
 *                        is a labelled choice)
 *   BUG_ON, WARN_ON*, dump_stack() (what MT_BUG_ON/MAS_WARN_ON call with
 *                        CONFIG_DEBUG_MAPLE_TREE) -> a Failure naming the site, carrying
 *                        what the kernel printed (its mt_dump)
 *   printk, pr_*      -> the run's kernel log (kept for the failure report)
 *   trace points, EXPORT_SYMBOL, __init -> nothing
 *   cond_resched()    -> a scheduler yield point
 *   struct rw_semaphore, module_init/exit (what lib/test_maple_tree.c, compiled by the
 *                        conformance runner, uses besides the tree) -> see below
 *
 * No kernel code or text is in this file. Every linux/ and asm/ header beside it only
 * includes this one: the kernel code sees one consistent environment.
 */
#ifndef MMTK_SHIM_H
#define MMTK_SHIM_H

#ifndef __KERNEL__
#define __KERNEL__ 1
#endif
#define CONFIG_64BIT 1
#define CONFIG_DEBUG_MAPLE_TREE 1

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mmtk_runtime.h"

/* ---- types ------------------------------------------------------------------- */
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;
typedef struct { int counter; } atomic_t;


#define BITS_PER_LONG 64
#define ENOMEM 12
#define EBUSY 16
#define EEXIST 17
#define EINVAL 22
#define ERANGE 34

/* ---- compiler ------------------------------------------------------------------ */
#define __rcu
#define __force
#define __init
#define __exit
#define __must_hold(x)
#define __acquires(x)
#define __releases(x)
#undef __always_inline /* glibc's <sys/cdefs.h> has one too */
#define __always_inline inline __attribute__((__always_inline__))
#define noinline __attribute__((__noinline__))
#define noinline_for_stack noinline
#define __maybe_unused __attribute__((__unused__))
#define __aligned(x) __attribute__((__aligned__(x)))
#define __packed __attribute__((__packed__))
#define fallthrough __attribute__((__fallthrough__))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define barrier() __asm__ __volatile__("" ::: "memory")
#define EXPORT_SYMBOL(sym)
#define EXPORT_SYMBOL_GPL(sym)
#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define BUILD_BUG_ON(cond) _Static_assert(!(cond), "BUILD_BUG_ON: " #cond)

/* Type-generic, each argument evaluated once (the kernel's also checks the types). */
#define min(a, b) ({ __typeof__(a) _min_a = (a); __typeof__(b) _min_b = (b); _min_a < _min_b ? _min_a : _min_b; })
#define max(a, b) ({ __typeof__(a) _max_a = (a); __typeof__(b) _max_b = (b); _max_a > _max_b ? _max_a : _max_b; })
#define min_t(type, a, b) min((type)(a), (type)(b))
#define max_t(type, a, b) max((type)(a), (type)(b))
#define swap(a, b) do { __typeof__(a) _swap_t = (a); (a) = (b); (b) = _swap_t; } while (0)

/* ---- memory ordering (one host thread runs every green thread: compiler barriers
 * suffice; each is a place the kernel's memory-ordering contract is about) -------- */
/* With RCU access points on (mmtk_set_rcu_access_points), each READ_ONCE, WRITE_ONCE,
 * rcu_dereference and rcu_assign_pointer is first a scheduling point: another CPU (a
 * green thread) may run right before the access, so lock-free readers interleave with
 * a writer exactly where the contract is about. Off, they cost one flag test. */
#define mmtk_access_point() do { if (unlikely(mmtk_rcu_access_points)) mmtk_shim_access_point(); } while (0)
#define READ_ONCE(x) (*({ mmtk_access_point(); (const volatile __typeof__(x) *)&(x); }))
#define WRITE_ONCE(x, val) do { mmtk_access_point(); *(volatile __typeof__(x) *)&(x) = (val); } while (0)
#define smp_wmb() barrier()
#define smp_rmb() barrier()
#define smp_mb() barrier()


/* ---- printk -------------------------------------------------------------------- */
#define KERN_ERR ""
#define KERN_INFO ""
#define KERN_CONT ""
#define printk(...) mmtk_shim_printk(__VA_ARGS__)
#define pr_err(...) mmtk_shim_printk(__VA_ARGS__)
#define pr_info(...) mmtk_shim_printk(__VA_ARGS__)
#define pr_warn(...) mmtk_shim_printk(__VA_ARGS__)
#define pr_cont(...) mmtk_shim_printk(__VA_ARGS__)
#define pr_debug(...) do { } while (0)
#define dump_stack() mmtk_shim_dump_stack()

/* ---- BUG / WARN: a Failure naming the site ------------------------------------- */
#define BUG() mmtk_shim_bug(__FILE__, __LINE__, __func__, "BUG()")
#define BUG_ON(cond) do { if (unlikely(cond)) mmtk_shim_bug(__FILE__, __LINE__, __func__, #cond); } while (0)
#define VM_BUG_ON(cond) BUG_ON(cond)
#define WARN_ON(cond)                                                            \
  ({                                                                             \
    int _warn_on = !!(cond);                                                     \
    if (unlikely(_warn_on)) mmtk_shim_warn(__FILE__, __LINE__, __func__, #cond); \
    unlikely(_warn_on);                                                          \
  })
#define WARN_ON_ONCE(cond) WARN_ON(cond)

/* ---- atomics (single host thread) ------------------------------------------------ */
static inline void atomic_inc(atomic_t *v) { v->counter++; }
static inline int atomic_read(const atomic_t *v) { return READ_ONCE(v->counter); }
static inline void atomic_set(atomic_t *v, int i) { WRITE_ONCE(v->counter, i); }

/* ---- spinlocks: the scheduler's SpinLock, made on first use ---------------------- */
#define __SPIN_LOCK_UNLOCKED(name) { NULL, 0 }
#define DEFINE_SPINLOCK(name) spinlock_t name = __SPIN_LOCK_UNLOCKED(name)
#define SINGLE_DEPTH_NESTING 1
#define spin_lock_init(lock) mmtk_shim_spin_lock_init(lock)
#define spin_lock(lock) mmtk_shim_spin_lock((lock), 0)
#define spin_lock_nested(lock, subclass) mmtk_shim_spin_lock((lock), (subclass))
#define spin_unlock(lock) mmtk_shim_spin_unlock(lock)
#define spin_lock_irqsave(lock, flags) do { (flags) = 0; mmtk_shim_spin_lock((lock), 0); } while (0)
#define spin_unlock_irqrestore(lock, flags) do { (void)(flags); mmtk_shim_spin_unlock(lock); } while (0)
#define spin_is_locked(lock) mmtk_shim_spin_is_locked(lock)
#define assert_spin_locked(lock) BUG_ON(!mmtk_shim_spin_is_locked(lock))
/* Without CONFIG_LOCKDEP the tree has no lockdep map; these answer "held" like a
 * kernel built without lockdep. */
#define lockdep_is_held(lock) 1
#define lock_is_held(map) 1

/* ---- RCU: the RCU backend in force ----------------------------------------------- */
#define rcu_read_lock() mmtk_shim_rcu_read_lock()
#define rcu_read_unlock() mmtk_shim_rcu_read_unlock()
#define call_rcu(head, func) mmtk_shim_call_rcu((head), (func))
#define synchronize_rcu() mmtk_shim_synchronize_rcu()
#define rcu_barrier() mmtk_shim_rcu_barrier()
#define rcu_dereference(p) READ_ONCE(p)
#define rcu_dereference_raw(p) READ_ONCE(p)
#define rcu_dereference_check(p, c) READ_ONCE(p)
#define rcu_dereference_protected(p, c) (p)
#define rcu_assign_pointer(p, v) WRITE_ONCE((p), (v))
#define RCU_INIT_POINTER(p, v) WRITE_ONCE((p), (v))

static inline bool gfpflags_allow_blocking(gfp_t gfp) { return (gfp & __GFP_DIRECT_RECLAIM) != 0; }

/* ---- slab caches: a mem::KmemCache through the runtime ----------------------------- */
#define SLAB_PANIC 0x1u
#define SLAB_HWCACHE_ALIGN 0x2u
#define SLAB_RECLAIM_ACCOUNT 0x4u
#define SLAB_ACCOUNT 0x8u
#define kmem_cache_create(name, size, align, flags, ctor) \
  mmtk_shim_kmem_cache_create((name), (size), (align), (flags), (ctor))
#define kmem_cache_alloc(cache, gfp) mmtk_shim_kmem_cache_alloc((cache), (gfp))
#define kmem_cache_alloc_bulk(cache, gfp, size, p) mmtk_shim_kmem_cache_alloc_bulk((cache), (gfp), (size), (p))
#define kmem_cache_free(cache, object) mmtk_shim_kmem_cache_free((cache), (object))
#define kmem_cache_free_bulk(cache, size, p) mmtk_shim_kmem_cache_free_bulk((cache), (size), (p))
#define kmem_cache_shrink(cache) ((void)(cache))

/* ---- XArray entry encoding (shared with the maple tree) ------------------------ */
static inline void *xa_mk_value(unsigned long v) { return (void *)((v << 1) | 1); }
static inline unsigned long xa_to_value(const void *entry) { return (unsigned long)entry >> 1; }
static inline bool xa_is_value(const void *entry) { return (unsigned long)entry & 1; }
static inline void *xa_mk_internal(unsigned long v) { return (void *)((v << 2) | 2); }
static inline unsigned long xa_to_internal(const void *entry) { return (unsigned long)entry >> 2; }
static inline bool xa_is_internal(const void *entry) { return ((unsigned long)entry & 3) == 2; }
#define XA_RETRY_ENTRY xa_mk_internal(256)
#define XA_ZERO_ENTRY xa_mk_internal(257)
static inline bool xa_is_zero(const void *entry) { return entry == XA_ZERO_ENTRY; }
static inline bool xa_is_node(const void *entry) { return xa_is_internal(entry) && (unsigned long)entry > 4096; }
static inline bool xa_is_err(const void *entry) {
	return xa_is_internal(entry) && (unsigned long)entry >= ((-4095UL << 2) | 2);
}
static inline int xa_err(void *entry) { return xa_is_err(entry) ? (int)((long)entry >> 2) : 0; }
static inline bool xa_is_advanced(const void *entry) { return xa_is_internal(entry) && entry <= XA_RETRY_ENTRY; }

/* ---- scheduling ---------------------------------------------------------------- */
#define cond_resched() mmtk_shim_cond_resched()

/* ---- rw_semaphore: the kernel's tests take them as trees' external locks, on one
 * thread. Acquiring one that is held could only wait forever there, so it is a BUG. */
struct rw_semaphore {
	long count; /* readers inside; -1: a writer */
};
#define __RWSEM_INITIALIZER(name) { 0 }
#define DECLARE_RWSEM(name) struct rw_semaphore name = __RWSEM_INITIALIZER(name)
static inline void init_rwsem(struct rw_semaphore *sem) { sem->count = 0; }
static inline void down_read(struct rw_semaphore *sem) { BUG_ON(sem->count < 0); sem->count++; }
static inline void up_read(struct rw_semaphore *sem) { BUG_ON(sem->count <= 0); sem->count--; }
static inline void down_write(struct rw_semaphore *sem) { BUG_ON(sem->count != 0); sem->count = -1; }
static inline void up_write(struct rw_semaphore *sem) { BUG_ON(sem->count != -1); sem->count = 0; }
#define down_write_nested(sem, subclass) down_write(sem)
#define down_read_nested(sem, subclass) down_read(sem)

/* ---- modules: the test module's init and exit functions are referenced (so they are
 * not unused) and never called; the runner calls the checks itself. -------------- */
#define module_init(fn) static int (*const mmtk_module_init_##fn)(void) __attribute__((__unused__)) = fn
#define module_exit(fn) static void (*const mmtk_module_exit_##fn)(void) __attribute__((__unused__)) = fn
#define MODULE_AUTHOR(text)
#define MODULE_DESCRIPTION(text)
#define MODULE_LICENSE(text)

/* ---- trace points -------------------------------------------------------------- */
#define tracepoint_string(s) (s)
#define trace_ma_op(...) do { } while (0)
#define trace_ma_read(...) do { } while (0)
#define trace_ma_write(...) do { } while (0)

#endif /* MMTK_SHIM_H */
