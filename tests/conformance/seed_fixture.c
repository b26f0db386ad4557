// SPDX-License-Identifier: GPL-2.0-only
/*
 * A stand-in for the kernel's lib/test_maple_tree.c, written for split_seed_test.sh:
 * the same shape (static check functions, one static tree, a module init function that
 * runs them) with every case the splitter handles. Never compiled.
 */
static DEFINE_MTREE(tree);

static noinline void __init check_a(struct maple_tree *mt) { MT_BUG_ON(mt, 0); }
static void __init *helper_load(struct maple_tree *mt, unsigned long i) { return mtree_load(mt, i); }
static int check_b(struct maple_tree *mt, unsigned long i, void *p) { return 0; }
static void check_standalone(void) { }
#if defined(BENCH_X)
static void bench_x(struct maple_tree *mt) { }
#endif

static int __init maple_tree_seed(void)
{
	unsigned long set[] = { 1, 2,
				3 };
	void *ptr = &set;

	pr_info("\nstarting; (not a check)\n");

#if defined(BENCH_X)
#define BENCH
	mt_init_flags(&tree, 0);
	bench_x(&tree);
	mtree_destroy(&tree);
	goto skip;
#endif

	mt_init_flags(&tree, MT_FLAGS_ALLOC_RANGE);
	check_a(&tree); /* a comment; with a semicolon */
	mtree_destroy(&tree);

	check_standalone();

	mt_init_flags(&tree, 0);
	check_b(&tree, set[0], ptr);
	if (helper_load(&tree, 1)) {
		check_a(&tree);
	} else {
		check_b(&tree, 2, "}");
	}
	mtree_destroy(&tree);

#ifdef CONFIG_64BIT
	mt_init_flags(&tree, 0);
	check_b(&tree, 1, ptr);
	mtree_destroy(&tree);
#else
	mt_init_flags(&tree, 0);
	check_b(&tree, 2, ptr);
	mtree_destroy(&tree);
#endif

#if defined(BENCH)
skip:
#endif
	rcu_barrier();
	if (1)
		return 0;
	return -EINVAL;
}
module_init(maple_tree_seed);
