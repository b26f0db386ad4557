// Kernel-style test code compiled unchanged against the facade: only
// "mmtorture/maple/kernel_api.h" is included, the helpers follow lib/test_maple_tree.c's
// idioms (check_* helpers asserting with MT_BUG_ON, DEFINE_MTREE, MA_STATE,
// mas_for_each, mt_for_each), and it runs as a plain program: exit 0 = all passed.
#include "mmtorture/maple/kernel_api.h"

#include <cstdio>

static int tests_run, tests_passed;

#define CHECK(tree, cond)    \
  do {                       \
    tests_run++;             \
    MT_BUG_ON(tree, !(cond)); \
    tests_passed++;          \
  } while (0)

static void check_insert(struct maple_tree *mt, unsigned long index, void *ptr)
{
	int ret = mtree_insert(mt, index, ptr, GFP_KERNEL);
	CHECK(mt, ret == 0);
}

static void check_dup_insert(struct maple_tree *mt, unsigned long index, void *ptr)
{
	int ret = mtree_insert(mt, index, ptr, GFP_KERNEL);
	CHECK(mt, ret == -EEXIST);
}

static void check_load(struct maple_tree *mt, unsigned long index, void *ptr)
{
	void *ret = mtree_load(mt, index);
	CHECK(mt, ret == ptr);
}

static void check_store_range(struct maple_tree *mt, unsigned long start, unsigned long end, void *ptr,
			      int expected)
{
	int ret = mtree_store_range(mt, start, end, ptr, GFP_KERNEL);
	CHECK(mt, ret == expected);
	if (ret)
		return;
	for (unsigned long i = start; i <= end; i++)
		check_load(mt, i, ptr);
}

static void check_seq(struct maple_tree *mt, unsigned long max)
{
	unsigned long i;

	for (i = 0; i <= max; i++)
		check_insert(mt, i, xa_mk_value(i));
	for (i = 0; i <= max; i++)
		check_load(mt, i, xa_mk_value(i));
	mt_validate(mt);
	mtree_destroy(mt);
}

static void check_iteration(struct maple_tree *mt)
{
	unsigned long i, index = 0, count = 0;
	void *entry;
	MA_STATE(mas, mt, 0, 0);

	for (i = 0; i <= 300; i++)
		mtree_store_range(mt, i * 10, i * 10 + 5, xa_mk_value(i), GFP_KERNEL);

	rcu_read_lock();
	mas_for_each(&mas, entry, ULONG_MAX) {
		CHECK(mt, entry == xa_mk_value(count));
		CHECK(mt, mas.index == count * 10 && mas.last == count * 10 + 5);
		count++;
	}
	rcu_read_unlock();
	CHECK(mt, count == 301);

	count = 0;
	mt_for_each(mt, entry, index, ULONG_MAX)
		count++;
	CHECK(mt, count == 301);
	mt_validate(mt);
	mtree_destroy(mt);
}

static void check_nomem(struct maple_tree *mt)
{
	MA_STATE(ms, mt, 1, 1);

	/* Storing at 1 needs a node; GFP_ATOMIC cannot sleep and the harness grants no budget. */
	CHECK(mt, mtree_insert(mt, 1, &ms, GFP_ATOMIC) == -ENOMEM);
	/* Index 0 fits in the root pointer without a node. */
	CHECK(mt, mtree_insert(mt, 0, &ms, GFP_ATOMIC) == 0);

	mtree_lock(mt);
	mas_store(&ms, &ms); /* needs a node: fails with -ENOMEM in the state */
	CHECK(mt, mas_is_err(&ms) && xa_err(ms.node) == -ENOMEM);
	CHECK(mt, mas_nomem(&ms, GFP_KERNEL));
	mas_store(&ms, &ms);
	CHECK(mt, !mas_is_err(&ms));
	mas_destroy(&ms);
	mtree_unlock(mt);
	CHECK(mt, mtree_load(mt, 1) == &ms);
	mtree_destroy(mt);
}

int main(void)
{
	DEFINE_MTREE(tree);

	check_seq(&tree, 1000);

	mt_init_flags(&tree, MT_FLAGS_ALLOC_RANGE);
	check_insert(&tree, 5, xa_mk_value(5));
	check_dup_insert(&tree, 5, xa_mk_value(6));
	check_store_range(&tree, 10, 20, xa_mk_value(10), 0);
	check_store_range(&tree, 30, 20, xa_mk_value(10), -EINVAL);
	check_store_range(&tree, 15, 25, NULL, 0);
	check_load(&tree, 14, xa_mk_value(10));
	mtree_destroy(&tree);

	mt_init_flags(&tree, 0);
	check_iteration(&tree);
	check_nomem(&tree);

	rcu_barrier();
	CHECK(&tree, mt_nr_allocated() == 0);
	printf("maple_tree: %u of %u tests passed\n", tests_passed, tests_run);
	return tests_passed == tests_run ? 0 : 1;
}
