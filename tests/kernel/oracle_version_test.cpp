// SPDX-License-Identifier: GPL-2.0-only
// Whose answer is the oracle's? tests/maple/oracle/ holds two streams of 50,000
// operations answered by a mainline kernel's lib/maple_tree.c (2026). Here the same
// inputs go to the kernel backend's tree and to the model side by side. On 6.12, the
// model's declared reference, the kernel answers every one of the 100,000 operations as
// the recording does, and so does the model. Seed 1001's op 32, a mas_empty_area_rev
// over [0xfffffffffffe78cd, ULONG_MAX] that the recording answers -EBUSY although the
// empty [0x7f000000e76f, 0xfffffffffffffa3a] holds the size, was the model's one
// divergence until it learnt 6.12's rule: the reverse walk counts the
// room under the window's end as max - slot_min + 1, which wraps to 0 for the root's
// first slot when max is ULONG_MAX (src/maple/gap.cpp).
#include <gtest/gtest.h>
#include <zlib.h>

#include <climits>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "mmtorture/core/choice.h"
#include "mmtorture/kernel/kernel_tree.h"
#include "mmtorture/maple/kernel_api.h"
#include "mmtorture/mem/memory.h"
#include "mmtorture/mem/slab.h"
#include "oracle_replay.h"

namespace mmt::kernel {
namespace {

using maple::oracle::line_of;
using maple::oracle::read_gz_lines;
using maple::oracle::run_model_op;

bool reference_kernel() { return std::string(kernel_version()).rfind("6.12.", 0) == 0; }

// One recorded input (tests/maple/oracle/README.md's table) on the kernel's tree, as
// the result lines the recording prints.
std::vector<std::string> run_kernel(KernelTree& t, int op, unsigned long idx, unsigned long last, unsigned long len,
                                    unsigned long val) {
  void* value = reinterpret_cast<void*>(val);
  std::vector<std::string> out;
  switch (op) {
    case 0:
    case 1:
      out.push_back(line_of("store", t.mtree_store_range(idx, last, value, gfp::kKernel), idx, last, value));
      break;
    case 2:
      out.push_back(line_of("insert", t.mtree_insert_range(idx, last, val ? value : xa_value(1), gfp::kKernel), idx,
                            last, nullptr));
      break;
    case 3: out.push_back(line_of("erase", 0, idx, 0, t.mtree_erase(idx))); break;
    case 4: out.push_back(line_of("load", 0, idx, 0, t.mtree_load(idx))); break;
    case 5: {
      KernelState mas(t, idx, idx);
      t.mtree_lock();
      void* e = mas.mas_walk();
      t.mtree_unlock();
      out.push_back(line_of("walk", 0, mas.index(), mas.last(), e));
      break;
    }
    case 6:
    case 7: {
      KernelState mas(t, idx, idx);
      t.mtree_lock();
      void* e = op == 6 ? mas.mas_find(ULONG_MAX) : mas.mas_find_rev(0);
      out.push_back(line_of(op == 6 ? "find" : "find_rev", 0, e ? mas.index() : 0, e ? mas.last() : 0, e));
      if (e) {
        void* e2 = op == 6 ? mas.mas_next(ULONG_MAX) : mas.mas_prev(0);
        out.push_back(line_of(op == 6 ? "next" : "prev", 0, e2 ? mas.index() : 0, e2 ? mas.last() : 0, e2));
      }
      t.mtree_unlock();
      break;
    }
    case 8:
    case 9: {
      KernelState mas(t, 0, 0);
      const unsigned long lo = idx > 100000 ? idx - 100000 : 0;
      t.mtree_lock();
      const int ret = op == 8 ? mas.mas_empty_area(lo, last, len + 1) : mas.mas_empty_area_rev(lo, last, len + 1);
      t.mtree_unlock();
      out.push_back(
          line_of(op == 8 ? "empty" : "empty_rev", ret, ret ? 0 : mas.index(), ret ? 0 : mas.last(), nullptr));
      break;
    }
    case 10: {
      unsigned long start = 0;
      const int ret = t.mtree_alloc_range(&start, xa_value(7), len + 1, idx, ULONG_MAX, gfp::kKernel);
      out.push_back(line_of("alloc", ret, ret ? 0 : start, 0, nullptr));
      break;
    }
    case 11: {
      KernelState mas(t, 0, 0);
      unsigned long n = 0, h = 0;
      t.mtree_lock();
      while (void* e = mas.mas_find(ULONG_MAX)) {
        ++n;
        h = h * 31 + mas.index() * 7 + mas.last() + reinterpret_cast<unsigned long>(e);
      }
      t.mtree_unlock();
      out.push_back(line_of("scan", n, h, 0, nullptr));
      break;
    }
    default: ADD_FAILURE() << "unknown op " << op;
  }
  return out;
}

struct World {
  static mem::MemConfig config() {
    mem::MemConfig c;
    c.pages = 16384;
    return c;
  }
  World() : choices(1), memory(config(), choices), nodes(memory, "maple_node", 256, 256), env(nodes) {}
  SeededChoices choices;
  mem::Memory memory;
  mem::KmemCache nodes;
  KernelEnv env;
};

struct Outcome {
  unsigned long ops = 0;
  std::vector<unsigned long> model_vs_kernel;  // ops where the model and the kernel differ
  std::vector<unsigned long> vs_recording;     // ops where the kernel differs from the recording
};

// Replays one recording on both trees; stops at the first difference that changed a
// tree (the streams are no longer comparable after it).
Outcome replay(const std::string& file) {
  Outcome outcome;
  const auto lines = read_gz_lines(std::string(MMT_ORACLE_DIR) + "/" + file);
  EXPECT_GT(lines.size(), 50000u) << "cannot read " << file;
  World world;
  KernelTree kernel(KernelTree::kAllocRange);
  DEFINE_MTREE(model);
  mt_init_flags(&model, MT_FLAGS_ALLOC_RANGE);
  size_t i = 0;
  while (i < lines.size() && lines[i].rfind("digest", 0) != 0) {
    int op = 0;
    unsigned long idx = 0, last = 0, len = 0, val = 0;
    if (std::sscanf(lines[i].c_str(), "%d %lx %lx %lx %lx", &op, &idx, &last, &len, &val) != 5) {
      ADD_FAILURE() << file << " line " << i + 1 << ": " << lines[i];
      break;
    }
    const auto from_kernel = run_kernel(kernel, op, idx, last, len, val);
    const auto from_model = run_model_op(&model, op, idx, last, len, val);
    bool differs_from_recording = false;
    for (size_t k = 0; k < from_kernel.size() && i < lines.size(); ++k, ++i) {
      const auto bar = lines[i].find(" | ");
      if (bar == std::string::npos || lines[i].substr(bar + 3) != from_kernel[k]) differs_from_recording = true;
    }
    if (differs_from_recording) outcome.vs_recording.push_back(outcome.ops);
    if (from_kernel != from_model) {
      outcome.model_vs_kernel.push_back(outcome.ops);
      if (op <= 3 || op == 10) {
        ADD_FAILURE() << file << " op #" << outcome.ops << " changed the trees differently: kernel " << kernel_version()
                      << " answered " << from_kernel.front() << ", the model " << from_model.front();
        break;
      }
    }
    ++outcome.ops;
  }
  kernel.mt_validate();
  kernel.mtree_destroy();
  mtree_destroy(&model);
  return outcome;
}

TEST(KernelOracle, SixTwelveAndTheModelAnswerAsTheRecording) {
  if (!reference_kernel()) GTEST_SKIP() << "the model's reference is 6.12";
  const Outcome seed1001 = replay("maple-kernel-seed1001.txt.gz");
  EXPECT_EQ(seed1001.ops, 50000u);
  EXPECT_TRUE(seed1001.vs_recording.empty()) << "6.12 differs from the recording at op #" << seed1001.vs_recording[0];
  EXPECT_TRUE(seed1001.model_vs_kernel.empty()) << "the model differs from 6.12 at op #" << seed1001.model_vs_kernel[0];
  const Outcome seed1002 = replay("maple-kernel-seed1002.txt.gz");
  EXPECT_EQ(seed1002.ops, 50000u);
  EXPECT_TRUE(seed1002.vs_recording.empty()) << "6.12 differs from the recording at op #" << seed1002.vs_recording[0];
  EXPECT_TRUE(seed1002.model_vs_kernel.empty()) << "the model differs from 6.12 at op #" << seed1002.model_vs_kernel[0];
}

}  // namespace
}  // namespace mmt::kernel
