// ChoiceSource family: recording, replay (including divergence and exhaustion) and the
// fuzz-byte encoding round trip.
#include <gtest/gtest.h>

#include "mmtorture/core/choice.h"

namespace mmt {
namespace {
constexpr Site kSiteA{"site_a"};
constexpr Site kSiteB{"site_b"};
}  // namespace

TEST(Choice, TrivialBoundsAreNotRecorded) {
  SeededChoices choices(1);
  EXPECT_EQ(choices.draw(ChoiceKind::Op, kSiteA, 1), 0u);
  EXPECT_EQ(choices.draw(ChoiceKind::Op, kSiteA, 0), 0u);
  EXPECT_EQ(choices.draws(), 0u);
}

TEST(Choice, SeededRecordsEveryDrawAndReplayReproducesIt) {
  SeededChoices seeded(12345);
  std::vector<uint64_t> values;
  for (uint64_t bound = 2; bound < 200; ++bound)
    values.push_back(seeded.draw(bound % 2 ? ChoiceKind::Arg : ChoiceKind::Op, kSiteA, bound));
  for (int i = 0; i < 50; ++i) values.push_back(seeded.flip(ChoiceKind::AllocFail, kSiteB, 0.3));
  ASSERT_EQ(seeded.draws(), values.size());

  ReplayChoices replay(seeded.recorded());
  size_t i = 0;
  for (uint64_t bound = 2; bound < 200; ++bound)
    EXPECT_EQ(replay.draw(bound % 2 ? ChoiceKind::Arg : ChoiceKind::Op, kSiteA, bound), values[i++]);
  for (int k = 0; k < 50; ++k) EXPECT_EQ(replay.flip(ChoiceKind::AllocFail, kSiteB, 0.3), values[i++] != 0);
  EXPECT_FALSE(replay.divergence().has_value());
  EXPECT_TRUE(replay.exhausted());
  // Exhausted: the simplest choice from now on.
  EXPECT_EQ(replay.draw(ChoiceKind::Op, kSiteA, 100), 0u);
  EXPECT_FALSE(replay.flip(ChoiceKind::AllocFail, kSiteA, 1.0));
}

TEST(Choice, ReplayReportsTheFirstDivergenceAndContinues) {
  std::vector<Choice> script = {{ChoiceKind::Op, kSiteA, 10, 7}, {ChoiceKind::Arg, kSiteA, 10, 9}};
  ReplayChoices replay(script);
  EXPECT_EQ(replay.draw(ChoiceKind::Op, kSiteA, 10), 7u);
  // Label differs and the value no longer fits: best effort gives 0.
  EXPECT_EQ(replay.draw(ChoiceKind::Pick, kSiteB, 5), 0u);
  ASSERT_TRUE(replay.divergence().has_value());
  EXPECT_EQ(replay.divergence()->index, 1u);
  EXPECT_EQ(replay.divergence()->describe(),
            "replay diverged at choice #1: expected arg@site_a, got pick@site_b");
}

TEST(Choice, SiteEqualityIsByName) {
  std::string owned = "site_a";
  EXPECT_TRUE(Site(owned.c_str()) == kSiteA);
  EXPECT_FALSE(Site("other") == kSiteA);
}

TEST(Choice, FuzzBytesRoundTrip) {
  SeededChoices seeded(777);
  for (uint64_t bound : {2ull, 255ull, 256ull, 257ull, 70000ull, 1ull << 40, ~0ull})
    for (int i = 0; i < 5; ++i) seeded.draw(ChoiceKind::Arg, kSiteA, bound);
  const auto bytes = choices_to_fuzz_bytes(seeded.recorded());
  FuzzChoices fuzz(bytes.data(), bytes.size());
  for (const Choice& c : seeded.recorded()) EXPECT_EQ(fuzz.draw(c.kind, c.site, c.bound), c.value);
  EXPECT_TRUE(fuzz.exhausted());
  EXPECT_EQ(fuzz.draw(ChoiceKind::Arg, kSiteA, 1000), 0u);
}

TEST(Choice, KindNamesRoundTrip) {
  for (int k = 0; k < kChoiceKindCount; ++k) {
    const auto kind = static_cast<ChoiceKind>(k);
    EXPECT_EQ(choice_kind_from_name(choice_kind_name(kind)), kind);
  }
  EXPECT_FALSE(choice_kind_from_name("nonsense").has_value());
}

TEST(Choice, FirstDifferenceNamesWhereTwoRunsParted) {
  constexpr Site kA{"test.a"}, kB{"test.b"};
  const std::vector<Choice> run{{ChoiceKind::Op, kA, 4, 1}, {ChoiceKind::Op, kA, 4, 2}, {ChoiceKind::Op, kB, 8, 3}};
  EXPECT_EQ(first_difference(run, run), std::nullopt);
  std::vector<Choice> other = run;
  other[1].value = 3;
  EXPECT_EQ(first_difference(run, other), 1u) << "a value";
  other = run;
  other[2].bound = 9;
  EXPECT_EQ(first_difference(run, other), 2u) << "a bound";
  other = run;
  other[0].site = kB;
  EXPECT_EQ(first_difference(run, other), 0u) << "a site";
  other = run;
  other.pop_back();
  EXPECT_EQ(first_difference(run, other), 2u) << "where the shorter ends";
  EXPECT_EQ(first_difference(other, run), 2u) << "either way round";
}

}  // namespace mmt
