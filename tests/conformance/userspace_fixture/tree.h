/* A stand-in for include/linux/maple_tree.h: the public and advanced API. */
int public_store(struct ma_state *mas);
