// Bitmap (see bitmap.h): word-at-a-time set/clear/weight and the kernel's aligned
// zero-area search.
#include "mmtorture/cma/bitmap.h"

#include <bit>

namespace mmt::cma {

void Bitmap::set(uint64_t start, uint64_t nr) {
  for (uint64_t bit = start; bit < start + nr; ++bit) words_[bit / 64] |= uint64_t{1} << (bit % 64);
}

void Bitmap::clear(uint64_t start, uint64_t nr) {
  for (uint64_t bit = start; bit < start + nr; ++bit) words_[bit / 64] &= ~(uint64_t{1} << (bit % 64));
}

uint64_t Bitmap::weight() const {
  uint64_t total = 0;
  for (uint64_t word : words_) total += static_cast<uint64_t>(std::popcount(word));
  return total;
}

uint64_t Bitmap::find_next_bit(uint64_t end, uint64_t start) const {
  if (end > bits_) end = bits_;
  for (uint64_t bit = start; bit < end;) {
    const uint64_t word = words_[bit / 64] >> (bit % 64);
    if (word) {
      const uint64_t found = bit + static_cast<uint64_t>(std::countr_zero(word));
      return found < end ? found : end;
    }
    bit = (bit / 64 + 1) * 64;
  }
  return end;
}

uint64_t Bitmap::find_next_zero_bit(uint64_t end, uint64_t start) const {
  if (end > bits_) end = bits_;
  for (uint64_t bit = start; bit < end;) {
    const uint64_t word = ~words_[bit / 64] >> (bit % 64);
    if (word) {
      const uint64_t found = bit + static_cast<uint64_t>(std::countr_zero(word));
      return found < end ? found : end;
    }
    bit = (bit / 64 + 1) * 64;
  }
  return end;
}

// lib/bitmap.c:
//   again: index = find_next_zero_bit(map, size, start);
//          index = __ALIGN_MASK(index + align_offset, align_mask) - align_offset;
//          end = index + nr; if (end > size) return end;
//          i = find_next_bit(map, end, index); if (i < end) { start = i + 1; goto again; }
//          return index;
uint64_t Bitmap::find_next_zero_area_off(uint64_t start, uint64_t nr, uint64_t align_mask,
                                         uint64_t align_offset) const {
  for (;;) {
    uint64_t index = find_next_zero_bit(bits_, start);
    index = ((index + align_offset + align_mask) & ~align_mask) - align_offset;
    const uint64_t end = index + nr;
    if (end > bits_ || end < index) return bits_;
    const uint64_t busy = find_next_bit(end, index);
    if (busy >= end) return index;
    start = busy + 1;
  }
}

std::string Bitmap::picture(unsigned width) const {
  std::string out;
  for (uint64_t bit = 0; bit < bits_; ++bit) {
    if (bit && width && bit % width == 0) out += '\n';
    out += test(bit) ? '#' : '.';
  }
  return out;
}

}  // namespace mmt::cma
