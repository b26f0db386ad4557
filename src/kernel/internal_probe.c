/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Probes of the kernel's static functions, compiled at the end of the kernel's own
 * lib/maple_tree.c translation unit (CMakeLists.txt: maple_tree_unit.c includes the
 * staged maple_tree.c, then this file) so they can call what no exported function
 * reaches in that form. Test-only entry points: the job never calls them.
 */
#include "tree_api.h"

/*
 * Two node requests on one fresh maple state, as the tree makes them inside a write
 * (mas_node_count_gfp: top the state's nodes up to `first`, then to `second`), and
 * the second's answer: 0 or the state's error (-ENOMEM). The state's nodes are then
 * freed (mas_destroy). On the kernel's own tree, with every node request granted.
 */
int mmtk_probe_two_node_requests(int first, int second, unsigned int gfp) {
  struct maple_tree mt = MTREE_INIT(mt, 0);
  MA_STATE(mas, &mt, 0, 0);
  int ret = 0;

  mas_node_count_gfp(&mas, first, gfp);
  if (!mas_is_err(&mas)) mas_node_count_gfp(&mas, second, gfp);
  if (mas_is_err(&mas)) ret = xa_err(mas.node);
  mas_destroy(&mas);
  return ret;
}
