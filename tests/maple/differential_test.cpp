// Differential test: the maple tree against a std::map interval model over more than
// 10^6 seeded random operations (stores of values and NULLs, inserts, erases, loads,
// walks, find/next/prev in both directions, free-area searches and range allocation).
// Every answer is compared as it is produced; every few hundred operations the whole
// tree is iterated against the model, and mt_validate runs regularly. Key spaces range
// from a few thousand dense indices (deep trees: splits, rebalances, spanning stores)
// to sparse 64-bit keys with ranges touching 0 and ULONG_MAX. Each configuration is
// its own TEST so ctest can run them in parallel; a failure prints the seed and the
// operation number so it can be replayed alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "maple_test_util.h"
#include "mmtorture/core/rng.h"
#include "mmtorture/maple/gap_reach.h"
#include "mmtorture/maple/interval_model.h"
#include "mmtorture/maple/kernel_api.h"

using mmt::maple::test::Range;

namespace {

// The shared oracle (maple/interval_model.h), holding the entries themselves.
using IntervalModel = mmt::maple::IntervalModel<void*>;

Range as_range(const IntervalModel::Range& r) { return Range{r.index, r.last, r.value}; }
std::optional<Range> as_range(const std::optional<IntervalModel::Range>& r) {
  return r ? std::optional<Range>(as_range(*r)) : std::nullopt;
}

// The fit the kernel's rule picks for [min, max] (min <= max, size >= 1, size fits) in
// `tree`, whose root decides how far down a reverse search reaches (gap_reach.h).
std::optional<Range> model_empty_area(const IntervalModel& model, const maple_tree* tree, unsigned long min,
                                      unsigned long max, unsigned long size, bool reverse) {
  unsigned long index, floor = 0;
  if (reverse && !mmt::maple::mt_rev_area_floor(tree, max, &floor)) return std::nullopt;
  if (!model.empty_area(std::max(min, floor), max, size, reverse, &index)) return std::nullopt;
  return Range{index, index + size - 1, nullptr};
}

struct Config {
  const char* name;
  uint64_t seed;
  unsigned long ops;
  unsigned int flags;     // MT_FLAGS_ALLOC_RANGE or 0
  bool rcu;               // run in RCU mode (copy-on-write, deferred frees)
  bool sparse;            // keys anywhere in [0, ULONG_MAX]
  unsigned long space;    // dense: keys in [0, space)
  unsigned long max_len;  // typical range length
  unsigned long phase;    // ops per fill (store-heavy) or drain (erase-heavy) phase
};

class Differential {
 public:
  explicit Differential(const Config& cfg) : cfg_(cfg), rng_(cfg.seed) {
    mt_init_flags(&tree_, cfg.flags);
    if (cfg.rcu) mt_set_in_rcu(&tree_);
  }
  // A failed assertion returns early: the tree must still be freed.
  ~Differential() {
    mtree_destroy(&tree_);
    rcu_barrier();
  }
  Differential(const Differential&) = delete;
  Differential& operator=(const Differential&) = delete;

  void run() {
    for (op_ = 0; op_ < cfg_.ops; ++op_) {
      step();
      if (::testing::Test::HasFatalFailure() || failures_ > 10) return;
      if (op_ % 397 == 0) full_diff();
      if (op_ % 1009 == 0) validate();
      if (cfg_.rcu && op_ % 1500 == 0) rcu_barrier();
      if (::testing::Test::HasFatalFailure() || failures_ > 10) return;
    }
    full_diff();
    validate();
    max_height_seen_ = std::max(max_height_seen_, mt_height(&tree_));
    mtree_destroy(&tree_);
    rcu_barrier();
    EXPECT_EQ(mt_nr_allocated(), 0) << where();
  }

  unsigned max_height_seen() const { return max_height_seen_; }

 private:
  std::string where() const { return fmt::format("[{} seed {} op {}]", cfg_.name, cfg_.seed, op_); }

  unsigned long key() {
    if (!cfg_.sparse) return rng_.below(cfg_.space);
    switch (rng_.below(8)) {
      case 0: return rng_.below(64);                   // near 0
      case 1: return ULONG_MAX - rng_.below(64);       // near ULONG_MAX
      case 2: return rng_.below(1ul << 20);            // a dense low region
      default: return rng_.next();
    }
  }

  unsigned long length() {
    if (rng_.chance(0.004)) {
      // Occasionally a long range: a spanning store over many leaves.
      const unsigned long span = cfg_.sparse ? (1ul << 62) : cfg_.space / 4;
      return rng_.below(span);
    }
    return rng_.below(cfg_.max_len);
  }

  void range(unsigned long* index, unsigned long* last) {
    *index = key();
    const unsigned long len = length();
    *last = *index > ULONG_MAX - len ? ULONG_MAX : *index + len;
  }

  void* value() { return xa_mk_value(++next_value_ & (ULONG_MAX >> 2)); }

  void check_range(const char* what, void* got, unsigned long index, unsigned long last,
                   const std::optional<Range>& want) {
    const void* want_entry = want ? want->entry : nullptr;
    bool ok = got == want_entry;
    if (ok && want) ok = index == want->index && last == want->last;
    if (!ok) {
      ++failures_;
      ADD_FAILURE() << where() << " " << what << ": got " << got << " [" << std::hex << index << ", " << last
                    << "] want " << want_entry << " [" << (want ? want->index : 0) << ", " << (want ? want->last : 0)
                    << "]\n" << mmt::maple::mt_dump_string(&tree_, mt_dump_hex);
    }
  }

  void step() {
    // Alternate fill and drain phases so trees grow deep and then collapse again.
    const bool fill = (op_ / cfg_.phase) % 2 == 0;
    const unsigned pick = static_cast<unsigned>(rng_.below(100));
    unsigned long index, last;
    range(&index, &last);
    if (pick < (fill ? 30u : 12u)) {
      void* entry = value();
      ASSERT_EQ(mtree_store_range(&tree_, index, last, entry, GFP_KERNEL), 0) << where();
      model_.store(index, last, entry);
    } else if (pick < 40) {
      ASSERT_EQ(mtree_store_range(&tree_, index, last, nullptr, GFP_KERNEL), 0) << where();
      model_.store(index, last, nullptr);
    } else if (pick < (fill ? 48u : 44u)) {
      void* entry = value();
      const int want = model_.range_empty(index, last) ? 0 : -EEXIST;
      ASSERT_EQ(mtree_insert_range(&tree_, index, last, entry, GFP_KERNEL), want) << where();
      if (want == 0) model_.store(index, last, entry);
    } else if (pick < 60) {
      // Erase: half the time at an index known to be occupied.
      if (rng_.chance(0.5) && !model_.map().empty()) {
        auto it = model_.map().lower_bound(index);
        if (it == model_.map().end()) it = model_.map().begin();
        index = it->first + rng_.below(it->second.last - it->first + 1 < 4 ? it->second.last - it->first + 1 : 4);
      }
      const auto want = as_range(model_.at(index));
      void* got = mtree_erase(&tree_, index);
      ASSERT_EQ(got, want ? want->entry : nullptr) << where() << " erase " << index;
      if (want) model_.store(want->index, want->last, nullptr);
    } else if (pick < 68) {
      const auto want = as_range(model_.at(index));
      ASSERT_EQ(mtree_load(&tree_, index), want ? want->entry : nullptr) << where() << " load " << index;
    } else if (pick < 76) {
      walk_next_prev(index);
    } else if (pick < 84) {
      find(index, last);
    } else if (pick < 96) {
      empty_area(index, last);
    } else {
      alloc_range(index, last);
    }
  }

  void walk_next_prev(unsigned long index) {
    rcu_read_lock();
    MA_STATE(mas, &tree_, index, index);
    void* got = mas_walk(&mas);
    const Range want = as_range(model_.slot(index));
    check_range("walk", got, mas.index, mas.last, want);
    const bool forward = rng_.chance(0.5);
    const unsigned long limit = forward ? (rng_.chance(0.5) ? ULONG_MAX : key()) : (rng_.chance(0.5) ? 0 : key());
    unsigned long from_index = want.index, from_last = want.last;
    for (int i = 0; i < 3; ++i) {
      std::optional<Range> expect;
      if (forward) {
        expect = as_range(model_.next_after(from_last, limit));
        got = mas_next(&mas, limit);
      } else {
        expect = as_range(model_.prev_before(from_index, limit));
        got = mas_prev(&mas, limit);
      }
      check_range(forward ? "walk+next" : "walk+prev", got, got ? mas.index : 0, got ? mas.last : 0, expect);
      if (!expect || !got) break;
      from_index = expect->index;
      from_last = expect->last;
    }
    rcu_read_unlock();
  }

  void find(unsigned long index, unsigned long limit_hint) {
    rcu_read_lock();
    const bool forward = rng_.chance(0.5);
    MA_STATE(mas, &tree_, index, index);
    if (forward) {
      const unsigned long max = rng_.chance(0.5) ? ULONG_MAX : limit_hint;
      std::optional<Range> expect = as_range(model_.at(index));
      if (!expect) expect = as_range(model_.next_after(index, max));
      for (int i = 0; i < 4; ++i) {
        void* got = mas_find(&mas, max);
        check_range("find", got, got ? mas.index : 0, got ? mas.last : 0, expect);
        if (!expect || !got) break;
        expect = as_range(model_.next_after(expect->last, max));
      }
    } else {
      const unsigned long back = length();
      const unsigned long min = rng_.chance(0.5) ? 0 : (index > back ? index - back : 0);
      // The range holding index, else the last range ending below it (and not below min).
      std::optional<Range> expect = as_range(model_.at(index));
      if (!expect) expect = as_range(model_.prev_before(index, min));
      for (int i = 0; i < 4; ++i) {
        void* got = mas_find_rev(&mas, min);
        check_range("find_rev", got, got ? mas.index : 0, got ? mas.last : 0, expect);
        if (!expect || !got) break;
        expect = as_range(model_.prev_before(expect->index, min));
      }
    }
    // mt_find: the first entry at or after index, index moved past it.
    unsigned long cursor = index;
    const unsigned long max = rng_.chance(0.5) ? ULONG_MAX : limit_hint;
    std::optional<Range> expect = as_range(model_.at(index));
    if (!expect) expect = as_range(model_.next_after(index, max));
    void* got = mt_find(&tree_, &cursor, max);
    EXPECT_EQ(got, expect ? expect->entry : nullptr) << where() << " mt_find " << index;
    if (got && expect) {
      EXPECT_EQ(cursor, expect->last + 1) << where();
    }
    rcu_read_unlock();
  }

  void empty_area(unsigned long min, unsigned long max) {
    // Mostly small sizes; sometimes large, zero or larger than the window.
    unsigned long size = 1 + rng_.below(rng_.chance(0.9) ? 8 : (cfg_.sparse ? ULONG_MAX / 2 : cfg_.space));
    if (rng_.chance(0.02)) size = 0;
    if (rng_.chance(0.2)) max = ULONG_MAX;
    if (rng_.chance(0.02)) std::swap(min, max);
    const bool reverse = rng_.chance(0.5);
    MA_STATE(mas, &tree_, 0, 0);
    rcu_read_lock();
    const int ret = reverse ? mas_empty_area_rev(&mas, min, max, size) : mas_empty_area(&mas, min, max, size);
    rcu_read_unlock();
    int want_ret;
    std::optional<Range> want;
    if (min > max || size == 0 || max - min < size - 1) {
      want_ret = -EINVAL;
    } else {
      want = model_empty_area(model_, &tree_, min, max, size, reverse);
      want_ret = want ? 0 : -EBUSY;
    }
    ASSERT_EQ(ret, want_ret) << where() << (reverse ? " empty_area_rev(" : " empty_area(") << std::hex << min << ", "
                             << max << ", " << size << ")\n" << mmt::maple::mt_dump_string(&tree_, mt_dump_hex);
    if (ret == 0) {
      EXPECT_EQ(mas.index, want->index) << where() << " empty_area index " << (reverse ? "rev " : "") << std::hex << min
                                        << " " << max << " " << size << "\n" << mmt::maple::mt_dump_string(&tree_, mt_dump_hex);
      EXPECT_EQ(mas.last, want->last) << where() << " empty_area last";
    }
  }

  void alloc_range(unsigned long min, unsigned long max) {
    const unsigned long size = 1 + rng_.below(cfg_.max_len);
    if (rng_.chance(0.3)) max = ULONG_MAX;
    const bool reverse = rng_.chance(0.5);
    void* entry = value();
    unsigned long start = 0;
    const int ret = reverse ? mtree_alloc_rrange(&tree_, &start, entry, size, min, max, GFP_KERNEL)
                            : mtree_alloc_range(&tree_, &start, entry, size, min, max, GFP_KERNEL);
    if (!(cfg_.flags & MT_FLAGS_ALLOC_RANGE)) {
      ASSERT_EQ(ret, -EINVAL) << where();
      return;
    }
    std::optional<Range> want;
    int want_ret;
    if (min > max || max - min < size - 1) {
      want_ret = -EINVAL;
    } else {
      want = model_empty_area(model_, &tree_, min, max, size, reverse);
      want_ret = want ? 0 : -EBUSY;
    }
    ASSERT_EQ(ret, want_ret) << where() << " alloc_range";
    if (ret == 0) {
      ASSERT_EQ(start, want->index) << where() << " alloc_range start";
      model_.store(want->index, want->last, entry);
    }
  }

  void full_diff() {
    max_height_seen_ = std::max(max_height_seen_, mt_height(&tree_));
    max_ranges_seen_ = std::max(max_ranges_seen_, model_.map().size());
    const auto got = mmt::maple::test::tree_ranges(&tree_);
    auto it = model_.map().begin();
    size_t i = 0;
    for (; i < got.size() && it != model_.map().end(); ++i, ++it) {
      if (got[i] != Range{it->first, it->second.last, it->second.value}) break;
    }
    if (i != got.size() || it != model_.map().end()) {
      ++failures_;
      ADD_FAILURE() << where() << " tree and model differ at range #" << i << " (tree has " << got.size() << ", model "
                    << model_.map().size() << ")\n"
                    << (i < got.size()
                            ? fmt::format("tree  [{:#x}, {:#x}] {}\n", got[i].index, got[i].last, got[i].entry)
                            : std::string("tree  end\n"))
                    << (it != model_.map().end()
                            ? fmt::format("model [{:#x}, {:#x}] {}\n", it->first, it->second.last, it->second.value)
                            : std::string("model end\n"));
    }
  }

  void validate() {
    auto failure = mmt::maple::validate_tree(&tree_);
    if (failure) {
      ++failures_;
      ADD_FAILURE() << where() << " " << failure->check << ": " << failure->message << "\n" << failure->dump;
    }
    // Node accounting: every live node is in the tree or waiting for RCU.
    EXPECT_EQ(mmt::maple::test::stray_nodes({&tree_}), 0) << where();
  }

  Config cfg_;
  mmt::Rng rng_;
  IntervalModel model_;
  maple_tree tree_{};
  unsigned long op_ = 0;
  unsigned long next_value_ = 0;
  unsigned long failures_ = 0;
  unsigned max_height_seen_ = 0;
  size_t max_ranges_seen_ = 0;

 public:
  size_t max_ranges_seen() const { return max_ranges_seen_; }
};

class MapleDifferential : public MapleFixture {
 protected:
  void run(const Config& cfg, unsigned min_height) {
    std::printf("%s: seed %llu, %lu ops\n", cfg.name, static_cast<unsigned long long>(cfg.seed), cfg.ops);
    Differential d(cfg);
    d.run();
    std::printf("%s: max height %u, max %zu ranges\n", cfg.name, d.max_height_seen(), d.max_ranges_seen());
    // The configuration is meant to build deep trees; make sure it still does.
    EXPECT_GE(d.max_height_seen(), min_height) << cfg.name;
  }
};

constexpr unsigned int kAlloc = MT_FLAGS_ALLOC_RANGE;

TEST_F(MapleDifferential, AllocDenseSmallKeys) {
  run({"alloc-dense-small", 0x5eed0001, 200000, kAlloc, false, false, 3000, 3, 20000}, 4);
}
TEST_F(MapleDifferential, PlainDenseSmallKeys) {
  run({"plain-dense-small", 0x5eed0002, 200000, 0, false, false, 3000, 3, 20000}, 3);
}
TEST_F(MapleDifferential, AllocDenseLargeKeys) {
  run({"alloc-dense-large", 0x5eed0003, 300000, kAlloc, false, false, 400000, 8, 100000}, 5);
}
TEST_F(MapleDifferential, PlainDenseLargeKeys) {
  run({"plain-dense-large", 0x5eed0004, 300000, 0, false, false, 400000, 8, 100000}, 4);
}
TEST_F(MapleDifferential, AllocSparseKeys) {
  run({"alloc-sparse", 0x5eed0005, 150000, kAlloc, false, true, 0, 1ul << 32, 50000}, 4);
}
TEST_F(MapleDifferential, PlainSparseKeys) {
  run({"plain-sparse", 0x5eed0006, 150000, 0, false, true, 0, 1ul << 32, 50000}, 3);
}
TEST_F(MapleDifferential, AllocDenseRcu) {
  run({"alloc-dense-rcu", 0x5eed0007, 120000, kAlloc, true, false, 6000, 3, 20000}, 4);
}
TEST_F(MapleDifferential, PlainDenseRcu) {
  run({"plain-dense-rcu", 0x5eed0008, 100000, 0, true, false, 6000, 3, 20000}, 3);
}

}  // namespace
