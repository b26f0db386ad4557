// Store scenarios for the preallocation and failure-walk tests: a tree built so that
// one chosen store has a chosen store type (as mas_wr_store_type would classify it),
// found by a deterministic search over candidate stores and confirmed with
// mas_prealloc_request.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include <fmt/format.h>

#include "maple_test_util.h"
#include "mmtorture/core/rng.h"
#include "mmtorture/maple/kernel_api.h"

namespace mmt::maple::test {

inline const char* store_type_name(store_type type) {
  switch (type) {
    case wr_invalid: return "invalid";
    case wr_new_root: return "new_root";
    case wr_store_root: return "store_root";
    case wr_exact_fit: return "exact_fit";
    case wr_spanning_store: return "spanning_store";
    case wr_split_store: return "split_store";
    case wr_rebalance: return "rebalance";
    case wr_append: return "append";
    case wr_node_store: return "node_store";
    case wr_slot_store: return "slot_store";
  }
  return "?";
}

// How a split must resolve: any way, by pushing data into a sibling (no new leaf), or by
// adding a node.
enum class SplitShape { any, push, grow };

struct ScenarioSpec {
  unsigned int flags;   // MT_FLAGS_ALLOC_RANGE or 0
  bool rcu;
  long fill;            // -1: empty tree; 0: a root entry at index 0; n: fill_tens(n)
  store_type type;
  SplitShape shape = SplitShape::any;

  std::string name() const {
    return fmt::format("{}{} {} fill {}{}", flags ? "alloc" : "plain", rcu ? " rcu" : "", store_type_name(type), fill,
                       shape == SplitShape::push ? " (push)" : shape == SplitShape::grow ? " (grow)" : "");
  }
};

// [i*10, i*10+5] = xa_mk_value(i) for i < count.
inline void fill_tens(maple_tree* mt, long count) {
  for (long i = 0; i < count; ++i)
    ASSERT_EQ(mtree_store_range(mt, i * 10, i * 10 + 5, xa_mk_value(i), GFP_KERNEL), 0);
}

inline void build_tree(maple_tree* mt, const ScenarioSpec& spec) {
  mt_init_flags(mt, spec.flags);
  if (spec.fill == 0) ASSERT_EQ(mtree_store(mt, 0, xa_mk_value(0), GFP_KERNEL), 0);
  else if (spec.fill > 0) fill_tens(mt, spec.fill);
  // Larger trees: fill part of each gap too, so leaves end up at every occupancy from
  // just split (half full) to full, and pushes are reachable. A split that adds a leaf
  // needs full neighbours: the ascending load alone packs its leaves as the kernel's
  // does (15-16 entries), where a split cannot push into a sibling.
  if (spec.fill >= 50 && spec.shape != SplitShape::grow) {
    for (long i = 0; i < spec.fill; ++i) {
      if (i % 4 == 3) continue;
      ASSERT_EQ(mtree_store_range(mt, i * 10 + 6, i * 10 + 7, xa_mk_value(i + 100000), GFP_KERNEL), 0);
    }
  }
  if (spec.rcu) mt_set_in_rcu(mt);
  rcu_barrier();
}

struct Store {
  unsigned long index;
  unsigned long last;
  void* entry;
  unsigned long request;  // mas_prealloc_request's answer
};

inline store_type classify(maple_tree* mt, unsigned long index, unsigned long last, void* entry,
                           unsigned long* request) {
  MA_STATE(mas, mt, index, last);
  store_type type = wr_invalid;
  *request = mas_prealloc_request(&mas, entry, &type);
  return type;
}

// Applies the store to a copy of mt and reports how the node count changed.
inline long node_delta_of(maple_tree* mt, const Store& s) {
  DEFINE_MTREE(copy);
  mt_init_flags(&copy, mt->ma_flags);  // __mt_dup wants the same attributes
  EXPECT_EQ(mtree_dup(mt, &copy, GFP_KERNEL), 0);
  mt_clear_in_rcu(&copy);
  const long before = static_cast<long>(count_tree_nodes(&copy));
  EXPECT_EQ(mtree_store_range(&copy, s.index, s.last, s.entry, GFP_KERNEL), 0);
  const long after = static_cast<long>(count_tree_nodes(&copy));
  mtree_destroy(&copy);
  return after - before;
}

// Finds a store of the wanted type in the tree built for spec.
inline std::optional<Store> find_store(maple_tree* mt, const ScenarioSpec& spec) {
  mmt::Rng rng(0xc0ffee ^ static_cast<uint64_t>(spec.type) ^ (static_cast<uint64_t>(spec.fill) << 8));
  const unsigned long space = spec.fill > 0 ? static_cast<unsigned long>(spec.fill) * 10 + 30 : 64;
  static constexpr unsigned long kLengths[] = {0, 0, 1, 2, 3, 5, 9, 15, 25, 40, 70, 150, 400, 1200};
  for (int attempt = 0; attempt < 40000; ++attempt) {
    Store s;
    if (attempt == 0) {
      s = {0, ULONG_MAX, xa_mk_value(4242), 0};
    } else {
      s.index = rng.below(space);
      const unsigned long len = kLengths[rng.below(std::size(kLengths))];
      s.last = rng.chance(0.03) ? ULONG_MAX : s.index + len;
      s.entry = rng.chance(0.4) ? nullptr : xa_mk_value(5000 + static_cast<unsigned long>(attempt));
    }
    if (classify(mt, s.index, s.last, s.entry, &s.request) != spec.type) continue;
    if (spec.type == wr_split_store && spec.shape != SplitShape::any) {
      const long delta = node_delta_of(mt, s);
      if (spec.shape == SplitShape::push && delta != 0) continue;
      if (spec.shape == SplitShape::grow && delta <= 0) continue;
    }
    return s;
  }
  return std::nullopt;
}

// The scenarios every store type gets: each type in non-RCU and RCU mode, plain and
// allocation-range trees, at several heights.
inline std::vector<ScenarioSpec> all_scenarios() {
  std::vector<ScenarioSpec> out;
  for (bool rcu : {false, true}) {
    for (unsigned int flags : {0u, static_cast<unsigned>(MT_FLAGS_ALLOC_RANGE)}) {
      out.push_back({flags, rcu, -1, wr_store_root});
      out.push_back({flags, rcu, 0, wr_store_root});
      out.push_back({flags, rcu, 8, wr_exact_fit});
      out.push_back({flags, rcu, 300, wr_exact_fit});
      if (!rcu) {
        out.push_back({flags, rcu, 5, wr_append});
        out.push_back({flags, rcu, 300, wr_append});
      }
      out.push_back({flags, rcu, 5, wr_slot_store});
      out.push_back({flags, rcu, 300, wr_slot_store});
      out.push_back({flags, rcu, 5, wr_node_store});
      out.push_back({flags, rcu, 300, wr_node_store});
      out.push_back({flags, rcu, 8, wr_split_store});  // root leaf split: a new root
      out.push_back({flags, rcu, 100, wr_split_store, SplitShape::grow});
      out.push_back({flags, rcu, 100, wr_split_store, SplitShape::push});
      out.push_back({flags, rcu, 1500, wr_split_store, SplitShape::grow});
      out.push_back({flags, rcu, 100, wr_rebalance});
      out.push_back({flags, rcu, 1500, wr_rebalance});
      out.push_back({flags, rcu, 100, wr_spanning_store});
      out.push_back({flags, rcu, 1500, wr_spanning_store});
      out.push_back({flags, rcu, 5, wr_new_root});
    }
  }
  return out;
}

}  // namespace mmt::maple::test
