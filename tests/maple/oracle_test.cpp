// Oracle test: replays ../shared/oracle's recorded operation streams (answered by the
// Linux kernel's own lib/maple_tree.c) through the kernel API facade and requires the
// same answer to every operation. Format: tests/maple/oracle/README.md.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cinttypes>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "mmtorture/maple/kernel_api.h"
#include "oracle_replay.h"

namespace {

using namespace mmt::maple::oracle;

// Every answer must be the recording's, seed 1001's op 32 included:
// mas_empty_area_rev(0xfffffffffffe78cd, ULONG_MAX, 0xd9) is -EBUSY although the empty
// [0x7f000000e76f, 0xfffffffffffffa3a] holds the size, because 6.12's reverse walk never
// enters the root's first slot for a window ending at ULONG_MAX (src/maple/gap.cpp;
// tests/kernel/oracle_version_test.cpp has 6.12 answer it so).
void replay_oracle(const std::string& file) {
  const auto lines = read_gz_lines(std::string(MMT_ORACLE_DIR) + "/" + file);
  ASSERT_GT(lines.size(), 50000u) << "cannot read " << file;
  DEFINE_MTREE(tree);
  mt_init_flags(&tree, MT_FLAGS_ALLOC_RANGE);
  size_t i = 0;
  unsigned long ops = 0;
  unsigned long mismatches = 0;
  while (i < lines.size() && lines[i].rfind("digest", 0) != 0) {
    const std::string& line = lines[i];
    const auto bar = line.find(" | ");
    ASSERT_NE(bar, std::string::npos) << line;
    int op = 0;
    unsigned long idx = 0, last = 0, len = 0, val = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "%d %lx %lx %lx %lx", &op, &idx, &last, &len, &val), 5) << line;
    const auto got = run_model_op(&tree, op, idx, last, len, val);
    for (const std::string& result : got) {
      ASSERT_LT(i, lines.size());
      const std::string expected = lines[i].substr(lines[i].find(" | ") + 3);
      if (result != expected) {
        ++mismatches;
        if (mismatches <= 8) ADD_FAILURE() << file << " line " << i + 1 << " (op #" << ops << "): " << lines[i] << "\n  got: " << result;
        if (op <= 3 || op == 10) { ADD_FAILURE() << "mutating op diverged; stopping"; return; }
      }
      ++i;
    }
    ++ops;
    if (ops % 997 == 0) {
      auto failure = mmt::maple::validate_tree(&tree);
      ASSERT_FALSE(failure.has_value()) << failure->message << "\n" << failure->dump;
    }
  }
  auto failure = mmt::maple::validate_tree(&tree);
  ASSERT_FALSE(failure.has_value()) << failure->message;
  EXPECT_EQ(ops, 50000u);
  EXPECT_EQ(mismatches, 0u);
  mtree_destroy(&tree);
  EXPECT_EQ(mt_nr_allocated(), 0);
}

}  // namespace

TEST(MapleOracle, KernelSeed1001) { replay_oracle("maple-kernel-seed1001.txt.gz"); }
TEST(MapleOracle, KernelSeed1002) { replay_oracle("maple-kernel-seed1002.txt.gz"); }
