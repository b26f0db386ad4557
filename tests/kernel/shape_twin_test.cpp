// SPDX-License-Identifier: GPL-2.0-only
// The model tree has the kernel's shape: the same stores into the model and into the
// kernel's own lib/maple_tree.c leave trees of the same height with the same number of
// nodes after every operation. Ascending and descending loads exercise the split point
// and the push into a sibling (mas_push_data); random stores over random ranges and
// erases add spanning stores and rebalances. (The model used to split evenly,
// so ascending loads left leaves of 13 entries where the kernel leaves 15-16.)
#include <gtest/gtest.h>

#include <climits>
#include <cstdio>
#include <string>

#include "mmtorture/core/choice.h"
#include "mmtorture/core/rng.h"
#include "mmtorture/kernel/kernel_tree.h"
#include "mmtorture/maple/kernel_api.h"
#include "mmtorture/maple/validate.h"
#include "mmtorture/mem/fault_plan.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/mem/slab.h"

namespace mmt::kernel {
namespace {

// The model follows 6.12's split and push rules (maple/reference.h).
bool reference_kernel() { return std::string(kernel_version()).rfind("6.12.", 0) == 0; }

struct World {
  static mem::MemConfig config() {
    mem::MemConfig c;
    c.pages = 16384;  // 10^5 ascending ranges take ~13,400 nodes (16 a page)
    return c;
  }
  World() : choices(1), memory(config(), choices, &plan), nodes(memory, "maple_node", 256, 256), env(nodes) {}
  SeededChoices choices;
  mem::FaultPlan plan;
  mem::Memory memory;
  mem::KmemCache nodes;
  KernelEnv env;
};

// The model and the kernel tree side by side, both without RCU (freed nodes go at once,
// so the kernel's live node objects are its tree's nodes).
struct Twins {
  explicit Twins(World& w, bool alloc_range) : world(w), kernel(alloc_range ? KernelTree::kAllocRange : 0) {
    mt_init_flags(&model, alloc_range ? MT_FLAGS_ALLOC_RANGE : 0);
  }
  ~Twins() {
    mtree_destroy(&model);
    kernel.mtree_destroy();
  }
  void store(unsigned long first, unsigned long last, unsigned long value) {
    ASSERT_EQ(mtree_store_range(&model, first, last, value ? xa_mk_value(value) : nullptr, GFP_KERNEL), 0);
    ASSERT_EQ(kernel.mtree_store_range(first, last, value ? xa_value(value) : nullptr, gfp::kKernel), 0);
  }
  void erase(unsigned long index) {
    mtree_erase(&model, index);
    kernel.mtree_erase(index);
  }
  uint64_t model_nodes() const { return mmt::maple::count_tree_nodes(&model); }
  uint64_t kernel_nodes() const { return world.nodes.live_objects(); }
  // The same height and node count; on a difference, both trees' dumps.
  ::testing::AssertionResult same_shape() {
    const unsigned mh = mt_height(&model), kh = kernel.mt_height();
    const uint64_t mn = model_nodes(), kn = kernel_nodes();
    if (mh == kh && mn == kn) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "model height " << mh << " with " << mn << " nodes, kernel height " << kh
                                         << " with " << kn << " nodes\nmodel:\n"
                                         << mmt::maple::mt_dump_string(&model, mt_dump_hex) << "\nkernel:\n"
                                         << kernel.mt_dump();
  }
  World& world;
  maple_tree model{};
  KernelTree kernel;
};

TEST(ShapeTwin, AscendingLoadsSplitAndPushAsTheKernel) {
  if (!reference_kernel()) GTEST_SKIP() << "the model's reference is 6.12";
  for (bool alloc_range : {false, true}) {
    SCOPED_TRACE(alloc_range ? "alloc range" : "plain");
    World world;
    Twins t(world, alloc_range);
    for (unsigned long i = 1; i <= 3000; ++i) {
      t.store(i * 10, i * 10 + 5, i);
      ASSERT_TRUE(t.same_shape()) << "after storing range " << i;
    }
    EXPECT_FALSE(mmt::maple::validate_tree(&t.model).has_value());
  }
}

TEST(ShapeTwin, DescendingLoadsSplitAndPushAsTheKernel) {
  if (!reference_kernel()) GTEST_SKIP() << "the model's reference is 6.12";
  for (bool alloc_range : {false, true}) {
    SCOPED_TRACE(alloc_range ? "alloc range" : "plain");
    World world;
    Twins t(world, alloc_range);
    for (unsigned long i = 3000; i >= 1; --i) {
      t.store(i * 10, i * 10 + 5, i);
      ASSERT_TRUE(t.same_shape()) << "after storing range " << i;
    }
  }
}

// check_ranges' load: 10^5 adjacent ascending ranges, reported for the README.
TEST(ShapeTwin, HundredThousandAscendingRanges) {
  if (!reference_kernel()) GTEST_SKIP() << "the model's reference is 6.12";
  World world;
  Twins t(world, false);
  for (unsigned long i = 0; i < 100000; ++i) t.store(i * 10, i * 10 + 5, i + 1);
  EXPECT_TRUE(t.same_shape());
  std::printf("10^5 ascending ranges: model height %u, %llu nodes; kernel height %u, %llu nodes\n", mt_height(&t.model),
              static_cast<unsigned long long>(t.model_nodes()), t.kernel.mt_height(),
              static_cast<unsigned long long>(t.kernel_nodes()));
}

// Random stores (overwrites, spanning stores, NULL stores) and erases: splits, pushes,
// rebalances and spanning rebalances, compared after every operation.
TEST(ShapeTwin, RandomStoresAndErasesKeepTheKernelsShape) {
  if (!reference_kernel()) GTEST_SKIP() << "the model's reference is 6.12";
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    const bool alloc_range = seed % 2 == 0;
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    World world;
    Twins t(world, alloc_range);
    mmt::Rng rng(seed);
    const unsigned long space = 20000;
    for (unsigned op = 0; op < 3000; ++op) {
      const unsigned kind = static_cast<unsigned>(rng.below(10));
      const unsigned long first = rng.below(space);
      if (kind < 6) {
        const unsigned long len = rng.below(4) == 0 ? rng.below(400) : rng.below(8);
        t.store(first, first + len, op + 1);
      } else if (kind < 8) {
        t.erase(first);
      } else {
        t.store(first, first + rng.below(200), 0);
      }
      ASSERT_TRUE(t.same_shape()) << "after op " << op << " (kind " << kind << " at " << first << ")";
    }
    EXPECT_FALSE(mmt::maple::validate_tree(&t.model).has_value());
  }
}

}  // namespace
}  // namespace mmt::kernel
