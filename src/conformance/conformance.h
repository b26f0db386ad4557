/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the conformance runner's generated file (split_seed.py's output) includes before
 * the kernel's lib/test_maple_tree.c: the tree's <linux/maple_tree.h> (the kernel's own,
 * staged beside mmtorture's shim, or the model's, src/conformance/model/, for which the
 * file is compiled as C++), then assertion macros of our own in place of the header's
 * CONFIG_DEBUG_MAPLE_TREE ones. Ours count every MT_BUG_ON/MAS_BUG_ON in the
 * kernel's counters, as the kernel's do, and make the first failing one end the check
 * with what it asserted (the condition's text, file:line, function, value) instead of
 * printing and carrying on: a check runs on its own and reports its first failure.
 * The tree (and the state) is dumped into the kernel log first, as the kernel does.
 *
 * No kernel code or text is in this file.
 */
#ifndef MMTK_CONFORMANCE_H
#define MMTK_CONFORMANCE_H

#include <linux/maple_tree.h>

/* One check of the seed function, as the generated table lists it. */
struct mmtk_conformance_check {
	const char *name;      /* the file functions it calls, joined with '+' */
	void (*run)(void);     /* the check's statements, in the seed's order */
	unsigned int line;     /* its first statement's line in the test file */
	const char *condition; /* the #if conditions it sits under ("" for none) */
	int present;           /* whether the preprocessor kept it */
	const char *not_applicable; /* why it cannot run on any tree but the kernel's own
				     * ("" when it can): it uses the tree's internals */
};

#ifdef __cplusplus
extern "C" {
#endif
/* The runner's side (C++). Whether an assertion fails: `failed`, unless the runner
 * was asked to invert this assertion (--fail, which tests the harness itself). */
int mmtk_conformance_verdict(int failed);
/* Ends the check: the first failing assertion. Never returns. */
void mmtk_conformance_failed(const char *file, int line, const char *func, const char *assertion,
			     unsigned long value) __attribute__((__noreturn__));
#ifdef __cplusplus
}
#endif

#ifdef MMTK_MT_DUMP_FORMAT
#define mmtk_conformance_dump_tree(mt) mt_dump((mt), mt_dump_hex)
#define mmtk_conformance_dump_state(mas) mas_dump(mas)
#else
#define mmtk_conformance_dump_tree(mt) mt_dump(mt)
#define mmtk_conformance_dump_state(mas) do { } while (0)
#endif

#undef MT_BUG_ON
#undef MAS_BUG_ON
#define MT_BUG_ON(__tree, __x) do {						\
	unsigned long _mmtk_value = (unsigned long)(__x);			\
	atomic_inc(&maple_tree_tests_run);					\
	if (mmtk_conformance_verdict(_mmtk_value != 0)) {			\
		mmtk_conformance_dump_tree(__tree);				\
		mmtk_conformance_failed(__FILE__, __LINE__, __func__,		\
			"MT_BUG_ON(" #__tree ", " #__x ")", _mmtk_value);	\
	}									\
	atomic_inc(&maple_tree_tests_passed);					\
} while (0)
#define MAS_BUG_ON(__mas, __x) do {						\
	unsigned long _mmtk_value = (unsigned long)(__x);			\
	atomic_inc(&maple_tree_tests_run);					\
	if (mmtk_conformance_verdict(_mmtk_value != 0)) {			\
		mmtk_conformance_dump_state(__mas);				\
		mmtk_conformance_dump_tree((__mas)->tree);			\
		mmtk_conformance_failed(__FILE__, __LINE__, __func__,		\
			"MAS_BUG_ON(" #__mas ", " #__x ")", _mmtk_value);	\
	}									\
	atomic_inc(&maple_tree_tests_passed);					\
} while (0)

#endif /* MMTK_CONFORMANCE_H */
