/* A stand-in for lib/test_maple_tree.c: what it defines is not internal. */
#define mas_is_done(mas) ((mas)->done)
static void check_load(struct maple_tree *mt, unsigned long index) { }
