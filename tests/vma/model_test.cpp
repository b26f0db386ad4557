// The VMA manager against the page-granular model (vma/page_model.h), seeded: clean
// runs must match the model exactly; runs with injected allocation failures must stay
// consistent and leave the pages of every failed operation as they were.
#include <gtest/gtest.h>

#include "mmtorture/vma/page_model.h"

namespace mmt::vma {

TEST(VmaModel, RandomOperationsMatchThePageModel) {
  PageModelOptions options;
  options.ops = 1500;
  options.inject_failures = false;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    SeededChoices choices(seed);
    const PageModelResult result = run_page_model(choices, options);
    ASSERT_FALSE(result.failure.has_value()) << "seed " << seed << ": " << result.failure->headline() << "\n"
                                             << result.failure->dump;
    EXPECT_EQ(result.ops_done, options.ops);
    EXPECT_EQ(result.enomem, 0u);
  }
}

TEST(VmaModel, InjectedAllocationFailuresLeaveTheMmConsistent) {
  PageModelOptions options;
  options.ops = 1500;
  uint64_t enomem = 0;
  for (uint64_t seed = 100; seed <= 105; ++seed) {
    SeededChoices choices(seed);
    const PageModelResult result = run_page_model(choices, options);
    ASSERT_FALSE(result.failure.has_value()) << "seed " << seed << ": " << result.failure->headline() << "\n"
                                             << result.failure->dump;
    enomem += result.enomem;
  }
  EXPECT_GT(enomem, 100u) << "failure injection did not bite";
}

// File mappings among the rest (shared and private, both kinds of file): each page's
// file and file offset must match the model too, through merges, splits, mremap and
// fork, with and without failures injected.
TEST(VmaModel, FileMappingsMatchThePageModel) {
  PageModelOptions options;
  options.ops = 1500;
  options.file_mappings = true;
  uint64_t enomem = 0;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    options.inject_failures = seed > 4;
    SeededChoices choices(seed);
    const PageModelResult result = run_page_model(choices, options);
    ASSERT_FALSE(result.failure.has_value()) << "seed " << seed << ": " << result.failure->headline() << "\n"
                                             << result.failure->dump;
    EXPECT_EQ(result.ops_done, options.ops);
    enomem += result.enomem;
  }
  EXPECT_GT(enomem, 50u) << "failure injection did not bite";
}

TEST(VmaModel, ExhaustedChoicesEndTheRun) {
  // What fuzz_vma relies on: a short byte string is a short, valid run.
  const uint8_t bytes[] = {0, 3, 2, 0, 1, 4, 0, 0, 2, 7, 1, 1};
  FuzzChoices choices(bytes, sizeof bytes);
  PageModelOptions options;
  options.stop_when_exhausted = true;
  const PageModelResult result = run_page_model(choices, options);
  EXPECT_FALSE(result.failure.has_value());
  EXPECT_LT(result.ops_done, 10u);
}

}  // namespace mmt::vma
