/* A stand-in for lib/maple_tree.c (split_userspace_test.sh): what it defines and the
 * header below does not name is the tree's internals. */
#define node_type(n) ((n) & 3)
static int walk_down(struct ma_state *mas) { return 0; }
int public_store(struct ma_state *mas) { return 0; }
void mt_set_non_kernel(unsigned int val) { }
