// The CMA bitmap and its search: bitmap_find_next_zero_area_off with alignment masks
// and offsets, drawn as pictures ('#' set, '.' clear), and the cma_alloc arithmetic
// that feeds it (mask from align and order_per_bit, offset from the base pfn).
#include <gtest/gtest.h>

#include "mmtorture/cma/bitmap.h"

namespace mmt::cma {
namespace {

Bitmap from_picture(const std::string& picture) {
  Bitmap bitmap(picture.size());
  for (size_t i = 0; i < picture.size(); ++i)
    if (picture[i] == '#') bitmap.set(i, 1);
  return bitmap;
}

TEST(CmaBitmap, SetClearWeightPicture) {
  Bitmap bitmap(130);
  bitmap.set(62, 5);  // across a word boundary
  EXPECT_EQ(bitmap.weight(), 5u);
  EXPECT_TRUE(bitmap.test(63));
  EXPECT_TRUE(bitmap.test(64));
  EXPECT_FALSE(bitmap.test(67));
  bitmap.clear(63, 2);
  EXPECT_EQ(bitmap.weight(), 3u);
  EXPECT_EQ(bitmap.find_next_bit(130, 0), 62u);
  EXPECT_EQ(bitmap.find_next_bit(130, 63), 65u);
  EXPECT_EQ(bitmap.find_next_zero_bit(130, 62), 63u);
  EXPECT_EQ(from_picture("..##.#").picture(), "..##.#");
}

TEST(CmaBitmap, FirstFitWithoutAlignment) {
  EXPECT_EQ(from_picture("........").find_next_zero_area_off(0, 3, 0, 0), 0u);
  EXPECT_EQ(from_picture("##.#....").find_next_zero_area_off(0, 3, 0, 0), 4u);
  EXPECT_EQ(from_picture("##.#..#.").find_next_zero_area_off(0, 2, 0, 0), 4u);
  // start skips earlier room.
  EXPECT_EQ(from_picture("........").find_next_zero_area_off(5, 3, 0, 0), 5u);
  // No room: returns size().
  EXPECT_EQ(from_picture("##.#..#.").find_next_zero_area_off(0, 3, 0, 0), 8u);
  EXPECT_EQ(from_picture("........").find_next_zero_area_off(6, 3, 0, 0), 8u);
  EXPECT_EQ(from_picture("....").find_next_zero_area_off(0, 5, 0, 0), 4u);
}

TEST(CmaBitmap, AlignmentMaskSkipsToAlignedIndex) {
  // mask 3: candidates at 0, 4, 8, 12.
  EXPECT_EQ(from_picture("#...............").find_next_zero_area_off(0, 2, 3, 0), 4u);
  EXPECT_EQ(from_picture("....#...........").find_next_zero_area_off(0, 4, 3, 0), 0u);
  EXPECT_EQ(from_picture("...#............").find_next_zero_area_off(0, 4, 3, 0), 4u);
  EXPECT_EQ(from_picture("......#.........").find_next_zero_area_off(0, 4, 3, 0), 0u);
  EXPECT_EQ(from_picture("#.....#.........").find_next_zero_area_off(0, 4, 3, 0), 8u);
  // The run fits at index 1 but 1 is not aligned.
  EXPECT_EQ(from_picture("#....###").find_next_zero_area_off(0, 4, 3, 0), 8u);
  // The kernel's retry step: start = bitmap_no + mask + 1.
  EXPECT_EQ(from_picture("................").find_next_zero_area_off(0 + 3 + 1, 4, 3, 0), 4u);
}

TEST(CmaBitmap, AlignmentOffsetShiftsTheGrid) {
  // offset 2, mask 3: (index + 2) % 4 == 0 -> candidates 2, 6, 10, 14.
  EXPECT_EQ(from_picture("................").find_next_zero_area_off(0, 2, 3, 2), 2u);
  EXPECT_EQ(from_picture("..#.............").find_next_zero_area_off(0, 2, 3, 2), 6u);
  EXPECT_EQ(from_picture("...........#....").find_next_zero_area_off(7, 4, 3, 2), 16u);  // 10 is blocked by 11, 14 runs past the end
  // offset 1, mask 1: odd indices.
  EXPECT_EQ(from_picture("........").find_next_zero_area_off(0, 1, 1, 1), 1u);
  EXPECT_EQ(from_picture(".#......").find_next_zero_area_off(0, 1, 1, 1), 3u);
}

}  // namespace
}  // namespace mmt::cma
