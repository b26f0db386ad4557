// CMA area declaration: a good area turns its pageblocks MIGRATE_CMA and lends its
// free pages to movable allocations only; each kind of bad definition is rejected with
// a ConfigError naming the field.
#include <string>

#include "cma_test_util.h"
#include "mmtorture/mem/config.h"

namespace mmt::cma::testing {
namespace {

std::string rejected_field(World& world, const CmaAreaConfig& config) {
  try {
    world.cma.cma_declare_area(config);
  } catch (const mmt::ConfigError& e) {
    return e.key;
  }
  return "accepted";
}

TEST(CmaArea, DeclaredAreaIsCmaPageblocksAndAllFree) {
  World world;
  for (uint64_t pfn = 0; pfn < 2048; pfn += mem::kPageblockPages)
    EXPECT_EQ(world.memory.pageblock_migratetype(pfn), pfn >= kCmaBase ? mem::MigrateType::Cma : mem::MigrateType::Movable);
  EXPECT_EQ(world.memory.nr_free_pages(mem::MigrateType::Cma), kCmaPages);
  EXPECT_EQ(world.area->available_count, kCmaPages);
  EXPECT_EQ(world.area->bitmap_maxno(), kCmaPages);
  world.expect_consistent();
}

TEST(CmaArea, MovableBorrowsCmaUnmovableNever) {
  World world;
  mem::Page* movable = world.memory.alloc_pages(gfp::kKernel | gfp::kMovable, 0, Site{"test"});
  ASSERT_NE(movable, nullptr);
  EXPECT_TRUE(world.area->contains(movable->pfn)) << "CMA is most of the free memory: movable requests use it first";
  mem::Page* unmovable = world.memory.alloc_pages(gfp::kKernel, 0, Site{"test"});
  ASSERT_NE(unmovable, nullptr);
  EXPECT_FALSE(world.area->contains(unmovable->pfn));
  world.memory.free_pages(movable, 0);
  world.memory.free_pages(unmovable, 0);
  world.expect_consistent();
}

TEST(CmaArea, BadDefinitionsNameTheField) {
  World world;  // "test" covers [512, 2048)
  EXPECT_EQ(rejected_field(world, {"", 0, 512, 0}), "name");
  EXPECT_EQ(rejected_field(world, {"test", 0, 512, 0}), "name");
  EXPECT_EQ(rejected_field(world, {"a", 0, 0, 0}), "count");
  EXPECT_EQ(rejected_field(world, {"a", 0, 100, 0}), "count");
  EXPECT_EQ(rejected_field(world, {"a", 256, 512, 0}), "base_pfn");
  EXPECT_EQ(rejected_field(world, {"a", 1536, 1024, 0}), "count") << "runs past the end of memory";
  EXPECT_EQ(rejected_field(world, {"a", 4096, 512, 0}), "count") << "starts past the end of memory";
  EXPECT_EQ(rejected_field(world, {"a", 1024, 512, 0}), "base_pfn") << "overlaps 'test'";
  EXPECT_EQ(rejected_field(world, {"a", 0, 512, 11}), "order_per_bit");
  EXPECT_EQ(rejected_field(world, {"a", 0, 512, 10}), "order_per_bit") << "512 pages are not whole 1024-page bits";
  EXPECT_EQ(world.cma.areas().size(), 1u) << "nothing rejected was added";
  world.expect_consistent();
}

TEST(CmaArea, AreaOverAllocatedFramesIsRejected) {
  SeededChoices choices(1);
  mem::Memory memory(world_memory(), choices);
  vma::VmContext context(memory);
  Cma cma(memory, context);
  mem::Page* page = memory.alloc_pages(gfp::kKernel, 0, Site{"test"});  // pfn 0
  ASSERT_NE(page, nullptr);
  try {
    cma.cma_declare_area({"boot", 0, 512, 0});
    ADD_FAILURE() << "declared over an allocated frame";
  } catch (const mmt::ConfigError& e) {
    EXPECT_EQ(e.key, "base_pfn");
    EXPECT_NE(std::string(e.what()).find("pfn 0"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(cma.cma_declare_area({"late", 512, 512, 1}));
  memory.free_pages(page, 0);
}

}  // namespace
}  // namespace mmt::cma::testing
