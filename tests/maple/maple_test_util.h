// Helpers shared by the maple tree tests: a fixture that resets the harness allocator
// and asserts zero live nodes at teardown (style.md §7), a whole-tree snapshot for
// "unchanged"/"as expected" comparisons, and a validation assertion that prints the
// failed check with the tree dump.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <fmt/format.h>

#include "mmtorture/core/failure.h"
#include "mmtorture/maple/kernel_api.h"

namespace mmt::maple::test {

// One stored range as iteration reports it.
struct Range {
  unsigned long index;
  unsigned long last;
  void* entry;
  bool operator==(const Range&) const = default;
};

inline std::string describe(const std::vector<Range>& ranges) {
  std::string out;
  for (const Range& r : ranges)
    out += fmt::format("  [{:#x}, {:#x}] -> {:#x}\n", r.index, r.last, reinterpret_cast<unsigned long>(r.entry));
  return out;
}

// Every non-NULL range in the tree (XA_ZERO_ENTRY included), in index order.
inline std::vector<Range> tree_ranges(maple_tree* mt) {
  std::vector<Range> out;
  MA_STATE(mas, mt, 0, 0);
  void* entry;
  rcu_read_lock();
  mas_for_each(&mas, entry, ULONG_MAX) {
    out.push_back({mas.index, mas.last, entry});
    if (mas.last == ULONG_MAX) break;
  }
  rcu_read_unlock();
  return out;
}

// Nodes the allocator has handed out that are neither in a tree nor awaiting RCU.
inline long stray_nodes(std::initializer_list<const maple_tree*> trees) {
  long expected = static_cast<long>(mmt::rcu_backend().pending_callbacks());
  for (const maple_tree* mt : trees) expected += static_cast<long>(count_tree_nodes(mt));
  return static_cast<long>(node_allocator().live_nodes()) - expected;
}

inline void reset_test_allocator() {
  TestNodeAllocator& alloc = default_test_allocator();
  alloc.set_non_kernel(0);
  alloc.set_fail_nth(0);
  alloc.set_nowait_succeeds(false);
  alloc.set_callback(nullptr);
  alloc.reset_counters();
}

// Destroys a tree when a test leaves its scope, even through a failed ASSERT (with the
// lock possibly still held), so one failure does not leak into every later test.
struct TreeGuard {
  maple_tree* mt;
  explicit TreeGuard(maple_tree* tree) : mt(tree) {}
  ~TreeGuard() {
    mt->ma_lock.locked = 0;
    mtree_destroy(mt);
  }
  TreeGuard(const TreeGuard&) = delete;
  TreeGuard& operator=(const TreeGuard&) = delete;
};

}  // namespace mmt::maple::test

// Validates the tree; on failure the assertion names the check and prints the dump.
#define EXPECT_TREE_VALID(mt)                                                                       \
  do {                                                                                              \
    auto mmt_failure_ = mmt::maple::validate_tree(mt);                                              \
    EXPECT_FALSE(mmt_failure_.has_value()) << mmt_failure_->check << ": " << mmt_failure_->message \
                                           << "\n" << mmt_failure_->dump;                           \
  } while (0)
#define ASSERT_TREE_VALID(mt)                                                                       \
  do {                                                                                              \
    auto mmt_failure_ = mmt::maple::validate_tree(mt);                                              \
    ASSERT_FALSE(mmt_failure_.has_value()) << mmt_failure_->check << ": " << mmt_failure_->message \
                                           << "\n" << mmt_failure_->dump;                           \
  } while (0)

// Fixture: each test starts with a clean harness allocator and must end with no node
// alive once every RCU callback has run.
class MapleFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    rcu_barrier();
    mmt::maple::test::reset_test_allocator();
    ASSERT_EQ(mt_nr_allocated(), 0) << "an earlier test leaked maple nodes";
  }
  void TearDown() override {
    mmt::maple::test::reset_test_allocator();
    rcu_barrier();
    EXPECT_EQ(mt_nr_allocated(), 0) << "maple nodes leaked";
  }
};
