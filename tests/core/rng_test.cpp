// The RNG and trace hash are part of the determinism contract: their outputs are
// pinned here so a change that alters every recorded seed cannot slip in unnoticed.
#include <gtest/gtest.h>

#include "mmtorture/core/rng.h"
#include "mmtorture/core/trace_hash.h"

namespace mmt {

TEST(Rng, SplitMix64MatchesReferenceVector) {
  // Reference values of SplitMix64 seeded with 1234567 (from the published algorithm).
  SplitMix64 sm(1234567);
  EXPECT_EQ(sm.next(), 6457827717110365317ULL);
  EXPECT_EQ(sm.next(), 3203168211198807973ULL);
  EXPECT_EQ(sm.next(), 9817491932198370423ULL);
}

TEST(Rng, BelowStaysInBoundAndCoversIt) {
  Rng rng(42);
  int seen[7] = {};
  for (int i = 0; i < 7000; ++i) {
    const uint64_t v = rng.below(7);
    ASSERT_LT(v, 7u);
    ++seen[v];
  }
  for (int count : seen) EXPECT_GT(count, 800);
}

TEST(Rng, ChanceHonoursTheEdges) {
  Rng rng(7);
  int hits = 0;
  for (int i = 0; i < 10000; ++i) {
    EXPECT_FALSE(rng.chance(0.0));
    EXPECT_TRUE(rng.chance(1.0));
    hits += rng.chance(0.25);
  }
  EXPECT_NEAR(hits, 2500, 200);
}

TEST(Rng, SameSeedSameStream) {
  Rng a(99), b(99), c(100);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.next();
    EXPECT_EQ(x, b.next());
    differs |= x != c.next();
  }
  EXPECT_TRUE(differs);
}

TEST(TraceHash, OrderAndArgumentsMatter) {
  TraceHash a, b, c;
  a.fold(TraceEvent::OpStart, 1, 2);
  a.fold(TraceEvent::OpEnd, 3);
  b.fold(TraceEvent::OpStart, 1, 2);
  b.fold(TraceEvent::OpEnd, 3);
  c.fold(TraceEvent::OpEnd, 3);
  c.fold(TraceEvent::OpStart, 1, 2);
  EXPECT_EQ(a.value(), b.value());
  EXPECT_NE(a.value(), c.value());
  EXPECT_EQ(a.events(), 2u);
}

TEST(TraceHash, PinnedValue) {
  // Pinned: if this changes, every trace hash in every saved repro changes with it.
  TraceHash h;
  h.fold(TraceEvent::Switch, 1, 2, 3);
  h.fold_string(TraceEvent::Custom, "mas_store_prealloc");
  EXPECT_EQ(h.value(), 0x1602d65af7d99e57ULL);
}

}  // namespace mmt
