// The maple job's lock-free RCU readers: what a reader may see (ReadWindows), and the
// job itself — clean and deterministic on the model, readers interleaving inside the
// writer's stores through the RCU access points.
#include <gtest/gtest.h>

#include "mmtorture/jobs/maple_stress.h"
#include "mmtorture/jobs/rcu_read_window.h"
#include "mmtorture/maple/interval_model.h"
#include "mmtorture/maple/maple_tree.h"

namespace mmt::jobs {

namespace {

// The interval model the job itself keeps, holding `ranges` (spans_over reads its map).
maple::IntervalModel<unsigned long> model_of(std::initializer_list<maple::IntervalModel<unsigned long>::Range> ranges) {
  maple::IntervalModel<unsigned long> model;
  for (const auto& r : ranges) model.store(r.index, r.last, r.value);
  return model;
}

MapleStressOptions reader_options() {
  MapleStressOptions options;  // configs/maple-rcu.toml
  options.ops = 2000;
  options.rcu = true;
  options.prefill = 256;
  options.readers = 3;
  options.rcu_access_points = true;
  options.strategy = sched::StrategyConfig::uniform();
  return options;
}

}  // namespace

TEST(ReadWindows, ModelSpansDescribeEveryIndexOfTheRange) {
  const auto model = model_of({{10, 19, 7}, {30, 39, 8}}).map();
  const auto spans = spans_over(model, 15, 35);
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[0].first, 10u);  // the entry reaching into the range, whole
  EXPECT_EQ(spans[0].value, 7u);
  EXPECT_EQ(spans[1].first, 20u);  // the gap, as value 0
  EXPECT_EQ(spans[1].last, 29u);
  EXPECT_EQ(spans[1].value, 0u);
  EXPECT_EQ(spans[2].value, 8u);
  const auto tail = spans_over(model, 40, ULONG_MAX);
  ASSERT_EQ(tail.size(), 1u);
  EXPECT_EQ(tail[0].last, ULONG_MAX);
  EXPECT_EQ(tail[0].value, 0u);
}

TEST(ReadWindows, AReadMaySeeTheOldValueOrAnyStoreMadeDuringIt) {
  const auto model = model_of({{10, 19, 7}}).map();
  ReadWindows windows(2);
  windows.open(0, 12, 12, spans_over(model, 12, 12));
  windows.announce(12, 15, 9);  // a store during the read
  EXPECT_TRUE(windows.close(0, 12, 7));
  windows.open(0, 12, 12, spans_over(model, 12, 12));
  windows.announce(11, 13, 0);  // an erase during the read
  EXPECT_TRUE(windows.close(0, 12, 9)) << "the store still in flight when this read began";
  windows.write_done();
  windows.open(0, 12, 12, spans_over(model, 12, 12));
  EXPECT_TRUE(windows.close(0, 12, 7));
}

TEST(ReadWindows, AReadNeverSeesWhatWasNotThereWhileItRan) {
  const auto model = model_of({{10, 19, 7}}).map();
  ReadWindows windows(2);
  windows.open(1, 12, 12, spans_over(model, 12, 12));
  windows.announce(30, 40, 9);  // a store elsewhere
  EXPECT_FALSE(windows.close(1, 12, 9));
  windows.write_done();
  windows.open(1, 12, 12, spans_over(model, 12, 12));
  EXPECT_FALSE(windows.close(1, 12, 0)) << "index 12 was never empty";
  windows.announce(12, 12, 5);  // a store after the read ended
  windows.write_done();
  windows.open(1, 12, 12, spans_over(model, 12, 12));
  EXPECT_FALSE(windows.close(1, 12, 5)) << "a store finished before the read began is not in the model given";
  EXPECT_FALSE(windows.close(0, 12, 7)) << "a reader that never opened sees nothing";
}

// Both model bugs the readers found when they were added fail these seeds within a few
// operations: walks that did not retry on a node that died under them (its pivots then
// hold the rcu_head), and old tree levels marked dead before the new root was published.
TEST(MapleReaders, CleanDeterministicAndInterleavedWithTheWriter) {
  uint64_t reads = 0, switches = 0;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    SeededChoices a(seed), b(seed);
    const auto first = run_maple_stress(a, reader_options());
    ASSERT_FALSE(first.failure.has_value()) << "seed " << seed << ": " << first.failure->headline() << "\n"
                                            << first.failure->dump;
    EXPECT_EQ(first.ops_done, 2000u);
    const auto second = run_maple_stress(b, reader_options());
    EXPECT_EQ(first.trace_hash, second.trace_hash) << "seed " << seed;
    reads += first.reads;
    switches += first.switches;
    ReplayChoices replay(a.recorded());
    EXPECT_EQ(run_maple_stress(replay, reader_options()).trace_hash, first.trace_hash) << "seed " << seed;
    EXPECT_FALSE(replay.divergence().has_value());
  }
  EXPECT_GT(reads, 50'000u);
  EXPECT_GT(switches, 100'000u);
  EXPECT_FALSE(mt_rcu_access_points()) << "the run switches the access points off when it ends";
}

TEST(MapleReaders, ReadersNeedAnRcuTree) {
  auto options = reader_options();
  options.rcu = false;
  SeededChoices choices(1);
  EXPECT_THROW(run_maple_stress(choices, options), std::logic_error);
}

}  // namespace mmt::jobs
