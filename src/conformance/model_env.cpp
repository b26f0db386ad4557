// SPDX-License-Identifier: GPL-2.0-only
// The kernel environment of the model flavour (model/linux/maple_tree.h): the check's
// log (printk, the dumps), BUG_ON/WARN_ON as Failures, the assertion counters, and
// maple_tree_init() making the model's node allocator behave as a kernel slab.
#include "model_env.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>

#include <linux/maple_tree.h>

#include "mmtorture/core/failure.h"
#include "mmtorture/maple/validate.h"

atomic_t maple_tree_tests_run;
atomic_t maple_tree_tests_passed;

namespace {
constexpr size_t kLogMaxBytes = 4u << 20;  // a runaway dump is cut, not unbounded
std::string model_log;

void log_append(std::string_view text) {
  if (model_log.size() < kLogMaxBytes) model_log.append(text.substr(0, kLogMaxBytes - model_log.size()));
}

const char* basename_of(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}
}  // namespace

void mmtk_model_printk(const char* format, ...) {
  char buffer[512];
  va_list args;
  va_start(args, format);
  const int n = std::vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  if (n > 0) log_append(std::string_view(buffer, std::min<size_t>(static_cast<size_t>(n), sizeof buffer - 1)));
}

void mmtk_model_mt_dump(const maple_tree* mt, mt_dump_format format) {
  log_append(mmt::maple::mt_dump_string(mt, format));
}

void mmtk_model_mas_dump(const ma_state* mas) {
  log_append(fmt::format(
      "MA_STATE: tree {} index {:#x} last {:#x} node {} min {:#x} max {:#x} status {} depth {} "
      "offset {} end {} allocated {}\n",
      static_cast<const void*>(mas->tree), mas->index, mas->last, static_cast<const void*>(mas->node), mas->min,
      mas->max, static_cast<int>(mas->status), mas->depth, mas->offset, mas->end, mas->alloc_count));
}

void mmtk_model_bug(const char* file, int line, const char* func, const char* what) {
  mmt::raise_failure("kernel.bug", func, fmt::format("{} at {}:{}", what, basename_of(file), line));
}

// A kernel test module allocates from the kernel's slab: GFP_NOWAIT requests succeed
// while memory lasts (the harness allocator's default, which fails them unless
// mt_set_non_kernel() granted a budget, is the userspace suite's).
void maple_tree_init(void) { mmt::maple::default_test_allocator().set_nowait_succeeds(true); }

std::string mmtk_model_take_log() {
  std::string text;
  text.swap(model_log);
  return text;
}
