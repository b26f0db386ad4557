// Page-cache pages under reclaim: they are on the LRU, reclaim unmaps them through their
// file's i_mmap (under i_mmap_rwsem for read), writes back what a shared mapping dirtied
// and drops them from the cache; a later fault reads them in again. Writers of i_mmap
// and of a file VMA's range hold i_mmap_rwsem for write, so a walk never sees a VMA move.
#include <cerrno>
#include <vector>

#include "file_test_util.h"
#include "mmtorture/core/defects.h"
#include "mmtorture/sched/sched.h"

namespace mmt::vma::testing {

namespace {
void expect_caches_valid(World& w) {
  auto failure = validate_file_caches(w.context);
  EXPECT_FALSE(failure.has_value()) << failure->check << ": " << failure->message << "\n" << failure->dump;
}

// Which pages are present (P) or not (.).
std::string residency(Mm& mm, unsigned long pages) {
  std::string out;
  for (unsigned long i = 0; i < pages; ++i) out += mm.ptes.count(page_at(i) >> kPageShift) ? 'P' : '.';
  return out;
}
}  // namespace

TEST(VmaFileReclaim, CleanPagesAreUnmappedDroppedAndReadInAgain) {
  mem::MemConfig config = small_memory();
  config.swap_pages = 0;  // no swap: reclaim keeps anonymous pages
  World w(1, config);
  Mm a(w.context), b(w.context);
  // Two processes map file pages 0..3, one shared, one private (read-only mappings of
  // the cache page until written).
  ASSERT_EQ(map(a, plain(w), 0, 4, 0), static_cast<long>(page_at(0)));
  ASSERT_EQ(map(b, plain(w), 0, 4, 0, kPrivateFixed), static_cast<long>(page_at(0)));
  for (unsigned long i = 0; i < 4; ++i) {
    ASSERT_EQ(handle_mm_fault(a, page_at(i), false), 0);
    ASSERT_EQ(handle_mm_fault(b, page_at(i), false), 0);
  }
  // Page 3 of b is written: b's pte maps an anonymous copy, the cache page stays.
  ASSERT_EQ(handle_mm_fault(b, page_at(3), true), 0);
  mem::Page* copy = b.ptes.at(page_at(3) >> kPageShift).page;
  ASSERT_TRUE(copy->test(mem::PG_anon));
  ASSERT_EQ(plain(w)->cache.size(), 4u);
  for (const auto& [index, page] : plain(w)->cache) {
    EXPECT_TRUE(page->test(mem::PG_lru)) << "cache page " << index << " is not on the LRU";
    EXPECT_EQ(page->mapcount, index == 3 ? 1 : 2);
  }
  expect_caches_valid(w);
  const uint64_t free_before = free_frames(w.memory);
  // Reclaim everything it can: the four cache pages go (their ptes first), the copy
  // stays (no swap device).
  EXPECT_EQ(w.memory.shrink_lru(64, Site{"test_reclaim"}), 4u);
  EXPECT_EQ(w.memory.stats().file_dropped, 4u);
  EXPECT_EQ(w.memory.stats().file_writebacks, 0u);
  EXPECT_EQ(free_frames(w.memory), free_before + 4);
  EXPECT_TRUE(plain(w)->cache.empty());
  EXPECT_EQ(plain(w)->dropped, 4u);
  EXPECT_EQ(residency(a, 4), "....");
  EXPECT_EQ(residency(b, 4), "...P");
  EXPECT_EQ(b.ptes.at(page_at(3) >> kPageShift).page, copy);
  EXPECT_EQ(a.rss, 0u);
  EXPECT_EQ(b.rss, 1u);
  expect_consistent(w.context, {&a, &b});
  expect_caches_valid(w);
  // A later access reads the page in again: a fresh cache page, both mappings share it.
  ASSERT_EQ(handle_mm_fault(a, page_at(1), false), 0);
  ASSERT_EQ(handle_mm_fault(b, page_at(1), false), 0);
  ASSERT_EQ(plain(w)->cache.size(), 1u);
  mem::Page* again = plain(w)->cache.at(1);
  EXPECT_EQ(a.ptes.at(page_at(1) >> kPageShift).page, again);
  EXPECT_EQ(b.ptes.at(page_at(1) >> kPageShift).page, again);
  EXPECT_EQ(again->mapcount, 2);
  EXPECT_TRUE(again->test(mem::PG_lru));
  expect_consistent(w.context, {&a, &b});
  expect_caches_valid(w);
  exit_mmap(a);
  exit_mmap(b);
}

TEST(VmaFileReclaim, ADirtyPageIsWrittenBackBeforeItIsDropped) {
  World w;
  Mm mm(w.context);
  ASSERT_EQ(map(mm, shm(w), 0, 2, 0), static_cast<long>(page_at(0)));
  ASSERT_EQ(handle_mm_fault(mm, page_at(0), true), 0);   // shared write: dirty
  ASSERT_EQ(handle_mm_fault(mm, page_at(1), false), 0);  // read, then a write-protect fault
  mem::Page* read = shm(w)->cache.at(1);
  EXPECT_FALSE(read->test(mem::PG_dirty));
  EXPECT_FALSE(mm.ptes.at(page_at(1) >> kPageShift).writable);
  ASSERT_EQ(handle_mm_fault(mm, page_at(1), true), 0);
  EXPECT_TRUE(read->test(mem::PG_dirty)) << "wp_page_shared must dirty the page before mapping it writable";
  EXPECT_TRUE(shm(w)->cache.at(0)->test(mem::PG_dirty));
  expect_consistent(w.context, {&mm});
  EXPECT_EQ(w.memory.shrink_lru(64, Site{"test_reclaim"}), 2u);
  EXPECT_EQ(w.memory.stats().file_writebacks, 2u);
  EXPECT_EQ(w.memory.stats().file_dropped, 2u);
  EXPECT_TRUE(shm(w)->cache.empty());
  expect_consistent(w.context, {&mm});
  exit_mmap(mm);
}

TEST(VmaFileReclaim, APageSomeoneHoldsIsKept) {
  World w;
  Mm mm(w.context);
  ASSERT_EQ(map(mm, plain(w), 0, 2, 0), static_cast<long>(page_at(0)));
  ASSERT_EQ(handle_mm_fault(mm, page_at(0), false), 0);
  ASSERT_EQ(handle_mm_fault(mm, page_at(1), false), 0);
  // A lookup in flight (filemap_get_page's reference, its pte not yet made): the freeze
  // fails, the page is neither unmapped nor dropped.
  mem::Page* held = plain(w)->cache.at(0);
  w.memory.get_page(held);
  EXPECT_EQ(w.memory.shrink_lru(64, Site{"test_reclaim"}), 1u);
  EXPECT_EQ(plain(w)->cache.size(), 1u);
  EXPECT_EQ(plain(w)->cache.at(0), held);
  EXPECT_EQ(residency(mm, 2), "P.");
  EXPECT_TRUE(held->test(mem::PG_lru));
  expect_caches_valid(w);
  w.memory.put_page(held);
  EXPECT_EQ(w.memory.shrink_lru(64, Site{"test_reclaim"}), 1u);
  EXPECT_TRUE(plain(w)->cache.empty());
  expect_consistent(w.context, {&mm});
  exit_mmap(mm);
}

TEST(VmaFileReclaim, ChecksNameACachePageOffTheLruAndAPteOfADroppedPage) {
  World w;
  Mm mm(w.context);
  ASSERT_EQ(map(mm, plain(w), 0, 2, 0, kPrivateFixed), static_cast<long>(page_at(0)));
  ASSERT_EQ(handle_mm_fault(mm, page_at(0), false), 0);
  ASSERT_EQ(handle_mm_fault(mm, page_at(1), false), 0);
  expect_caches_valid(w);
  mem::Page* page = plain(w)->cache.at(1);
  // Off the LRU without reclaim's isolation.
  w.memory.lru_del(page);
  auto failure = validate_file_caches(w.context);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->check, "vma.file_cache");
  EXPECT_NE(failure->message.find("neither isolated nor on the LRU"), std::string::npos) << failure->message;
  w.memory.lru_add(page);
  expect_caches_valid(w);
  // Dropped from the cache while a pte still maps it (what an i_mmap walk that missed a
  // VMA would leave): validate_mm names the pte, validate_file_caches the frame.
  plain(w)->cache.erase(1);
  failure = validate_file_caches(w.context);
  ASSERT_TRUE(failure.has_value());
  EXPECT_NE(failure->message.find("which its cache does not hold"), std::string::npos) << failure->message;
  page->mapping = nullptr;
  failure = validate_mm(mm);
  ASSERT_TRUE(failure.has_value());
  EXPECT_NE(failure->message.find("which is no longer in file 2's cache"), std::string::npos) << failure->message;
  page->mapping = plain(w);
  plain(w)->cache.emplace(1, page);
  expect_consistent(w.context, {&mm});
  // A writable pte of a clean page (a write reclaim would lose).
  ASSERT_EQ(map(mm, plain(w), 4, 1, 4), static_cast<long>(page_at(4)));
  ASSERT_EQ(handle_mm_fault(mm, page_at(4), true), 0);
  mem::Page* written = plain(w)->cache.at(4);
  written->clear(mem::PG_dirty);
  failure = validate_mm(mm);
  ASSERT_TRUE(failure.has_value());
  EXPECT_NE(failure->message.find("which is not dirty"), std::string::npos) << failure->message;
  written->set(mem::PG_dirty);
  expect_consistent(w.context, {&mm});
  exit_mmap(mm);
}

// The canary wp-page-shared-skips-dirty: the write-protect fault maps the page writable
// and leaves it clean. validate_mm names the pte; without the check, reclaim would drop
// the written page with no writeback.
TEST(VmaFileReclaim, CanaryWpPageSharedSkipsDirtyLosesTheWrite) {
  DefectScope defect({Defect::WpPageSharedSkipsDirty});
  World w;
  Mm mm(w.context);
  ASSERT_EQ(map(mm, plain(w), 0, 1, 0), static_cast<long>(page_at(0)));
  ASSERT_EQ(handle_mm_fault(mm, page_at(0), false), 0);
  ASSERT_EQ(handle_mm_fault(mm, page_at(0), true), 0);
  EXPECT_TRUE(mm.ptes.at(page_at(0) >> kPageShift).writable);
  auto failure = validate_mm(mm);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->check, "vma.validate_mm");
  EXPECT_NE(failure->message.find("which is not dirty"), std::string::npos) << failure->message;
  EXPECT_EQ(w.memory.shrink_lru(64, Site{"test_reclaim"}), 1u);
  EXPECT_EQ(w.memory.stats().file_writebacks, 0u) << "the written page went without writeback";
  EXPECT_EQ(w.memory.stats().file_dropped, 1u);
  exit_mmap(mm);
}

// Reclaim walks i_mmap while other threads split, merge, move and unmap the file's VMAs
// and fault its pages: every writer holds i_mmap_rwsem for write, so the walk never
// sees a VMA change (rmap.unstable_vma), and nothing is left inconsistent.
TEST(VmaFileReclaim, ReclaimRacesLayoutChangesOfTheFile) {
  uint64_t dropped = 0, writebacks = 0;
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    World w(seed);
    auto a = std::make_unique<Mm>(w.context);
    auto b = std::make_unique<Mm>(w.context);
    ASSERT_EQ(map(*a, plain(w), 0, 16, 0), static_cast<long>(page_at(0)));
    ASSERT_EQ(map(*b, shm(w), 0, 16, 0, kPrivateFixed), static_cast<long>(page_at(0)));
    SeededChoices choices(seed);
    sched::SchedulerOptions options;
    options.strategy = sched::StrategyConfig::preempt(0.5);
    sched::Scheduler scheduler(choices, options);
    unsigned done = 0;
    scheduler.spawn("faults", [&] {
      for (int round = 0; round < 3; ++round)
        for (unsigned long i = 0; i < 16; ++i) {
          handle_mm_fault(*a, page_at(i), i % 3 == 0);
          handle_mm_fault(*b, page_at(i), false);
        }
      ++done;
    });
    scheduler.spawn("layout", [&] {
      for (int round = 0; round < 3; ++round) {
        do_mprotect(*a, page_at(2), 4 * kPageSize, PROT_READ);  // splits
        do_mprotect(*a, page_at(2), 4 * kPageSize, kRW);        // merges back
        do_mremap(*b, page_at(8), 4 * kPageSize, 4 * kPageSize, MREMAP_MAYMOVE | MREMAP_FIXED, page_at(40));
        do_mremap(*b, page_at(40), 4 * kPageSize, 4 * kPageSize, MREMAP_MAYMOVE | MREMAP_FIXED, page_at(8));
        int error = 0;
        auto child = dup_mm(*a, &error);
        if (child) exit_mmap(*child);
      }
      ++done;
    });
    scheduler.spawn("reclaim", [&] {
      while (done < 2) {
        w.memory.shrink_lru(8, Site{"test_reclaim"});
        sched::yield_point(Site{"test_reclaim: between passes"});
      }
    });
    const auto result = scheduler.run();
    ASSERT_TRUE(result.ok()) << "seed " << seed << ": " << result.failure->headline() << "\n" << result.failure->dump;
    expect_consistent(w.context, {a.get(), b.get()});
    expect_caches_valid(w);
    auto files = validate_files(w.context);
    EXPECT_FALSE(files.has_value()) << files->message;
    dropped += w.memory.stats().file_dropped;
    writebacks += w.memory.stats().file_writebacks;
    a.reset();
    b.reset();
  }
  EXPECT_GT(dropped, 0u) << "reclaim never dropped a cache page";
  EXPECT_GT(writebacks, 0u) << "reclaim never wrote a dirty page back";
}

}  // namespace mmt::vma::testing
