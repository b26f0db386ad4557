// KmemCache: objects per page, pages returned when empty, poisoning, live counts and
// misuse, and node pressure as page pressure.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "mem_test_util.h"
#include "mmtorture/mem/slab.h"

// ASan builds check the shadow; others check the poison bytes and the reuse check.
#if defined(__SANITIZE_ADDRESS__)
#define MMT_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MMT_TEST_ASAN 1
#endif
#endif
#if MMT_TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace mmt::mem {
namespace {

using testing::small_config;

std::string check_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const FailureError& error) {
    return error.failure().check;
  }
  return "none";
}

TEST(Slab, SixteenMapleNodesPerPageAndPagesReturnWhenEmpty) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  KmemCache nodes(memory, "maple_node", 256, 256);
  EXPECT_EQ(nodes.objects_per_slab(), 16u);
  const uint64_t free_before = memory.nr_free_pages();
  std::vector<void*> objects;
  for (int i = 0; i < 40; ++i) {
    void* object = nodes.alloc(gfp::kKernel, Site{"mas_alloc_nodes"});
    ASSERT_NE(object, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(object) % 256, 0u);
    objects.push_back(object);
  }
  EXPECT_EQ(nodes.live_objects(), 40u);
  EXPECT_EQ(nodes.slab_pages(), 3u);
  EXPECT_EQ(memory.nr_free_pages(), free_before - 3);
  EXPECT_FALSE(nodes.check_consistency());
  EXPECT_CONSISTENT(memory);
  // Consecutive objects of a fresh slab are consecutive in memory.
  EXPECT_EQ(static_cast<char*>(objects[1]) - static_cast<char*>(objects[0]), 256);
  for (int i = 0; i < 16; ++i) nodes.free(objects[static_cast<size_t>(i)]);  // the whole first slab
  EXPECT_EQ(nodes.slab_pages(), 2u);
  EXPECT_EQ(memory.nr_free_pages(), free_before - 2);
  for (size_t i = 16; i < objects.size(); ++i) nodes.free(objects[i]);
  EXPECT_EQ(nodes.live_objects(), 0u);
  EXPECT_EQ(nodes.slab_pages(), 0u);
  EXPECT_EQ(memory.nr_free_pages(), free_before);
  EXPECT_EQ(nodes.stats().slabs_allocated, 3u);
  EXPECT_EQ(nodes.stats().slabs_freed, 3u);
  EXPECT_CONSISTENT(memory);
}

TEST(Slab, SlabPagesAreUnmovableSlabFramesAndObjectsReuseLifo) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  KmemCache cache(memory, "vm_area_struct", 200, 8);
  EXPECT_EQ(cache.objects_per_slab(), 4096u / 200);
  void* a = cache.alloc(gfp::kKernel | gfp::kMovable, Site{"vm_area_alloc"});
  void* b = cache.alloc(gfp::kKernel, Site{"vm_area_alloc"});
  const Page* page = memory.pfn_to_page(0);
  EXPECT_TRUE(page->test(PG_slab));
  EXPECT_EQ(memory.pageblock_migratetype(page->pfn), MigrateType::Unmovable);
  cache.free(a);
  EXPECT_EQ(cache.alloc(gfp::kKernel, Site{"vm_area_alloc"}), a) << "the last freed object comes back first";
  void* zeroed = cache.alloc(gfp::kKernel | gfp::kZero, Site{"vm_area_alloc"});
  EXPECT_EQ(static_cast<unsigned char*>(zeroed)[0], 0);
  EXPECT_EQ(static_cast<unsigned char*>(zeroed)[199], 0);
  cache.free(a);
  cache.free(b);
  cache.free(zeroed);
  EXPECT_EQ(cache.live_objects(), 0u);
}

TEST(Slab, FreedObjectsArePoisoned) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  KmemCache nodes(memory, "maple_node", 256, 256);
  void* keep = nodes.alloc(gfp::kKernel, Site{"a"});
  auto* object = static_cast<unsigned char*>(nodes.alloc(gfp::kKernel, Site{"a"}));
  std::memset(object, 0x11, 256);
  nodes.free(object);
#if MMT_TEST_ASAN
  EXPECT_TRUE(__asan_address_is_poisoned(object));
  EXPECT_TRUE(__asan_address_is_poisoned(object + 255));
  EXPECT_FALSE(__asan_address_is_poisoned(static_cast<unsigned char*>(keep)));
#else
  for (int i = 0; i < 256; ++i) ASSERT_EQ(object[i], kPoisonFree) << "byte " << i;
  // A write after free is caught when the object is handed out again.
  object[17] = 0;
  EXPECT_EQ(check_of([&] { nodes.alloc(gfp::kKernel, Site{"reuse"}); }), "slab.poison");
#endif
  nodes.free(keep);
}

TEST(Slab, DoubleAndForeignFreesAreFailures) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  KmemCache nodes(memory, "maple_node", 256, 256);
  KmemCache other(memory, "other", 256, 256);
  void* a = nodes.alloc(gfp::kKernel, Site{"a"});
  void* b = nodes.alloc(gfp::kKernel, Site{"a"});
  nodes.free(a);
  EXPECT_EQ(check_of([&] { nodes.free(a); }), "slab.double_free");
  EXPECT_EQ(check_of([&] { nodes.free(static_cast<char*>(b) + 8); }), "slab.bad_free");
  EXPECT_EQ(check_of([&] { other.free(b); }), "slab.bad_free");
  int on_stack = 0;
  EXPECT_EQ(check_of([&] { nodes.free(&on_stack); }), "slab.bad_free");
  nodes.free(b);
  EXPECT_EQ(nodes.live_objects(), 0u);
  EXPECT_FALSE(nodes.check_consistency());
}

// A second free of an object whose slab went back to the page allocator (its last
// object was freed) is still a double free naming the cache and the object, and
// is_live/describe_object name such an object without reading it.
TEST(Slab, DoubleFreeAfterTheSlabWasReturnedIsNamed) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  KmemCache vmas(memory, "vm_area_struct", 200, 8);
  void* a = vmas.alloc(gfp::kKernel, Site{"a"});
  EXPECT_TRUE(vmas.is_live(a));
  vmas.free(a);
  EXPECT_EQ(vmas.slab_pages(), 0u);
  EXPECT_FALSE(vmas.is_live(a));
  EXPECT_NE(vmas.describe_object(a).find("freed object 0 of returned slab pfn"), std::string::npos)
      << vmas.describe_object(a);
  try {
    vmas.free(a);
    FAIL() << "the second free was accepted";
  } catch (const FailureError& e) {
    EXPECT_EQ(e.failure().check, "slab.double_free");
    EXPECT_NE(e.failure().message.find("cache 'vm_area_struct': object 0 of slab pfn"), std::string::npos)
        << e.failure().message;
  }
  // check_free names it the same way without freeing anything.
  void* b = vmas.alloc(gfp::kKernel, Site{"b"});
  void* c = vmas.alloc(gfp::kKernel, Site{"c"});
  vmas.free(c);
  EXPECT_EQ(check_of([&] { vmas.check_free(c, "vm_area_free"); }), "slab.double_free");
  EXPECT_NE(vmas.describe_object(c).find("freed object"), std::string::npos);
  vmas.check_free(b, "vm_area_free");
  EXPECT_EQ(vmas.live_objects(), 1u);
  vmas.free(b);
}

// An object is found from its address by a multiplication, not a division: for every
// stride a cache can have, each object's start is one of its objects and every other
// 8-byte step inside the slab is not.
TEST(Slab, EveryStrideFindsItsObjectsAndNothingBetweenThem) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  for (size_t size = 8; size <= kPageSize; size += 8) {
    KmemCache cache(memory, "stride", size, 8);
    std::vector<unsigned char*> objects;
    for (size_t i = 0; i < cache.objects_per_slab(); ++i)
      objects.push_back(static_cast<unsigned char*>(cache.alloc(gfp::kKernel, Site{"fill"})));
    ASSERT_EQ(cache.slab_pages(), 1u) << "size " << size;
    for (unsigned char* object : objects) {
      ASSERT_TRUE(cache.is_live(object)) << "size " << size;
      for (size_t step = 8; step < size; step += 8)
        ASSERT_FALSE(cache.is_live(object + step)) << "size " << size << " step " << step;
    }
    for (unsigned char* object : objects) cache.free(object);
  }
}

// A frame one cache returned and another reuses: the first cache's old pointer is a
// freed object of a returned slab there (a second free is a double free), not one of
// the new owner's objects, and the new owner's object is live.
TEST(Slab, AFrameReusedByAnotherCacheIsNotTheFirstCachesAnyMore) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  KmemCache first(memory, "first", 64, 8);
  KmemCache second(memory, "second", 64, 8);
  void* old = first.alloc(gfp::kKernel, Site{"a"});
  const uint64_t pfn = first.slab_pfns().at(0);
  first.free(old);
  void* reused = second.alloc(gfp::kKernel, Site{"b"});
  ASSERT_EQ(second.slab_pfns().at(0), pfn) << "the page allocator handed the frame straight back";
  EXPECT_FALSE(first.is_live(old));
  EXPECT_TRUE(second.is_live(reused));
  EXPECT_FALSE(second.is_live(old)) << "another cache's chunk is not this cache's";
  EXPECT_EQ(check_of([&] { first.free(old); }), "slab.double_free");
  // The first cache takes the frame back later: its new object there is live again.
  second.free(reused);
  void* again = first.alloc(gfp::kKernel, Site{"c"});
  EXPECT_EQ(first.slab_pfns().at(0), pfn);
  EXPECT_TRUE(first.is_live(again));
  first.free(again);
  EXPECT_FALSE(first.check_consistency());
  EXPECT_FALSE(second.check_consistency());
}

// A destroyed cache leaves its chunks for the next caches on the OS thread (slab.cpp);
// a cache given one must not see the dead cache's frames: no frame retired (a free
// there is a wild pointer, not a double free) and no object count of the other size.
TEST(Slab, AChunkADeadCacheLeftServesTheNextCacheAsANewOne) {
  constexpr uintptr_t kTwoMib = uintptr_t{1} << 21;
  uintptr_t dead_chunk = 0;
  const void* on_third_frame = nullptr;
  uint64_t third_pfn = 0;
  {
    SeededChoices choices(1);
    Memory memory(small_config(), choices);
    KmemCache dead(memory, "dead", 64, 8);  // 64 objects per slab
    std::vector<void*> objects;
    for (int i = 0; i < 192; ++i) objects.push_back(dead.alloc(gfp::kKernel, Site{"a"}));
    ASSERT_EQ(dead.slab_pages(), 3u);
    third_pfn = dead.slab_pfns().at(2);
    for (void* object : objects) dead.free(object);  // every frame retired
    EXPECT_EQ(dead.describe_object(objects[128]),
              "freed object 0 of returned slab pfn " + std::to_string(third_pfn) + " of cache 'dead'");
    dead_chunk = reinterpret_cast<uintptr_t>(objects[0]) & ~(kTwoMib - 1);
    on_third_frame = objects[128];
  }
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  KmemCache next(memory, "next", 192, 8);  // 21 objects per slab
  std::vector<void*> objects;
  for (int i = 0; i < 21; ++i) objects.push_back(next.alloc(gfp::kKernel, Site{"b"}));
#if !MMT_SANITIZED
  // (Sanitizer builds keep no chunk, so that ASan reports a dead cache's object.)
  ASSERT_EQ(reinterpret_cast<uintptr_t>(objects[0]) & ~(kTwoMib - 1), dead_chunk) << "the chunk was not reused";
#else
  (void)dead_chunk;
#endif
  EXPECT_EQ(next.slab_pages(), 1u);
  EXPECT_FALSE(next.check_consistency()) << next.check_consistency()->message;
  objects.push_back(next.alloc(gfp::kKernel, Site{"b"}));
  EXPECT_EQ(next.slab_pages(), 2u) << "the first slab holds 21 objects, not the dead cache's 64";
  for (uint64_t pfn : next.slab_pfns()) ASSERT_NE(pfn, third_pfn);
  EXPECT_EQ(next.describe_object(on_third_frame), "a pointer that is not one of cache 'next''s objects");
  for (void* object : objects) next.free(object);
  EXPECT_FALSE(next.check_consistency());
}

// An object's host address modulo 2 MiB is a function of its frame and index: two
// caches that see the same requests place their objects alike, so a pointer the code
// under test corrupts in its low bits (a kernel bug clearing a byte of a node pointer)
// names the same object on every run. A returned slab page keeps its place.
TEST(Slab, ObjectAddressesModuloTwoMibAreAFunctionOfFrameAndIndex) {
  constexpr uintptr_t kTwoMib = uintptr_t{1} << 21;
  // Two worlds alive at once (host heap addresses of one cannot be the other's).
  struct World {
    SeededChoices choices{1};
    Memory memory{small_config(), choices};
    KmemCache nodes{memory, "maple_node", 256, 256};
    std::vector<void*> objects;
  } one, two;
  for (World* w : {&one, &two}) {
    for (int i = 0; i < 32; ++i) w->objects.push_back(w->nodes.alloc(gfp::kKernel, Site{"a"}));
    const uint64_t first_pfn = w->nodes.slab_pfns().front();
    for (int i = 0; i < 16; ++i) w->nodes.free(w->objects[static_cast<size_t>(i)]);  // the first slab goes back
    EXPECT_EQ(w->nodes.describe_object(w->objects[0]),
              "freed object 0 of returned slab pfn " + std::to_string(first_pfn) + " of cache 'maple_node'");
    void* again = w->nodes.alloc(gfp::kKernel, Site{"b"});  // a new slab on the frame just returned
    EXPECT_EQ(w->nodes.slab_pfns().back(), first_pfn);
    EXPECT_EQ(again, w->objects[0]);  // at the frame's place
    w->objects[0] = again;
  }
  for (size_t i = 0; i < one.objects.size(); ++i)
    EXPECT_EQ(reinterpret_cast<uintptr_t>(one.objects[i]) % kTwoMib,
              reinterpret_cast<uintptr_t>(two.objects[i]) % kTwoMib)
        << "object " << i;
  for (World* w : {&one, &two}) {
    w->nodes.free(w->objects[0]);
    for (size_t i = 16; i < w->objects.size(); ++i) w->nodes.free(w->objects[i]);
    EXPECT_EQ(w->nodes.live_objects(), 0u);
  }
}

TEST(Slab, BadGeometryIsRejectedNamingTheField) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  auto field_of = [&](size_t size, size_t align) {
    try {
      KmemCache cache(memory, "bad", size, align);
    } catch (const ConfigError& error) {
      return error.key;
    }
    return std::string("accepted");
  };
  EXPECT_EQ(field_of(0, 8), "object_size");
  EXPECT_EQ(field_of(5000, 8), "object_size");
  EXPECT_EQ(field_of(64, 24), "align");
  EXPECT_EQ(field_of(64, 8192), "align");
  EXPECT_EQ(field_of(4096, 4096), "accepted");
}

TEST(Slab, NodeAllocationFailsWhenPagesRunOut) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  KmemCache nodes(memory, "maple_node", 256, 256);
  std::vector<Page*> held = testing::fill_to(memory, memory.min_pages());
  std::vector<void*> objects;
  // Non-sleeping node allocations fail as soon as a new slab page would cross min.
  while (void* object = nodes.alloc(gfp::kNowait, Site{"mas_alloc_nodes"})) objects.push_back(object);
  EXPECT_TRUE(objects.empty());
  EXPECT_EQ(nodes.stats().alloc_failures, 1u);
  EXPECT_EQ(memory.stats().nowait_failures, 1u);
  for (Page* page : held) memory.free_pages(page, 0);
  EXPECT_NE(nodes.alloc(gfp::kNowait, Site{"mas_alloc_nodes"}), nullptr);
  EXPECT_EQ(nodes.live_objects(), 1u);
}

// kmem_cache_alloc_bulk: one fault-plan request for the whole batch, all or none.
TEST(Slab, BulkAllocationAsksThePlanOnceAndIsAllOrNone) {
  SeededChoices choices(1);
  FaultPlan plan;
  Memory memory(small_config(), choices, &plan);
  KmemCache nodes(memory, "maple_node", 256, 256);
  void* objects[40] = {};
  EXPECT_EQ(nodes.alloc_bulk(gfp::kNowait, 40, objects, Site{"bulk"}), 40u);
  EXPECT_EQ(nodes.live_objects(), 40u);
  EXPECT_EQ(plan.stats().requests, 1u);
  for (void* object : objects) nodes.free(object);
  plan.set_fail_nth(1);
  EXPECT_EQ(nodes.alloc_bulk(gfp::kNowait, 40, objects, Site{"bulk"}), 0u);
  EXPECT_EQ(plan.stats().requests, 2u);
  EXPECT_EQ(nodes.live_objects(), 0u);
  // A batch that runs out of pages part-way frees what it took.
  std::vector<Page*> held = testing::fill_to(memory, memory.min_pages() + 1);
  EXPECT_EQ(nodes.alloc_bulk(gfp::kNowait, 40, objects, Site{"bulk"}), 0u);
  EXPECT_EQ(nodes.live_objects(), 0u);
  for (Page* page : held) memory.free_pages(page, 0);
  EXPECT_CONSISTENT(memory);
}

TEST(Slab, DestroyingACacheReturnsItsPages) {
  SeededChoices choices(1);
  Memory memory(small_config(), choices);
  {
    KmemCache nodes(memory, "maple_node", 256, 256);
    for (int i = 0; i < 20; ++i) nodes.alloc(gfp::kKernel, Site{"leak"});
    EXPECT_EQ(memory.nr_free_pages(), memory.nr_pages() - 2);
  }
  EXPECT_EQ(memory.nr_free_pages(), memory.nr_pages());
  EXPECT_CONSISTENT(memory);
}

}  // namespace
}  // namespace mmt::mem
