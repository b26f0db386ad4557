// The CMA area bitmap: one bit per 2^order_per_bit pages, set while the chunk is
// reserved by a cma_alloc (in flight or handed out). The search is the kernel's
// bitmap_find_next_zero_area_off() (lib/bitmap.c), which cma_alloc uses to find an
// aligned run of clear bits; kept separate so its alignment arithmetic is tested on
// its own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mmt::cma {

class Bitmap {
 public:
  explicit Bitmap(uint64_t bits = 0) : bits_(bits), words_((bits + 63) / 64, 0) {}

  uint64_t size() const { return bits_; }
  bool test(uint64_t bit) const { return (words_[bit / 64] >> (bit % 64)) & 1; }
  // bitmap_set / bitmap_clear of [start, start + nr); the range must lie inside.
  void set(uint64_t start, uint64_t nr);
  void clear(uint64_t start, uint64_t nr);
  // Set bits (bitmap_weight).
  uint64_t weight() const;
  // First set (clear) bit in [start, end), or end.
  uint64_t find_next_bit(uint64_t end, uint64_t start) const;
  uint64_t find_next_zero_bit(uint64_t end, uint64_t start) const;

  // bitmap_find_next_zero_area_off: the first index >= start of a run of `nr` clear
  // bits such that (index + align_offset) is a multiple of align_mask + 1 (align_mask
  // is 2^k - 1). Returns a value > size() - nr (at least size() when nr fits nowhere)
  // when no such run exists; callers test `index >= size()` after checking the run,
  // as cma_alloc does, so this returns size() exactly in that case.
  uint64_t find_next_zero_area_off(uint64_t start, uint64_t nr, uint64_t align_mask, uint64_t align_offset) const;

  // One character per bit ('#' set, '.' clear), for failure dumps; long maps are
  // folded to `width` characters per line.
  std::string picture(unsigned width = 64) const;

 private:
  uint64_t bits_;
  std::vector<uint64_t> words_;
};

}  // namespace mmt::cma
