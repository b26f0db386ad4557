// SPDX-License-Identifier: GPL-2.0-only
// <linux/maple_tree.h> for the kernel's lib/test_maple_tree.c compiled against the
// MODEL tree (src/maple) by the conformance runner. The test file is compiled as C++
// (it is C that C++ also accepts, but for a few function pointers stored as entries
// and negative constants in unsigned arrays, which -fpermissive and -Wno-narrowing
// accept): it sees the model's kernel facade (mmtorture/maple/kernel_api.h), and here
// the rest of what a kernel test module sees, as the kernel backend's shim gives it
// to the kernel's own tree:
//
//   __KERNEL__, CONFIG_DEBUG_MAPLE_TREE, CONFIG_64BIT   defined, as in the kernel build
//   the assertion counters (maple_tree_tests_run/passed), atomic_t
//   pr_*, printk, mt_dump, mas_dump  -> the check's log (model_env.cpp), reported
//                                       with a failure
//   BUG_ON, WARN_ON                   -> a Failure naming the site
//   struct rw_semaphore, cond_resched, module_init/exit, __init/__exit, noinline
//   mas_lock/mas_unlock, mas_is_active, __mas_set_range  the kernel header's inline helpers
//   mt_set_external_lock              -> nothing: without lockdep the kernel's does nothing
//   mt_cache_shrink                   -> nothing, as the kernel's in a kernel build
//   maple_tree_init()                 -> the model's node allocator as a kernel's slab:
//                                       GFP_NOWAIT requests succeed (model_env.cpp)
//
// No kernel code or text is in this file.
#pragma once

#define __KERNEL__ 1
#define CONFIG_DEBUG_MAPLE_TREE 1
#ifndef CONFIG_64BIT
#define CONFIG_64BIT 1
#endif

#include <climits>
#include <cstdarg>
#include <cstddef>
#include <cstdint>

#include "mmtorture/core/failure.h"
#include "mmtorture/maple/kernel_api.h"

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#define __init
#define __exit
#define noinline __attribute__((__noinline__))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SINGLE_DEPTH_NESTING 1

// ---- the check's log ----------------------------------------------------------------
void mmtk_model_printk(const char* format, ...) __attribute__((__format__(__printf__, 1, 2)));
void mmtk_model_mt_dump(const struct maple_tree* mt, enum mt_dump_format format);
void mmtk_model_mas_dump(const struct ma_state* mas);
#define KERN_ERR ""
#define KERN_INFO ""
#define KERN_CONT ""
#define printk(...) mmtk_model_printk(__VA_ARGS__)
#define pr_err(...) mmtk_model_printk(__VA_ARGS__)
#define pr_info(...) mmtk_model_printk(__VA_ARGS__)
#define pr_warn(...) mmtk_model_printk(__VA_ARGS__)
#define pr_cont(...) mmtk_model_printk(__VA_ARGS__)
// The facade's mt_dump prints to stdout; in a check it goes to the log.
#define mt_dump(mt, format) mmtk_model_mt_dump((mt), (format))
#define mas_dump(mas) mmtk_model_mas_dump(mas)

// ---- BUG / WARN ------------------------------------------------------------------------
[[noreturn]] void mmtk_model_bug(const char* file, int line, const char* func, const char* what);
#define BUG_ON(cond) do { if (cond) mmtk_model_bug(__FILE__, __LINE__, __func__, "BUG_ON(" #cond ")"); } while (0)
#define WARN_ON(cond) ({ \
	bool _warn_on = !!(cond); \
	if (_warn_on) mmtk_model_bug(__FILE__, __LINE__, __func__, "WARN_ON(" #cond ")"); \
	_warn_on; \
})
#define WARN_ON_ONCE(cond) WARN_ON(cond)

// ---- assertion counters -------------------------------------------------------------------
typedef struct {
  int counter;
} atomic_t;
inline void atomic_inc(atomic_t* v) { v->counter++; }
inline int atomic_read(const atomic_t* v) { return v->counter; }
extern atomic_t maple_tree_tests_run;
extern atomic_t maple_tree_tests_passed;

// ---- what the kernel's <linux/maple_tree.h> defines inline and the model's facade has
// not (yet) got -------------------------------------------------------------------------------
// The tree's lock through a cursor.
inline void mas_lock(struct ma_state* mas) { mtree_lock(mas->tree); }
inline void mas_unlock(struct ma_state* mas) { mtree_unlock(mas->tree); }
// Whether the state points into a node (a walk left it at an entry).
inline bool mas_is_active(const struct ma_state* mas) { return mas->status == ma_active; }
// Moves the range without resetting the walk, for a caller staying inside its slot.
inline void __mas_set_range(struct ma_state* mas, unsigned long start, unsigned long last) {
  mas->index = start;
  mas->last = last;
}

// ---- the module's environment ---------------------------------------------------------------
void maple_tree_init(void);
#define cond_resched() do { } while (0)
#define mt_set_external_lock(mt, lock) do { (void)(mt); (void)(lock); } while (0)
// A kernel build's mt_cache_shrink() does nothing (the userspace suite's shrinks its
// slab); the test module calls it between checks.
#define mt_cache_shrink() do { } while (0)

// rw_semaphore: the tests take them as trees' external locks, on one thread; acquiring
// one that is held could only wait forever there, so it is a BUG.
struct rw_semaphore {
  long count;  // readers inside; -1: a writer
};
inline void init_rwsem(struct rw_semaphore* sem) { sem->count = 0; }
inline void down_read(struct rw_semaphore* sem) { BUG_ON(sem->count < 0); sem->count++; }
inline void up_read(struct rw_semaphore* sem) { BUG_ON(sem->count <= 0); sem->count--; }
inline void down_write(struct rw_semaphore* sem) { BUG_ON(sem->count != 0); sem->count = -1; }
inline void up_write(struct rw_semaphore* sem) { BUG_ON(sem->count != -1); sem->count = 0; }
#define down_write_nested(sem, subclass) down_write(sem)
#define down_read_nested(sem, subclass) down_read(sem)

#define module_init(fn) [[maybe_unused]] static int (*const mmtk_module_init_##fn)(void) = fn
#define module_exit(fn) [[maybe_unused]] static void (*const mmtk_module_exit_##fn)(void) = fn
#define MODULE_AUTHOR(text)
#define MODULE_DESCRIPTION(text)
#define MODULE_LICENSE(text)
