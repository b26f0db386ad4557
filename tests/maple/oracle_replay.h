// The oracle streams' replay on the model (tests/maple/oracle/README.md's format):
// reading a recording, one input run through the kernel API facade, its result lines.
// Used by oracle_test.cpp and by the kernel backend's oracle_version_test.cpp.
#pragma once

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>
#include <vector>

#include <fmt/format.h>

#include "mmtorture/maple/kernel_api.h"

namespace mmt::maple::oracle {

inline std::vector<std::string> read_gz_lines(const std::string& path) {
  std::vector<std::string> lines;
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) return lines;
  char buffer[512];
  while (gzgets(file, buffer, sizeof buffer)) {
    std::string line(buffer);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    lines.push_back(line);
  }
  gzclose(file);
  return lines;
}

inline std::string line_of(const char* name, long ret, unsigned long a, unsigned long b, const void* e) {
  return fmt::format("{} {} {:x} {:x} {:x}", name, ret, a, b, reinterpret_cast<unsigned long>(e));
}

// Runs one recorded input and returns the result lines the kernel format prints.
inline std::vector<std::string> run_model_op(maple_tree* t, int op, unsigned long idx, unsigned long last,
                                             unsigned long len, unsigned long val) {
  void* value = reinterpret_cast<void*>(val);
  std::vector<std::string> out;
  switch (op) {
    case 0:
    case 1: {
      const int ret = mtree_store_range(t, idx, last, value, GFP_KERNEL);
      out.push_back(line_of("store", ret, idx, last, value));
      break;
    }
    case 2: {
      const int ret = mtree_insert_range(t, idx, last, val ? value : xa_mk_value(1), GFP_KERNEL);
      out.push_back(line_of("insert", ret, idx, last, nullptr));
      break;
    }
    case 3: {
      void* e = mtree_erase(t, idx);
      out.push_back(line_of("erase", 0, idx, 0, e));
      break;
    }
    case 4: {
      rcu_read_lock();
      void* e = mtree_load(t, idx);
      rcu_read_unlock();
      out.push_back(line_of("load", 0, idx, 0, e));
      break;
    }
    case 5: {
      rcu_read_lock();
      MA_STATE(mas, t, idx, idx);
      void* e = mas_walk(&mas);
      rcu_read_unlock();
      out.push_back(line_of("walk", 0, mas.index, mas.last, e));
      break;
    }
    case 6:
    case 7: {
      rcu_read_lock();
      MA_STATE(mas, t, idx, idx);
      void* e = op == 6 ? mas_find(&mas, ULONG_MAX) : mas_find_rev(&mas, 0);
      out.push_back(line_of(op == 6 ? "find" : "find_rev", 0, e ? mas.index : 0, e ? mas.last : 0, e));
      if (e) {
        void* e2 = op == 6 ? mas_next(&mas, ULONG_MAX) : mas_prev(&mas, 0);
        out.push_back(line_of(op == 6 ? "next" : "prev", 0, e2 ? mas.index : 0, e2 ? mas.last : 0, e2));
      }
      rcu_read_unlock();
      break;
    }
    case 8:
    case 9: {
      MA_STATE(mas, t, 0, 0);
      const unsigned long lo = idx > 100000 ? idx - 100000 : 0;
      const int ret = op == 8 ? mas_empty_area(&mas, lo, last, len + 1) : mas_empty_area_rev(&mas, lo, last, len + 1);
      out.push_back(line_of(op == 8 ? "empty" : "empty_rev", ret, ret ? 0 : mas.index, ret ? 0 : mas.last, nullptr));
      break;
    }
    case 10: {
      unsigned long start = 0;
      const int ret = mtree_alloc_range(t, &start, xa_mk_value(7), len + 1, idx, ULONG_MAX, GFP_KERNEL);
      out.push_back(line_of("alloc", ret, ret ? 0 : start, 0, nullptr));
      break;
    }
    case 11: {
      MA_STATE(mas, t, 0, 0);
      void* e;
      unsigned long n = 0, h = 0;
      rcu_read_lock();
      mas_for_each(&mas, e, ULONG_MAX) {
        ++n;
        h = h * 31 + mas.index * 7 + mas.last + reinterpret_cast<unsigned long>(e);
      }
      rcu_read_unlock();
      out.push_back(fmt::format("scan {} {:x} 0 0", n, h));
      break;
    }
    default: ADD_FAILURE() << "unknown op " << op;
  }
  return out;
}

}  // namespace mmt::maple::oracle
