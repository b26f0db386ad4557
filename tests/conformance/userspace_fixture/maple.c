// A stand-in for tools/testing/radix-tree/maple.c (split_userspace_test.sh).
#define CONFIG_DEBUG_MAPLE_TREE
#include "test.h"
#include <linux/init.h>
#include "../../../lib/maple_tree.c"
#undef CONFIG_DEBUG_MAPLE_TREE
#include "../../../lib/test_maple_tree.c"

#define check_twice(mt) check_public(mt); check_public(mt)

static void check_public(struct maple_tree *mt)
{
	MA_STATE(walk_down, mt, 0, 0);	/* a variable named as an internal function */
	public_store(&walk_down);
	check_load(mt, 1);
	mt_set_non_kernel(1);
}

static void helper_internal(struct ma_state *mas)
{
	walk_down(mas);
}

static void check_indirect(struct maple_tree *mt)
{
	MA_STATE(mas, mt, 0, 0);
	helper_internal(&mas);
}

static void check_macro(struct maple_tree *mt)
{
	unsigned long n = node_type(1);
	(void)n;
}

static void check_threads(struct maple_tree *mt)
{
	pthread_create(0, 0, 0, 0);
}

static void check_guarded(struct maple_tree *mt)
{
	check_twice(mt);
}

static void check_alone(void)
{
	int done = mas_is_done((struct ma_state *)0);
}

static void regression_tests(void)
{
	check_alone();
}

void farmer_tests(void)
{
	struct maple_node *node;
	DEFINE_MTREE(tree);

	mt_init_flags(&tree, 0);
	check_public(&tree);
	mtree_destroy(&tree);

	mt_init_flags(&tree, 0);
	check_indirect(&tree);
	mtree_destroy(&tree);

	mt_init_flags(&tree, 0);
	check_macro(&tree);
	mtree_destroy(&tree);

	if (!MAPLE_32BIT) {
		mt_init_flags(&tree, 0);
		check_threads(&tree);
		mtree_destroy(&tree);

		mt_init_flags(&tree, 0);
		check_guarded(&tree);
		mtree_destroy(&tree);
	}
}

void maple_tree_tests(void)
{
	regression_tests();
	farmer_tests();
}
